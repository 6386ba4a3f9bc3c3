// docker update on cgroup v1: the files runc's cgroupfs driver writes, in the
// order that keeps every intermediate state valid for the kernel.
import fs from "node:fs";
import path from "node:path";
import type { CgroupLimits } from "../types.ts";
import { readNumber } from "../files.ts";
import { writeCgroupFile } from "../write.ts";

type Dir = (controller: string) => string | undefined;

/**
 * memory.memsw.limit_in_bytes must stay at or above memory.limit_in_bytes at
 * every moment: raise swap first when the new swap exceeds the current
 * memory limit (or is unlimited), else lower memory first (runc does the same).
 */
function applyMemory(dir: string, l: CgroupLimits): void {
  const hasSwap = fs.existsSync(path.join(dir, "memory.memsw.limit_in_bytes"));
  const memory = l.memory;
  const swap = hasSwap ? l.memorySwap : undefined;
  const setSwap = (): void => void (swap !== undefined && writeCgroupFile(dir, "memory.memsw.limit_in_bytes", swap));
  const setMemory = (): void => void (memory !== undefined && writeCgroupFile(dir, "memory.limit_in_bytes", memory));
  const current = readNumber(path.join(dir, "memory.limit_in_bytes")) ?? Number.MAX_SAFE_INTEGER;
  if (swap !== undefined && (swap === -1 || swap > current)) {
    setSwap();
    setMemory();
  } else {
    setMemory();
    setSwap();
  }
  if (l.memoryReservation !== undefined) writeCgroupFile(dir, "memory.soft_limit_in_bytes", l.memoryReservation);
}

export function applyV1Limits(dir: Dir, l: CgroupLimits): void {
  const memory = dir("memory");
  if (memory && (l.memory !== undefined || l.memorySwap !== undefined || l.memoryReservation !== undefined)) applyMemory(memory, l);
  const cpu = dir("cpu");
  if (cpu) {
    if (l.cpuShares !== undefined) writeCgroupFile(cpu, "cpu.shares", l.cpuShares);
    if (l.cpuPeriod !== undefined) writeCgroupFile(cpu, "cpu.cfs_period_us", l.cpuPeriod);
    if (l.cpuQuota !== undefined) writeCgroupFile(cpu, "cpu.cfs_quota_us", l.cpuQuota);
  }
  const cpuset = dir("cpuset");
  if (cpuset) {
    if (l.cpusetCpus !== undefined) writeCgroupFile(cpuset, "cpuset.cpus", l.cpusetCpus);
    if (l.cpusetMems !== undefined) writeCgroupFile(cpuset, "cpuset.mems", l.cpusetMems);
  }
  const pids = dir("pids");
  if (pids && l.pidsLimit !== undefined) writeCgroupFile(pids, "pids.max", l.pidsLimit > 0 ? l.pidsLimit : "max");
  const blkio = dir("blkio");
  if (blkio && l.blkioWeight !== undefined && fs.existsSync(path.join(blkio, "blkio.weight"))) writeCgroupFile(blkio, "blkio.weight", l.blkioWeight);
}
