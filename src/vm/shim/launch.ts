// How a VM is launched, prepared ahead of `create`: the wrapper script (the
// "container process", src/vm/shim/qemu.ts) written into the bundle as
// vm-run.sh, with its run directory in vm-run-dir. The engine prepares it
// when it prepares the VM (src/vm/host/prepare.ts), so that `create` is
// left with starting the wrapper and recording it, which the runtime's
// shell front (src/vm/host/runtime-handle.ts) does without a Node start-up.
// The runtime's own `create` prepares it when the bundle lacks it.
import fs from "node:fs";
import path from "node:path";
import type { RuntimeSpec } from "../../runtime/oci.ts";
import { cgroupManager } from "../../cgroups/index.ts";
import { planMounts } from "./guest-spec.ts";
import { prepareNetwork } from "./network.ts";
import { vmRunDir, wrapperScript, type VmLaunch } from "./qemu.ts";

export const bundleFiles = (bundle: string) => ({
  wrapper: path.join(bundle, "vm-run.sh"),
  runDir: path.join(bundle, "vm-run-dir"),
});

export function launchFromSpec(spec: RuntimeSpec, runDir: string): VmLaunch {
  const a = spec.annotations ?? {};
  const need = (k: string): string => {
    const v = a[k];
    if (v === undefined) throw new Error(`config.json lacks the annotation ${k} (capsa writes it for --isolation vm)`);
    return v;
  };
  const netns = spec.linux.namespaces.find((n) => n.type === "network")?.path;
  return {
    qemu: need("capsa.vm.qemu"),
    virtiofsd: need("capsa.vm.virtiofsd"),
    kernel: need("capsa.vm.kernel"),
    initramfs: need("capsa.vm.initramfs"),
    disk: need("capsa.vm.disk"),
    accel: need("capsa.vm.accel") === "kvm" ? "kvm" : "tcg",
    memoryMiB: Number(need("capsa.vm.memory-mib")),
    cpus: Number(need("capsa.vm.cpus")),
    runDir,
    shared: planMounts(spec).shared,
    netns,
    cgroupDirs: spec.linux.cgroupsPath ? cgroupManager().dirs(spec.linux.cgroupsPath) : [],
    runAs: qemuUser(),
  };
}

/** The user QEMU runs as after start-up: nobody, when the host has it (a user with no files and no privileges). */
export function qemuUser(passwd = "/etc/passwd"): string | undefined {
  try {
    return /^nobody:/m.test(fs.readFileSync(passwd, "utf8")) ? "nobody" : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Wires the VM into its network namespace (when it has one), makes its
 * cgroup directories (the wrapper joins them with shell builtins) and writes
 * the wrapper and its run directory into the bundle.
 */
export async function prepareLaunch(spec: RuntimeSpec, bundle: string, runtimeRoot: string, id: string): Promise<void> {
  const runDir = vmRunDir(runtimeRoot, id);
  const launch = launchFromSpec(spec, runDir);
  if (launch.netns) launch.ip = await prepareNetwork(launch.netns);
  for (const d of launch.cgroupDirs ?? []) {
    try {
      fs.mkdirSync(d, { recursive: true });
    } catch {
      /* the wrapper's join fails quietly too: the VM runs, top and stats see less */
    }
  }
  const f = bundleFiles(bundle);
  fs.writeFileSync(f.wrapper, wrapperScript(launch), { mode: 0o700 });
  fs.writeFileSync(f.runDir, `${runDir}\n`);
}
