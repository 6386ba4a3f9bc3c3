// cgroup v1: one hierarchy per controller (or a few co-mounted ones); a
// container's cgroup is the same relative path in each of them.
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import type { CgroupLimits, CgroupManager, CgroupStats } from "../types.ts";
import { readProcsRecursive, removeCgroupDir } from "../files.ts";
import { onlineCpus, systemCpuUsage } from "../proc-stat.ts";
import { blkioStats } from "./blkio.ts";
import { applyV1Limits } from "./limits.ts";
import { cpuStats } from "./cpu.ts";
import { memoryStats, oomKills } from "./memory.ts";
import { hostV1Mounts, type V1Mounts } from "./mounts.ts";
import { pidsStats } from "./pids.ts";

export class CgroupV1 implements CgroupManager {
  readonly version = 1 as const;
  private readonly mounts: V1Mounts;
  private readonly machineMemory: number;

  constructor(mounts: V1Mounts = hostV1Mounts(), machineMemory = os.totalmem()) {
    this.mounts = mounts;
    this.machineMemory = machineMemory;
  }

  private dir(controller: string, cgroupsPath: string): string | undefined {
    const mount = this.mounts[controller];
    return mount ? path.join(mount, cgroupsPath) : undefined;
  }

  dirs(cgroupsPath: string): string[] {
    return [...new Set(Object.values(this.mounts))].map((m) => path.join(m, cgroupsPath));
  }

  readStats(cgroupsPath: string): CgroupStats {
    const memory = this.dir("memory", cgroupsPath);
    const pids = this.dir("pids", cgroupsPath);
    const blkio = this.dir("blkio", cgroupsPath);
    return {
      memory_stats: memory ? memoryStats(memory, this.machineMemory) : {},
      cpu_stats: { ...cpuStats(this.dir("cpuacct", cgroupsPath), this.dir("cpu", cgroupsPath)), system_cpu_usage: systemCpuUsage(), online_cpus: onlineCpus() },
      pids_stats: pids ? pidsStats(pids) : {},
      blkio_stats: blkio ? blkioStats(blkio) : { io_service_bytes_recursive: null },
    };
  }

  listPids(cgroupsPath: string): number[] {
    for (const c of ["pids", "memory", "freezer", "cpu", "name=systemd"]) {
      const d = this.dir(c, cgroupsPath);
      if (d) return readProcsRecursive(d);
    }
    return [];
  }

  oomKillCount(cgroupsPath: string): number {
    const d = this.dir("memory", cgroupsPath);
    return d ? oomKills(d) : 0;
  }

  cleanup(cgroupsPath: string): void {
    if (!path.isAbsolute(cgroupsPath) || path.normalize(cgroupsPath) === "/") throw new Error(`refusing to remove cgroup ${JSON.stringify(cgroupsPath)}`);
    const errors: string[] = [];
    for (const d of this.dirs(cgroupsPath)) {
      try {
        removeCgroupDir(d);
      } catch (e) {
        errors.push(`${d}: ${(e as Error).message}`);
      }
    }
    if (errors.length) throw new Error(`remove cgroup ${cgroupsPath}: ${errors.join("; ")}`);
  }

  applyLimits(cgroupsPath: string, limits: CgroupLimits): void {
    applyV1Limits((controller) => this.dir(controller, cgroupsPath), limits);
  }

  hasBlkioWeight(): boolean {
    const blkio = this.mounts.blkio;
    return !!blkio && fs.existsSync(path.join(blkio, "blkio.weight"));
  }
}
