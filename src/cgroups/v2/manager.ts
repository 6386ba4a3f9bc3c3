// cgroup v2: one unified tree; a container's cgroup is one directory.
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import type { CgroupLimits, CgroupManager, CgroupStats } from "../types.ts";
import { readProcsRecursive, removeCgroupDir } from "../files.ts";
import { onlineCpus, systemCpuUsage } from "../proc-stat.ts";
import { cpuStats } from "./cpu.ts";
import { ioStats } from "./io.ts";
import { applyV2Limits } from "./limits.ts";
import { memoryStats, oomKills } from "./memory.ts";
import { pidsStats } from "./pids.ts";

export class CgroupV2 implements CgroupManager {
  readonly version = 2 as const;
  private readonly root: string;
  private readonly machineMemory: number;

  constructor(root = "/sys/fs/cgroup", machineMemory = os.totalmem()) {
    this.root = root;
    this.machineMemory = machineMemory;
  }

  dirs(cgroupsPath: string): string[] {
    return [path.join(this.root, cgroupsPath)];
  }

  readStats(cgroupsPath: string): CgroupStats {
    const dir = path.join(this.root, cgroupsPath);
    return {
      memory_stats: memoryStats(dir, this.machineMemory),
      cpu_stats: { ...cpuStats(dir), system_cpu_usage: systemCpuUsage(), online_cpus: onlineCpus() },
      pids_stats: pidsStats(dir),
      blkio_stats: ioStats(dir),
    };
  }

  listPids(cgroupsPath: string): number[] {
    return readProcsRecursive(path.join(this.root, cgroupsPath));
  }

  oomKillCount(cgroupsPath: string): number {
    return oomKills(path.join(this.root, cgroupsPath));
  }

  cleanup(cgroupsPath: string): void {
    if (!path.isAbsolute(cgroupsPath) || path.normalize(cgroupsPath) === "/") throw new Error(`refusing to remove cgroup ${JSON.stringify(cgroupsPath)}`);
    try {
      removeCgroupDir(path.join(this.root, cgroupsPath));
    } catch (e) {
      throw new Error(`remove cgroup ${cgroupsPath}: ${(e as Error).message}`);
    }
  }

  applyLimits(cgroupsPath: string, limits: CgroupLimits): void {
    applyV2Limits(path.join(this.root, cgroupsPath), limits);
  }

  hasBlkioWeight(): boolean {
    const controllers = fs.existsSync(path.join(this.root, "cgroup.controllers")) ? fs.readFileSync(path.join(this.root, "cgroup.controllers"), "utf8") : "";
    return controllers.split(/\s+/).includes("io");
  }
}
