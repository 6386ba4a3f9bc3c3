// docker update on cgroup v2: the unified tree's files, with runc's
// conversions (cpu.shares → cpu.weight; memory+swap → memory.swap.max, which
// counts swap alone).
import fs from "node:fs";
import path from "node:path";
import type { CgroupLimits } from "../types.ts";
import { readText } from "../files.ts";
import { writeCgroupFile } from "../write.ts";

/** runc's ConvertCPUSharesToCgroupV2Value: [2, 262144] onto [1, 10000]. */
export function sharesToWeight(shares: number): number {
  return shares === 0 ? 0 : 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

const max = (n: number): string => (n === -1 ? "max" : String(n));

export function applyV2Limits(dir: string, l: CgroupLimits): void {
  if (l.memorySwap !== undefined) {
    // Swap alone; unlimited stays unlimited. Written before memory.max so a lower memory never fails on it.
    const memory = l.memory ?? Number((readText(path.join(dir, "memory.max")) ?? "").trim());
    const swapOnly = l.memorySwap === -1 ? -1 : Number.isFinite(memory) && memory > 0 ? l.memorySwap - memory : undefined;
    if (swapOnly !== undefined && fs.existsSync(path.join(dir, "memory.swap.max"))) writeCgroupFile(dir, "memory.swap.max", max(swapOnly));
  }
  if (l.memory !== undefined) writeCgroupFile(dir, "memory.max", max(l.memory));
  if (l.memoryReservation !== undefined) writeCgroupFile(dir, "memory.low", max(l.memoryReservation));
  if (l.cpuShares !== undefined) writeCgroupFile(dir, "cpu.weight", sharesToWeight(l.cpuShares));
  if (l.cpuQuota !== undefined || l.cpuPeriod !== undefined) {
    // cpu.max holds both: keep the half not being changed.
    const [curQuota = "max", curPeriod = "100000"] = (readText(path.join(dir, "cpu.max")) ?? "").trim().split(/\s+/);
    const quota = l.cpuQuota !== undefined ? max(l.cpuQuota) : curQuota;
    writeCgroupFile(dir, "cpu.max", `${quota} ${l.cpuPeriod ?? curPeriod}`);
  }
  if (l.cpusetCpus !== undefined) writeCgroupFile(dir, "cpuset.cpus", l.cpusetCpus);
  if (l.cpusetMems !== undefined) writeCgroupFile(dir, "cpuset.mems", l.cpusetMems);
  if (l.pidsLimit !== undefined) writeCgroupFile(dir, "pids.max", l.pidsLimit > 0 ? l.pidsLimit : "max");
  if (l.blkioWeight !== undefined) {
    // io.bfq.weight where BFQ runs; io.weight otherwise (on [1, 10000]: docker's 10..1000 scaled as runc does).
    if (fs.existsSync(path.join(dir, "io.bfq.weight"))) writeCgroupFile(dir, "io.bfq.weight", l.blkioWeight);
    else if (fs.existsSync(path.join(dir, "io.weight"))) writeCgroupFile(dir, "io.weight", 1 + Math.floor(((l.blkioWeight - 10) * 9999) / 990));
  }
}
