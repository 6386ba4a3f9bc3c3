// What an isolation level provides to the engine, behind one interface:
//   container → runc or crun (src/runtime/container-handler.ts)
//   sandbox   → gVisor's runsc (src/isolation/sandbox-handler.ts)
//   vm        → capsa's VM runtime under QEMU (src/vm/host/handler.ts)
// The registry (src/isolation/handlers.ts) finds a level's handler. A handler
// is a small object loaded with the engine; what it does for a level beyond
// the container one it imports when called, so a plain container run never
// loads the sandbox's or the VM's code (the CLI's start-up time).
import type { ContainerRecord, HostConfig } from "../types/records.ts";
import type { Paths } from "../types/paths.ts";
import type { RuntimeSpec } from "./oci.ts";
import type { OciRuntime } from "./runc.ts";

export const ISOLATION_LEVELS = ["container", "sandbox", "vm"] as const;
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

/** A level as `capsa info` reports it: "available (…)" or why not. */
export interface LevelStatus {
  available: boolean;
  detail: string;
}

/** What a level's bundle step may use, given by the engine (nothing of the engine's own state). */
export interface BundleInput {
  paths: Paths;
  container: ContainerRecord;
  /** The bundle directory, its config.json written. */
  bundle: string;
  /** The container's own directory below the state root. */
  containerDir: string;
  /** The directories of the container's image layers, as the overlay stacks them (topmost first). */
  imageLayers: string[];
}

export interface RuntimeHandler {
  readonly level: IsolationLevel;
  /** The runtime's name as inspect shows it. */
  runtimeName(c: ContainerRecord): string;
  /** At create: refuses what this level cannot run, before anything exists. */
  validate?(hostConfig: HostConfig): Promise<void>;
  /** The container's config.json as this level's runtime takes it. */
  adjustSpec?(spec: RuntimeSpec): RuntimeSpec;
  /** At start, between writing the bundle and creating the container under its monitor. */
  prepareBundle?(input: BundleInput): Promise<void>;
  /** The OCI runtime the monitor and the container verbs drive, bound to the runtime state root. */
  runtime(paths: Paths, c: ContainerRecord): Promise<OciRuntime>;
  /** For `capsa info`. `onSlowProbe` is told first when finding out takes long (e.g. a test boot). */
  status(paths: Paths, onSlowProbe?: (what: string) => void): Promise<LevelStatus>;
}
