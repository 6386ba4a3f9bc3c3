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
  /** --add-host entries ("name:address") for RUN steps' /etc/hosts. */
  extraHosts?: string[];
  /** Network for RUN steps, chosen by the person building: "default" (the engine's default), "none", "host", "bridge" (the API passes its caller's networkmode as is). */
  network?: string;
  /**
   * Entitlements the person building grants the Containerfile, as BuildKit's:
   * "network.host" lets `RUN --network=host` use the host's network. Without
   * it such a Containerfile is refused before any step runs.
   */
  allow?: readonly Entitlement[];
  /** Progress and RUN output; nothing is written when omitted. */
  output?: Writable;
  /** RUN's stderr between the ANSI red that dockerd's classic builder puts around it (\x1b[91m…\x1b[0m); for API clients, which show the stream as it is. */
  markStderr?: boolean;
  /** Only the final id and warnings are printed (RUN output is still collected for errors). */
  quiet?: boolean;
  /** Called with the final image's id before the "Successfully built" lines (where dockerd's API sends its aux message). */
  onImage?: (id: string) => void;
  /** Aborting cancels the build: the running step's container is removed, nothing is tagged. */
  signal?: AbortSignal;
}

/** What a Containerfile may only do when the person building allows it. */
export const ENTITLEMENTS = ["network.host"] as const;
export type Entitlement = (typeof ENTITLEMENTS)[number];

/** "network.host" (also comma-separated lists, as buildx takes them) checked against ENTITLEMENTS; throws naming the unknown one. */
export function parseEntitlements(values: readonly string[]): Entitlement[] {
  const out: Entitlement[] = [];
  for (const v of values.flatMap((x) => x.split(",")).map((x) => x.trim())) {
    if (!(ENTITLEMENTS as readonly string[]).includes(v)) throw new Error(`unknown entitlement ${JSON.stringify(v)} (known: ${ENTITLEMENTS.join(", ")})`);
    if (!out.includes(v as Entitlement)) out.push(v as Entitlement);
  }
  return out;
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
