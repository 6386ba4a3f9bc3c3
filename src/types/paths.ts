// Where capsa keeps things. Persistent state (database, blobs, layers,
// container writable layers, volumes) lives under the state root; runtime state
// that a reboot should clear (runtime state dirs, attach sockets, exit files)
// lives under the run root.
import path from "node:path";

export interface Paths {
  root: string;
  runRoot: string;
  db: string;
  blobs: string;
  layers: string;
  containers: string;
  volumes: string;
  tmp: string;
  /** --root for the OCI runtime, so separate state roots never see each other's containers. */
  runtimeRoot: string;
  /** Exit files written by the monitor, one per container id. */
  exits: string;
  sockets: string;
  /** Root file system images for VMs, one per image layer chain (the guest's read-only base). */
  vmDisks: string;
  /** The event journal (events.ts). */
  events: string;
}

export function resolvePaths(opts: { root?: string; runRoot?: string } = {}): Paths {
  const root = path.resolve(opts.root ?? process.env.CAPSA_ROOT ?? "/var/lib/capsa");
  // A custom state root gets its own run root beside it unless one is given,
  // so test roots stay fully separate from the system one.
  const runRoot = path.resolve(
    opts.runRoot ?? process.env.CAPSA_RUNROOT ?? (opts.root ?? process.env.CAPSA_ROOT ? path.join(root, "run") : "/run/capsa"),
  );
  return {
    root,
    runRoot,
    db: path.join(root, "capsa.db"),
    blobs: path.join(root, "blobs", "sha256"),
    layers: path.join(root, "layers"),
    containers: path.join(root, "containers"),
    volumes: path.join(root, "volumes"),
    tmp: path.join(root, "tmp"),
    runtimeRoot: path.join(runRoot, "runtime"),
    exits: path.join(runRoot, "exits"),
    sockets: path.join(runRoot, "sockets"),
    vmDisks: path.join(root, "vm", "disks"),
    events: path.join(runRoot, "events"),
  };
}
