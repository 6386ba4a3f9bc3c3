import path from "node:path";
import type { CgroupStats } from "../types.ts";
import { capToMachineMemory, readFlatKeyed, readNumber } from "../files.ts";

export function memoryStats(dir: string, machineMemory: number): CgroupStats["memory_stats"] {
  const out: CgroupStats["memory_stats"] = {};
  const usage = readNumber(path.join(dir, "memory.current"));
  if (usage === undefined) return out;
  out.usage = usage;
  // memory.peak exists from Linux 5.19.
  const peak = readNumber(path.join(dir, "memory.peak"));
  if (peak !== undefined) out.max_usage = peak;
  const limit = capToMachineMemory(readNumber(path.join(dir, "memory.max")), machineMemory);
  if (limit !== undefined) out.limit = limit;
  const stats = readFlatKeyed(path.join(dir, "memory.stat"));
  if (stats) out.stats = stats;
  return out;
}

export function oomKills(dir: string): number {
  return readFlatKeyed(path.join(dir, "memory.events"))?.oom_kill ?? 0;
}
