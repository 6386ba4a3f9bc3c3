import path from "node:path";
import type { CgroupStats } from "../types.ts";
import { readFlatKeyed, readNumber, readText } from "../files.ts";

/** cpuacct.stat counts USER_HZ ticks. */
const TICK_NS = 1e9 / 100;

/** cpuacct (usage) and cpu (throttling) may be separate hierarchies on v1. */
export function cpuStats(cpuacctDir: string | undefined, cpuDir: string | undefined): CgroupStats["cpu_stats"] {
  const out: CgroupStats["cpu_stats"] = { cpu_usage: { total_usage: 0 } };
  if (cpuacctDir) {
    out.cpu_usage.total_usage = readNumber(path.join(cpuacctDir, "cpuacct.usage")) ?? 0;
    const percpu = readText(path.join(cpuacctDir, "cpuacct.usage_percpu"));
    if (percpu !== undefined) out.cpu_usage.percpu_usage = percpu.trim().split(/\s+/).filter(Boolean).map(Number);
    const stat = readFlatKeyed(path.join(cpuacctDir, "cpuacct.stat"));
    if (stat?.user !== undefined) out.cpu_usage.usage_in_usermode = stat.user * TICK_NS;
    if (stat?.system !== undefined) out.cpu_usage.usage_in_kernelmode = stat.system * TICK_NS;
  }
  if (cpuDir) {
    const stat = readFlatKeyed(path.join(cpuDir, "cpu.stat"));
    if (stat) {
      out.throttling_data = { periods: stat.nr_periods ?? 0, throttled_periods: stat.nr_throttled ?? 0, throttled_time: stat.throttled_time ?? 0 };
    }
  }
  return out;
}
