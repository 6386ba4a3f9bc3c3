// `update` (docker update, POST /containers/{id}/update): new resource limits
// and restart policy. dockerd's checks and words; the record is changed only
// once a running container's cgroup took the limits, so the next start and
// inspect see what the kernel enforces now. Limits go into the cgroup as files
// (src/cgroups) for every level: a sandbox's gVisor and a VM's QEMU run in the
// container's cgroup too. A VM's memory is the guest's, sized at boot, so a
// running VM refuses a memory update.
import fs from "node:fs";
import os from "node:os";
import type { ContainerUpdate } from "../../types/engine-api.ts";
import type { ContainerRecord, HostConfig } from "../../types/records.ts";
import { cgroupManager, containerCgroupsPath, type CgroupLimits } from "../../cgroups/index.ts";
import { isolationOf } from "../../isolation/level.ts";
import { CPU_PERIOD } from "../../runtime/resources.ts";
import { CapsaError, invalid } from "../../util/errors.ts";
import { type Ctx, containerEvent } from "./context.ts";
import { validateRestartPolicy } from "./create.ts";
import { reconcile } from "./exit.ts";

const MIN_MEMORY = 6 * 1024 * 1024;
const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** "0-3,5" → {0,1,2,3,5}. */
function cpuSet(list: string): Set<number> {
  const out = new Set<number>();
  for (const part of list.trim().split(",")) {
    if (!part) continue;
    const [a = "", b = a] = part.split("-");
    for (let i = Number(a); i <= Number(b); i++) out.add(i);
  }
  return out;
}

function availableCpus(): string {
  for (const f of ["/sys/fs/cgroup/cpuset/cpuset.cpus", "/sys/fs/cgroup/cpuset.cpus.effective"]) {
    try {
      const t = fs.readFileSync(f, "utf8").trim();
      if (t) return t;
    } catch {
      // the other layout
    }
  }
  const n = os.availableParallelism();
  return n > 1 ? `0-${n - 1}` : "0";
}

/** dockerd's checks of the update's own values (verifyPlatformContainerResources, update mode). */
function checkValues(u: ContainerUpdate): void {
  const memory = u.Memory ?? 0;
  const swap = u.MemorySwap ?? 0;
  const reservation = u.MemoryReservation ?? 0;
  if (memory < 0 && memory !== -1) throw invalid("invalid memory limit: must be positive");
  if (memory > 0 && memory < MIN_MEMORY) throw invalid("Minimum memory limit allowed is 6MB");
  if (memory > 0 && swap > 0 && swap < memory) throw invalid("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (reservation > 0 && reservation < MIN_MEMORY) throw invalid("Minimum memory reservation allowed is 6MB");
  if (memory > 0 && reservation > 0 && memory < reservation) throw invalid("Minimum memory limit can not be less than memory reservation limit, see usage");
  const nano = u.NanoCpus ?? 0;
  if (nano > 0 && u.CpuPeriod) throw invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (nano > 0 && u.CpuQuota) throw invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  const cpus = os.availableParallelism();
  if (nano < 0 || (nano > 0 && (nano < 1e7 || nano > cpus * 1e9))) throw invalid(`Range of CPUs is from 0.01 to ${cpus}.00, as there are only ${cpus} CPUs available`);
  if (u.CpuPeriod && (u.CpuPeriod < 1000 || u.CpuPeriod > 1_000_000)) throw invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  if (u.CpuQuota && u.CpuQuota > 0 && u.CpuQuota < 1000) throw invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  if (u.CpuShares && u.CpuShares < 0) throw invalid("invalid CPU shares: must be positive");
  for (const [key, what] of [["CpusetCpus", "cpus"], ["CpusetMems", "mems"]] as const) {
    const v = u[key];
    if (!v) continue;
    if (!CPU_LIST.test(v)) throw invalid(`Invalid value ${v} for cpuset ${what}`);
  }
  if (u.CpusetCpus) {
    const available = availableCpus();
    const have = cpuSet(available);
    if ([...cpuSet(u.CpusetCpus)].some((n) => !have.has(n))) throw invalid(`Requested CPUs are not available - requested ${u.CpusetCpus}, available: ${available}`);
  }
  if (u.BlkioWeight && (u.BlkioWeight < 10 || u.BlkioWeight > 1000)) throw invalid("Range of blkio weight is from 10 to 1000");
  if (u.RestartPolicy?.Name) validateRestartPolicy(u.RestartPolicy);
}

/** docker's MemorySwap of a container created with only --memory: twice that (where the kernel accounts swap). */
function currentSwap(hc: HostConfig): number {
  if (hc.MemorySwap) return hc.MemorySwap;
  return hc.Memory && hc.Memory > 0 && fs.existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") ? hc.Memory * 2 : 0;
}

/** dockerd's container.UpdateContainer: the update folded into the stored HostConfig, with its conflicts. */
function merge(c: ContainerRecord, u: ContainerUpdate): HostConfig {
  const cur = c.hostConfig;
  const cannot = (m: string): CapsaError => invalid(`Cannot update container ${c.id}: ${m}`);
  if (u.NanoCpus && cur.CpuPeriod) throw cannot("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
  if (u.NanoCpus && cur.CpuQuota) throw cannot("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
  if (u.CpuPeriod && cur.NanoCpus) throw cannot("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
  if (u.CpuQuota && cur.NanoCpus) throw cannot("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
  const hc: HostConfig = { ...cur };
  for (const k of ["BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "MemorySwap", "MemoryReservation"] as const) if (u[k]) hc[k] = u[k];
  if (u.CpusetCpus) hc.CpusetCpus = u.CpusetCpus;
  if (u.CpusetMems) hc.CpusetMems = u.CpusetMems;
  if (u.Memory) {
    if (u.Memory > currentSwap(cur) && !u.MemorySwap) throw cannot("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
    hc.Memory = u.Memory;
  }
  // docker: 0 and -1 both mean unlimited, kept as 0.
  if (u.PidsLimit !== undefined && u.PidsLimit !== null) hc.PidsLimit = u.PidsLimit > 0 ? u.PidsLimit : 0;
  if (u.RestartPolicy?.Name) {
    if (cur.AutoRemove && u.RestartPolicy.Name !== "no") throw cannot("Restart policy cannot be updated because AutoRemove is enabled for the container");
    hc.RestartPolicy = { Name: u.RestartPolicy.Name, MaximumRetryCount: u.RestartPolicy.MaximumRetryCount ?? 0 };
  }
  return hc;
}

/** What the update writes into a running container's cgroup: only the fields it sets (runc update's reading). */
function limitsOf(u: ContainerUpdate): CgroupLimits {
  const l: CgroupLimits = {};
  if (u.Memory) l.memory = u.Memory;
  if (u.MemorySwap) l.memorySwap = u.MemorySwap;
  if (u.MemoryReservation) l.memoryReservation = u.MemoryReservation;
  if (u.CpuShares) l.cpuShares = u.CpuShares;
  if (u.NanoCpus) {
    l.cpuPeriod = CPU_PERIOD;
    l.cpuQuota = Math.round((u.NanoCpus * CPU_PERIOD) / 1e9);
  }
  if (u.CpuPeriod) l.cpuPeriod = u.CpuPeriod;
  if (u.CpuQuota) l.cpuQuota = u.CpuQuota;
  if (u.CpusetCpus) l.cpusetCpus = u.CpusetCpus;
  if (u.CpusetMems) l.cpusetMems = u.CpusetMems;
  if (u.PidsLimit !== undefined && u.PidsLimit !== null) l.pidsLimit = u.PidsLimit;
  if (u.BlkioWeight) l.blkioWeight = u.BlkioWeight;
  return l;
}

export async function updateContainer(ctx: Ctx, c0: ContainerRecord, update: ContainerUpdate): Promise<{ Warnings: string[] }> {
  const c = (await reconcile(ctx, c0)) ?? c0;
  const u: ContainerUpdate = { ...update };
  checkValues(u);
  const warnings: string[] = [];
  const cgroups = cgroupManager();
  if (u.BlkioWeight && !cgroups.hasBlkioWeight()) {
    warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.");
    delete u.BlkioWeight;
  }
  const hostConfig = merge(c, u);
  const live = c.state.Running && !c.state.Restarting;
  if (live && isolationOf(c.hostConfig) === "vm" && (u.Memory || u.MemorySwap || u.MemoryReservation)) {
    throw invalid(`Cannot update container ${c.id}: the memory of a VM (--isolation vm) is the guest's, sized when it boots; stop the container, update it, and start it again`);
  }
  if (live) {
    try {
      cgroups.applyLimits(containerCgroupsPath(ctx.paths, c.id), limitsOf(u));
    } catch (e) {
      throw new CapsaError("system", `Cannot update container ${c.id}: ${(e as Error).message}`);
    }
  }
  ctx.store.mutate(c.id, (r) => (r.hostConfig = hostConfig));
  containerEvent(ctx, c, "update");
  return { Warnings: warnings };
}
