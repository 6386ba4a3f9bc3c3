// One interface over cgroup v1 (a hierarchy per controller) and v2 (one
// unified tree), after youki's libcgroups: the engine reads stats, pids and
// OOM kills through it and removes what the runtime left behind. Creating
// cgroups and writing the limits a container starts with is the OCI runtime's
// job (runc's cgroupfs driver, from config.json's linux.resources and
// linux.cgroupsPath); changing them on a running container (docker update) is
// done here, as files, the same way for every isolation level.
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
  /** Writes limits into an existing cgroup (docker update on a running container); throws with the kernel's word when one is refused. */
  applyLimits(cgroupsPath: string, limits: CgroupLimits): void;
  /** Whether the kernel has a block I/O weight for this host's cgroups (CFQ/BFQ). */
  hasBlkioWeight(): boolean;
}

/**
 * Limits written into a running container's cgroup (docker update). Only the
 * fields present are written; -1 means unlimited where the kernel has one.
 */
export interface CgroupLimits {
  /** Bytes. */
  memory?: number;
  /** Memory plus swap, in bytes (docker's MemorySwap; v1's memsw). */
  memorySwap?: number;
  /** The soft limit, in bytes. */
  memoryReservation?: number;
  /** v1's cpu.shares (v2: converted to cpu.weight). */
  cpuShares?: number;
  /** Microseconds per period; -1 unlimited. */
  cpuQuota?: number;
  cpuPeriod?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** 0 or -1: unlimited. */
  pidsLimit?: number;
  /** 10 to 1000; written only where the kernel has the weight file (docker warns and drops it elsewhere). */
  blkioWeight?: number;
}
