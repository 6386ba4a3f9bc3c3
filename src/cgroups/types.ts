// One interface over cgroup v1 (a hierarchy per controller) and v2 (one
// unified tree), after youki's libcgroups: the engine reads stats, pids and
// OOM kills through it and removes what the runtime left behind. Creating
// cgroups and writing limits is the OCI runtime's job (runc's cgroupfs driver,
// from config.json's linux.resources and linux.cgroupsPath).
import type { ContainerStats } from "../types/views.ts";

export type CgroupVersion = 1 | 2;

/** The parts of docker's stats JSON that come from the container's cgroup. */
export type CgroupStats = Pick<ContainerStats, "memory_stats" | "cpu_stats" | "pids_stats" | "blkio_stats">;

export interface CgroupManager {
  readonly version: CgroupVersion;
  /** Stats for the cgroup at `cgroupsPath` (as in config.json: absolute, from the hierarchy root). Missing files leave fields out. */
  readStats(cgroupsPath: string): CgroupStats;
  /** Every process in the cgroup and its descendants, ascending. Empty when the cgroup does not exist. */
  listPids(cgroupsPath: string): number[];
  /** How many processes the kernel's OOM killer has killed in this cgroup (0 when unknown or gone). */
  oomKillCount(cgroupsPath: string): number;
  /** Removes the cgroup and any child cgroups, leaves first, in every hierarchy; a missing cgroup is fine. */
  cleanup(cgroupsPath: string): void;
  /** The directories that make up this cgroup (one per v1 hierarchy; one on v2). */
  dirs(cgroupsPath: string): string[];
}
