// What the harness needs from each engine it compares. One file per engine
// in this folder implements it; scenarios only talk to this interface.
import type { Cmd } from "../lib/proc.ts";

export interface BenchContext {
  /** The bench run's private state directory: every engine's state lives below it. */
  dir: string;
  /** The busybox-static root file system every engine imports as the same image. */
  rootfsTar: string;
  /** Reference the image is imported under, in every engine. */
  image: string;
  log(line: string): void;
}

/** How a run differs from the plain one: its network (default NETWORK), and flags such as --ip or -p. */
export interface RunExtras {
  /** A network name, "none", or DEFAULT_NETWORK: no --network flag, the engine's default bridge. */
  network?: string;
  flags?: string[];
}

export interface SystemInfo {
  version: string;
  /** The OCI runtime the engine chose (runc, crun, …). */
  runtime: string;
  notes?: string[];
}

/** An engine's long-lived processes, for the idle-memory scenario. */
export interface EngineService {
  /** Its long-lived processes; whatever runs below them counts too. */
  roots: number[];
  /** The unix socket its Docker Engine API listens on (DOCKER_HOST=unix://…). */
  socket: string;
  /** Stops what startService started (by pid); nothing for a daemon the system keeps up. */
  stop(): Promise<void>;
}

export interface ContainerSystem {
  readonly name: string;
  /** Undefined when this engine can run here; otherwise why not. */
  check(): string | undefined;
  /** Starts what the engine needs (a daemon), imports the image, proves a run works. */
  setup(ctx: BenchContext): Promise<void>;
  info(): SystemInfo;
  /**
   * A foreground `run --rm IMAGE ...args`, stdout piped to the harness; `image`: another one importImage brought in;
   * `more`: another network than NETWORK, and extra flags (engines with networks only; others ignore it).
   */
  runRm(args: string[], image?: string, more?: RunExtras): Cmd;
  /** Imports a root file system tarball as `ref`, as setup imports ctx.rootfsTar (engines with images only). */
  importImage?(tar: string, ref: string): Promise<void>;
  /**
   * The engine's API service on a private socket (or its daemon, already up),
   * once it has served one `run --rm img true` (engines with an API only).
   */
  startService?(): Promise<EngineService>;
  /** `run -d --name NAME IMAGE ...args`; resolves when the CLI returns. */
  startDetached(name: string, args: string[], more?: RunExtras & { image?: string }): Promise<void>;
  /** `load -i TAR` of a `docker save` archive (engines with images only). */
  load?(tar: string): Cmd;
  /** `save -o OUT REF` as a `docker save` archive. */
  save?(ref: string, out: string): Cmd;
  /** Removes the image and everything only it used (layers, blobs), so the next load or pull does all the work again. */
  removeImage?(ref: string): Promise<void>;
  /** Fetches `ref` from a plain-HTTP registry on loopback into the engine's store. */
  pull?(ref: string): Cmd;
  /** `build -f DIR/Containerfile -t TAG DIR` with RUN steps on `--network none`; `noCache`: ignore the build cache. */
  build?(dir: string, tag: string, o: { noCache: boolean }): Cmd;
  /** Creates a bridge network NAME on SUBNET (removed by removeNetwork, or by cleanup). */
  createNetwork?(name: string, subnet: string): Promise<void>;
  removeNetwork?(name: string): Promise<void>;
  /** Stops at once (SIGKILL, no grace period) and resolves when stopped. */
  stop(name: string): Promise<void>;
  remove(name: string): Promise<void>;
  /** The process that holds a running container for the engine (its monitor or shim). */
  monitorPid(name: string): number | undefined;
  /** Long-running processes the engine needs besides per-container ones (daemons). */
  daemonPids(): number[];
  /** Removes every container it made, stops daemons it started, deletes its state. */
  cleanup(): Promise<void>;
}

/** Networking for every run: none, so that the runc floor does the same work as the engines. */
export const NETWORK = "none";

/** RunExtras.network for the engine's own default network: the run gets no --network flag. */
export const DEFAULT_NETWORK = "(engine default)";

/** The reference every engine imports the busybox image under (BenchContext.image). */
export const BENCH_IMAGE = "capsa-bench/busybox:latest";

/**
 * The container verbs of a system that keeps no containers (a transfer tool,
 * a bare VM boot): nothing to start detached, stop or remove, no monitor, no daemon.
 */
export abstract class NoDetachedContainers {
  protected abstract readonly why: string;
  startDetached(): Promise<void> {
    return Promise.reject(new Error(this.why));
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  remove(): Promise<void> {
    return Promise.resolve();
  }
  monitorPid(): number | undefined {
    return undefined;
  }
  daemonPids(): number[] {
    return [];
  }
}
