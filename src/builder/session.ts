// One build's shared state and the helpers every step uses: its output, its
// temp dirs and scratch mounts (released whatever happens), the step cache,
// variable expansion, and finding the images and stages a step reads from.
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import type { BuildOptions, BuildResult } from "../types/build.ts";
import type { EngineApi } from "../types/engine-api.ts";
import type { ImageConfig } from "../types/records.ts";
import { errorMessage } from "../util/errors.ts";
import { BuildCache } from "./cache.ts";
import type { SourceTree } from "./copy.ts";
import { atLine, BuildError } from "./errors.ts";
import { IgnoreMatcher } from "./ignore.ts";
import type { Instruction, ParsedFile, Stage } from "./parse.ts";
import { ScratchRootfs } from "./rootfs.ts";
import { envLookup, expandWord, expandWords, type Lookup } from "./words.ts";
import { shortId } from "../util/ids.ts";

/** Build args every build knows without an ARG (not recorded in history). */
export const PROXY_ARGS = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"];
/** Automatic platform args (declare with ARG to use them). */
export const PLATFORM_ARGS: Record<string, string> = {
  TARGETPLATFORM: "linux/amd64",
  TARGETOS: "linux",
  TARGETARCH: "amd64",
  TARGETVARIANT: "",
  BUILDPLATFORM: "linux/amd64",
  BUILDOS: "linux",
  BUILDARCH: "amd64",
  BUILDVARIANT: "",
};
export const DEFAULT_SHELL = ["/bin/sh", "-c"];

export interface StageState {
  imageId: string | null;
  config: ImageConfig;
  /** Declared ARGs in scope, with their values (undefined: declared without one). */
  args: Map<string, string | undefined>;
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
}

export class BuildSession {
  readonly out: Writable;
  readonly cache: BuildCache;
  private readonly temps: string[] = [];
  private readonly mounts: ScratchRootfs[] = [];
  contextDir = "";
  ignore = IgnoreMatcher.none();
  file!: ParsedFile;
  readonly buildArgs: Map<string, string>;
  readonly usedArgs = new Set<string>();
  metaArgs = new Map<string, string | undefined>();
  readonly stageImages = new Map<number, string | null>();
  step = 0;
  totalSteps = 0;
  readonly result: BuildResult = { id: "", tags: [], cached: [], executed: [], warnings: [] };
  /** The RUN step's container, removed at once when the build is canceled. */
  currentContainer: string | undefined;
  private readonly onAbort = (): void => {
    const id = this.currentContainer;
    if (id) void this.engine.containers.remove(id, { force: true, volumes: true }).catch(() => undefined);
  };

  constructor(
    readonly engine: EngineApi,
    readonly opts: BuildOptions,
  ) {
    this.out = opts.output && !opts.quiet ? opts.output : new Writable({ write: (_c, _e, cb) => cb() });
    this.cache = new BuildCache(path.join(engine.paths.root, "build-cache"));
    this.buildArgs = new Map(Object.entries(opts.buildArgs ?? {}));
  }

  say(line: string): void {
    this.out.write(line + "\n");
  }

  checkAborted(): void {
    if (this.opts.signal?.aborted) throw new BuildError("build canceled", "system");
  }

  /** Errors of one line of the Containerfile. */
  errAt(line: number): (m: string) => BuildError {
    return (m) => atLine(this.file.file, line, m);
  }

  tmpDir(label: string): string {
    fs.mkdirSync(this.engine.paths.tmp, { recursive: true, mode: 0o700 });
    const d = fs.mkdtempSync(path.join(this.engine.paths.tmp, `build-${process.pid}-${label}-`));
    this.temps.push(d);
    return d;
  }

  /** A scratch overlay of imageId's layers, released by cleanup() at the latest. */
  mount(imageId: string | null): ScratchRootfs {
    const rootfs = ScratchRootfs.mount(this.engine.images, this.engine.paths.tmp, imageId);
    this.mounts.push(rootfs);
    return rootfs;
  }

  release(rootfs: ScratchRootfs): void {
    rootfs.release();
    this.mounts.splice(this.mounts.indexOf(rootfs), 1);
  }

  watchAbort(): void {
    this.opts.signal?.addEventListener("abort", this.onAbort);
  }

  cleanup(): void {
    this.opts.signal?.removeEventListener("abort", this.onAbort);
    for (const m of this.mounts.splice(0)) {
      try {
        m.release();
      } catch {
        /* best effort: the next release or `system reset` retries */
      }
    }
    for (const d of this.temps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }

  /** The image a step made before with this key (unless --no-cache, or the image is gone). */
  lookupCache(key: string): string | undefined {
    if (this.opts.noCache) return undefined;
    const hit = this.cache.get(key, (id) => this.engine.images.tryResolve(id) !== undefined);
    if (hit) this.result.cached.push(this.step);
    return hit;
  }

  /** Variables for expansion: ENV wins over ARG. */
  lookup(state: StageState): Lookup {
    const env = envLookup(state.config.Env);
    return (n) => env(n) ?? state.args.get(n) ?? undefined;
  }

  expandAll(state: StageState, ins: Instruction, s: string): string[] {
    try {
      return expandWords(s, this.lookup(state), this.file.escape);
    } catch (e) {
      throw atLine(this.file.file, ins.line, errorMessage(e));
    }
  }

  expandOne(state: StageState, ins: Instruction, s: string): string {
    try {
      return expandWord(s, this.lookup(state), this.file.escape);
    } catch (e) {
      throw atLine(this.file.file, ins.line, errorMessage(e));
    }
  }

  /** The stage an image reference names (by name, or index), if any, seen from stage `before`. */
  stageRef(ref: string, before: number): Stage | undefined {
    const byName = this.file.stages.find((s) => s.name === ref.toLowerCase() && s.index < before);
    if (byName) return byName;
    if (/^\d+$/.test(ref)) {
      const i = Number(ref);
      if (i < before) return this.file.stages[i];
    }
    return undefined;
  }

  /** An image named in FROM or --from: the local one, else (or with --pull) pulled. */
  async baseImage(ref: string, line: number): Promise<string> {
    const local = this.opts.pull ? undefined : this.engine.images.tryResolve(ref);
    if (local) return local.id;
    this.say(`Pulling ${ref} ...`);
    try {
      return (await this.engine.images.pull(ref)).id;
    } catch (e) {
      throw atLine(this.file.file, line, `FROM ${ref}: ${errorMessage(e)}`);
    }
  }

  /** A read-only view of a stage's (or any image's) file system for COPY --from and RUN --mount from. */
  async stageTree(ref: string, state: StageState, ins: Instruction): Promise<SourceTree & { imageId: string | null }> {
    const name = this.expandOne(state, ins, ref);
    const stage = this.stageRef(name, Number.MAX_SAFE_INTEGER);
    let imageId: string | null;
    if (stage) {
      if (!this.stageImages.has(stage.index)) throw atLine(this.file.file, ins.line, `stage "${name}" is not built before this step`);
      imageId = this.stageImages.get(stage.index) ?? null;
    } else {
      if (/^\d+$/.test(name)) throw atLine(this.file.file, ins.line, `invalid from flag value ${name}: no stage with index ${name}`);
      imageId = await this.baseImage(name, ins.line).catch(() => {
        throw atLine(this.file.file, ins.line, `invalid from flag value ${name}: no stage or image named ${name}`);
      });
    }
    const view = this.mount(imageId);
    return { dir: view.root, ignore: IgnoreMatcher.none(), context: false, imageId };
  }
}

/** An image ID as the build output prints it. */
export function short(id: string | null): string {
  return shortId(id ?? "");
}

/** Runs fn, turning its error into one of this line (unless it already names a line). */
export function wrap<T>(err: (m: string) => BuildError, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BuildError && /^\S+:\d+: /.test(e.message)) throw e;
    throw err(errorMessage(e));
  }
}
