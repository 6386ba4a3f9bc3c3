// The resource flags of run/create: memory and swap, CPUs (--cpus, shares,
// CFS period and quota, cpusets), the pids limit, OOM killing, /dev/shm's size
// and --ulimit.
import type { FlagParse } from "./types.ts";
import { parseUlimit } from "../../util/ulimit-device-specs.ts";

export function applyResourceFlags(p: FlagParse): void {
  const { o, hostConfig, fail, bad, int, size } = p;
  const memory = size("memory", o.memory);
  if (memory !== undefined) {
    if (memory > 0 && memory < 6 * 1024 * 1024) throw fail("Minimum memory limit allowed is 6MB");
    hostConfig.Memory = memory;
  }
  if (o.memorySwap !== undefined) hostConfig.MemorySwap = o.memorySwap === "-1" ? -1 : size("memory-swap", o.memorySwap);
  if (o.cpus !== undefined) {
    if (!/^\d*\.?\d+$/.test(o.cpus)) throw bad("cpus", o.cpus, `failed to parse ${o.cpus} as a rational number`);
    hostConfig.NanoCpus = Math.round(Number(o.cpus) * 1e9);
  }
  const shares = int("cpu-shares", o.cpuShares);
  if (shares !== undefined) hostConfig.CpuShares = shares;
  const period = int("cpu-period", o.cpuPeriod);
  if (period !== undefined) hostConfig.CpuPeriod = period;
  const quota = int("cpu-quota", o.cpuQuota);
  if (quota !== undefined) hostConfig.CpuQuota = quota;
  if (hostConfig.NanoCpus !== undefined && (period !== undefined || quota !== undefined)) {
    throw fail("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  }
  if (o.cpusetCpus !== undefined) hostConfig.CpusetCpus = o.cpusetCpus;
  if (o.cpusetMems !== undefined) hostConfig.CpusetMems = o.cpusetMems;
  const pids = int("pids-limit", o.pidsLimit);
  if (pids !== undefined) hostConfig.PidsLimit = pids;
  if (o.oomKillDisable) hostConfig.OomKillDisable = true;
  const shm = size("shm-size", o.shmSize);
  if (shm !== undefined) hostConfig.ShmSize = shm;
  if (o.ulimit) hostConfig.Ulimits = o.ulimit.map((u) => parseUlimit(u, (why) => bad("ulimit", u, why)));
}

