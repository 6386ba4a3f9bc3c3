import path from "node:path";
import type { CgroupStats } from "../types.ts";
import { readFlatKeyed } from "../files.ts";

/** cpu.stat counts microseconds; docker reports nanoseconds. v2 has no per-CPU usage. */
export function cpuStats(dir: string): CgroupStats["cpu_stats"] {
  const s = readFlatKeyed(path.join(dir, "cpu.stat"));
  const out: CgroupStats["cpu_stats"] = { cpu_usage: { total_usage: (s?.usage_usec ?? 0) * 1000 } };
  if (!s) return out;
  if (s.user_usec !== undefined) out.cpu_usage.usage_in_usermode = s.user_usec * 1000;
  if (s.system_usec !== undefined) out.cpu_usage.usage_in_kernelmode = s.system_usec * 1000;
  if (s.nr_periods !== undefined) {
    out.throttling_data = { periods: s.nr_periods, throttled_periods: s.nr_throttled ?? 0, throttled_time: (s.throttled_usec ?? 0) * 1000 };
  }
  return out;
}
