// linux.resources from docker's HostConfig resource fields, with docker's
// validation and defaults (swap = 2 × memory when only --memory is given).
import fs from "node:fs";
import os from "node:os";
import type { HostConfig } from "../types/records.ts";
import { invalid } from "../util/errors.ts";
import type { OciDeviceRule, OciResources } from "./oci.ts";

const MIN_MEMORY = 6 * 1024 * 1024;
export const CPU_PERIOD = 100_000;

export interface HostCgroupFeatures {
  version: 1 | 2;
  /** Whether the memory controller accounts swap (v1: memory.memsw.*; v2: always). */
  swapAccounting: boolean;
  cpus: number;
}

export function hostCgroupFeatures(version: 1 | 2): HostCgroupFeatures {
  return {
    version,
    swapAccounting: version === 2 || fs.existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
    cpus: os.availableParallelism(),
  };
}

export function buildResources(hc: HostConfig, deviceRules: OciDeviceRule[], host: HostCgroupFeatures): OciResources {
  const res: OciResources = { devices: deviceRules };

  const memory = hc.Memory ?? 0;
  const swap = hc.MemorySwap ?? 0;
  if (memory < 0) throw invalid("invalid memory limit: must be positive");
  if (memory > 0 && memory < MIN_MEMORY) throw invalid("Minimum memory limit allowed is 6MB");
  if (swap > 0 && memory === 0) throw invalid("You should always set the Memory limit when using Memoryswap limit, see usage");
  if (swap > 0 && swap < memory) throw invalid("Minimum memoryswap limit should be larger than memory limit, see usage");
  const mem: NonNullable<OciResources["memory"]> = {};
  if (memory > 0) {
    mem.limit = memory;
    if (host.swapAccounting) mem.swap = swap === -1 ? -1 : swap > 0 ? swap : memory * 2;
  }
  if (hc.MemoryReservation && hc.MemoryReservation > 0) mem.reservation = hc.MemoryReservation;
  // The kernel's OOM killer can only be switched off on v1 (memory.oom_control); docker drops it elsewhere.
  if (hc.OomKillDisable && host.version === 1) mem.disableOOMKiller = true;
  if (Object.keys(mem).length) res.memory = mem;

  const cpu: NonNullable<OciResources["cpu"]> = {};
  const nano = hc.NanoCpus ?? 0;
  if (nano !== 0) {
    if (hc.CpuPeriod) throw invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    if (hc.CpuQuota) throw invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    if (nano < 1e7 || nano > host.cpus * 1e9) {
      throw invalid(`Range of CPUs is from 0.01 to ${host.cpus}.00, as there are only ${host.cpus} CPUs available`);
    }
    cpu.period = CPU_PERIOD;
    cpu.quota = Math.round((nano * CPU_PERIOD) / 1e9);
  } else {
    if (hc.CpuPeriod) {
      if (hc.CpuPeriod < 1000 || hc.CpuPeriod > 1_000_000) throw invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
      cpu.period = hc.CpuPeriod;
    }
    if (hc.CpuQuota) {
      if (hc.CpuQuota > 0 && hc.CpuQuota < 1000) throw invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)");
      cpu.quota = hc.CpuQuota;
    }
  }
  if (hc.CpuShares) {
    if (hc.CpuShares < 0) throw invalid("invalid CPU shares: must be positive");
    cpu.shares = hc.CpuShares;
  }
  if (hc.CpusetCpus) {
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(hc.CpusetCpus)) throw invalid(`Invalid value ${hc.CpusetCpus} for cpuset cpus`);
    cpu.cpus = hc.CpusetCpus;
  }
  if (hc.CpusetMems) {
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(hc.CpusetMems)) throw invalid(`Invalid value ${hc.CpusetMems} for cpuset mems`);
    cpu.mems = hc.CpusetMems;
  }
  if (Object.keys(cpu).length) res.cpu = cpu;

  // docker: 0 and -1 both mean unlimited.
  if (hc.PidsLimit && hc.PidsLimit > 0) res.pids = { limit: hc.PidsLimit };
  // Only where the kernel has the weight file (docker drops it with a warning elsewhere; runc would fail the start).
  if (hc.BlkioWeight && (host.version === 2 || fs.existsSync("/sys/fs/cgroup/blkio/blkio.weight"))) res.blockIO = { weight: hc.BlkioWeight };
  return res;
}
