// Host-wide CPU time from /proc/stat, for docker's cpu percent formula:
// (Δcontainer / Δsystem) × online_cpus × 100.
import fs from "node:fs";
import { readText } from "./files.ts";

/** USER_HZ: /proc/stat counts in these ticks on every Linux architecture capsa runs on. */
const CLOCK_TICKS = 100;

/**
 * Total CPU time of the host in nanoseconds, as docker computes it: the sum
 * of the first seven fields of the "cpu" line (user nice system idle iowait
 * irq softirq), converted from clock ticks.
 */
export function systemCpuUsage(procStat: string = fs.readFileSync("/proc/stat", "utf8")): number {
  const line = procStat.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new Error("/proc/stat has no cpu line");
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((sum, f) => sum + Number(f), 0);
  return (ticks * 1e9) / CLOCK_TICKS;
}

/** CPUs online (from /sys/devices/system/cpu/online, e.g. "0-3,6"). */
export function onlineCpus(online: string | undefined = readText("/sys/devices/system/cpu/online")): number {
  if (!online?.trim()) return 1;
  let n = 0;
  for (const part of online.trim().split(",")) {
    const [a, b] = part.split("-").map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    n += b === undefined || Number.isNaN(b) ? 1 : b - a + 1;
  }
  return Math.max(n, 1);
}
