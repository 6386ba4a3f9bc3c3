import path from "node:path";
import type { CgroupStats } from "../types.ts";
import { capToMachineMemory, readFlatKeyed, readNumber } from "../files.ts";

export function memoryStats(dir: string, machineMemory: number): CgroupStats["memory_stats"] {
  const out: CgroupStats["memory_stats"] = {};
  const usage = readNumber(path.join(dir, "memory.usage_in_bytes"));
  if (usage === undefined) return out;
  out.usage = usage;
  const max = readNumber(path.join(dir, "memory.max_usage_in_bytes"));
  if (max !== undefined) out.max_usage = max;
  const failcnt = readNumber(path.join(dir, "memory.failcnt"));
  if (failcnt !== undefined) out.failcnt = failcnt;
  const limit = capToMachineMemory(readNumber(path.join(dir, "memory.limit_in_bytes")), machineMemory);
  if (limit !== undefined) out.limit = limit;
  const stats = readFlatKeyed(path.join(dir, "memory.stat"));
  if (stats) out.stats = stats;
  return out;
}

export function oomKills(dir: string): number {
  return readFlatKeyed(path.join(dir, "memory.oom_control"))?.oom_kill ?? 0;
}
