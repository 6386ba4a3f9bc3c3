// What a build takes and gives back (the engine's build() contract).
import type { Readable, Writable } from "node:stream";

export interface BuildOptions {
  /** A directory as the build context. */
  contextDir?: string;
  /** A tar stream as the build context (plain, gzip or zstd), e.g. stdin. */
  contextTar?: Readable;
  /** Path of the Containerfile/Dockerfile: on the host for a directory context, inside the tar for a tar context. Default: Containerfile, else Dockerfile. */
  dockerfile?: string;
  /** The Containerfile's text itself (`build - < Dockerfile`); the context is then empty. */
  dockerfileText?: string;
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  /** Pull FROM images even when they are present. */
  pull?: boolean;
  /** Labels set on the final image. */
  labels?: Record<string, string>;
  /** Network for RUN steps: "default" (the engine's default), "none", "host", "bridge". */
  network?: string;
  /** Progress and RUN output; nothing is written when omitted. */
  output?: Writable;
  /** Only the final id and warnings are printed (RUN output is still collected for errors). */
  quiet?: boolean;
  /** Aborting cancels the build: the running step's container is removed, nothing is tagged. */
  signal?: AbortSignal;
}

export interface BuildResult {
  /** Image ID (sha256:…). */
  id: string;
  /** Full references tagged. */
  tags: string[];
  /** Steps served from the cache, and steps executed, by step number. */
  cached: number[];
  executed: number[];
  warnings: string[];
}
