// The cgroups module's entry points: which version the host runs, where a
// state root's containers live in the tree, and the manager for the host.
import { createHash } from "node:crypto";
import fs from "node:fs";
import type { Paths } from "../types/paths.ts";
import type { CgroupManager, CgroupVersion } from "./types.ts";
import { CgroupV1 } from "./v1/manager.ts";
import { fakeV1Mounts } from "./v1/mounts.ts";
import { CgroupV2 } from "./v2/manager.ts";

export type { CgroupLimits, CgroupManager, CgroupStats, CgroupVersion } from "./types.ts";
export { onlineCpus, systemCpuUsage } from "./proc-stat.ts";

const CGROUP2_SUPER_MAGIC = 0x63677270;

/**
 * 2 when /sys/fs/cgroup is itself a cgroup2 mount (unified); 1 for the legacy
 * and hybrid layouts (tmpfs with a hierarchy per controller, maybe a cgroup2
 * tree at ./unified that holds no controllers).
 */
export function detectCgroupVersion(root = "/sys/fs/cgroup"): CgroupVersion {
  return fs.statfsSync(root).type === CGROUP2_SUPER_MAGIC ? 2 : 1;
}

/** "hybrid" when a v1 host also mounts a cgroup2 tree at /sys/fs/cgroup/unified (crun refuses this layout). */
export function cgroupLayout(root = "/sys/fs/cgroup"): "unified" | "hybrid" | "legacy" {
  if (detectCgroupVersion(root) === 2) return "unified";
  try {
    return fs.statfsSync(`${root}/unified`).type === CGROUP2_SUPER_MAGIC ? "hybrid" : "legacy";
  } catch {
    return "legacy";
  }
}

/**
 * The parent cgroup of a state root's containers: /capsa-<8 hex of the root's
 * path>, so separate roots (tests, users) never share or remove each other's.
 */
export function cgroupParent(paths: Pick<Paths, "root">): string {
  return `/capsa-${createHash("sha256").update(paths.root).digest("hex").slice(0, 8)}`;
}

/** linux.cgroupsPath for a container (runc's cgroupfs driver: a path from the hierarchy root). */
export function containerCgroupsPath(paths: Pick<Paths, "root">, id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw new Error(`invalid container id for a cgroup: ${JSON.stringify(id)}`);
  return `${cgroupParent(paths)}/${id}`;
}

/** containerCgroupsPath for a state root given by its path (the engine's spelling). */
export function cgroupsPathFor(root: string, id: string): string {
  return containerCgroupsPath({ root }, id);
}

/**
 * The manager for this host, or for a fake tree: `root` points at a directory
 * laid out like /sys/fs/cgroup (tests; v1 then expects one directory per controller).
 */
export function cgroupManager(opts: { version?: CgroupVersion; root?: string } = {}): CgroupManager {
  const version = opts.version ?? detectCgroupVersion(opts.root);
  if (version === 2) return new CgroupV2(opts.root);
  return new CgroupV1(opts.root ? fakeV1Mounts(opts.root) : undefined);
}
