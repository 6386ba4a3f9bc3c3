// The engine's VM step of `start`, between writing the bundle and handing it
// to the monitor: the VM's disk, and what the VM runtime needs to boot it
// (kernel, initramfs, accelerator, size), as annotations in config.json, and
// the launch itself (its network wiring, cgroups and wrapper script,
// src/vm/shim/launch.ts). The runtime itself then needs nothing but the
// bundle, like runc.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { HostConfig } from "../../types/records.ts";
import type { BundleInput } from "../../runtime/handler.ts";
import type { RuntimeSpec } from "../../runtime/oci.ts";
import { specToJson } from "../../runtime/oci.ts";
import { CapsaError, invalid } from "../../util/errors.ts";
import { VmDiskSnapshotter } from "../../snapshot/vm-disk.ts";
import { checkVmAssets, qemuBinary, virtiofsdBinary, vmAssets } from "./assets.ts";
import { probeAccel } from "./accel.ts";
import { prepareLaunch } from "../shim/launch.ts";

/** Guest memory when -m is not given, and the least a guest boots with (kernel, initramfs, agent). */
export const VM_DEFAULT_MEMORY_MIB = 512;
export const VM_MIN_MEMORY_MIB = 128;

/** Checks at create what only a VM cannot do, so a bad request fails before anything exists. */
export function validateVmHostConfig(h: HostConfig): void {
  if (h.Memory && h.Memory < VM_MIN_MEMORY_MIB * 1024 * 1024) throw invalid(`--isolation vm needs at least ${VM_MIN_MEMORY_MIB} MiB of memory (-m ${VM_MIN_MEMORY_MIB}m)`);
  if (h.NetworkMode === "host") throw invalid("--isolation vm cannot share the host's network (--network host); a VM has its own kernel");
  if (h.NetworkMode?.startsWith("container:")) throw invalid("--isolation vm cannot join another container's network namespace");
  if (h.Privileged) throw invalid("--privileged is not supported for --isolation vm: a VM has no host devices to hand over (--cap-add and --security-opt loosen its confinement)");
}

function vcpus(h: HostConfig): number {
  const host = os.cpus().length;
  let n = 1;
  if (h.NanoCpus) n = Math.ceil(h.NanoCpus / 1e9);
  else if (h.CpuQuota && h.CpuPeriod) n = Math.ceil(h.CpuQuota / h.CpuPeriod);
  return Math.max(1, Math.min(n, host));
}

/** The vm level's bundle step (its handler's prepareBundle). */
export async function prepareVm({ paths, container: c, bundle, containerDir, imageLayers }: BundleInput): Promise<void> {
  const missing = checkVmAssets();
  if (missing) throw new CapsaError("system", missing);
  const assets = vmAssets();
  const accel = await probeAccel(paths);
  const { source: disk } = await new VmDiskSnapshotter(paths).prepare(containerDir, imageLayers);
  const specPath = path.join(bundle, "config.json");
  const spec = JSON.parse(fs.readFileSync(specPath, "utf8")) as RuntimeSpec;
  const memoryMiB = c.hostConfig.Memory ? Math.floor(c.hostConfig.Memory / (1024 * 1024)) : VM_DEFAULT_MEMORY_MIB;
  spec.annotations = {
    ...spec.annotations,
    "capsa.isolation": "vm",
    "capsa.vm.qemu": qemuBinary(),
    "capsa.vm.virtiofsd": virtiofsdBinary(),
    "capsa.vm.kernel": assets.kernel,
    "capsa.vm.initramfs": assets.initramfs,
    "capsa.vm.disk": disk,
    "capsa.vm.accel": accel.accel,
    "capsa.vm.memory-mib": String(memoryMiB),
    "capsa.vm.cpus": String(vcpus(c.hostConfig)),
  };
  fs.writeFileSync(specPath, specToJson(spec));
  // What `create` would do before starting the wrapper, done here, so that create itself is quick (launch.ts).
  try {
    await prepareLaunch(spec, bundle, paths.runtimeRoot, c.id);
  } catch (e) {
    throw new CapsaError("system", (e as Error).message);
  }
}
