// Where a VM's boot assets are (scripts/vm-assets.sh makes them from Debian
// packages), and the host programs that run it.
import fs from "node:fs";
import path from "node:path";
import { findOnPath } from "../../runtime/probe.ts";

export const DEFAULT_VM_ASSETS = "/var/cache/capsa/vm";

export interface VmAssets {
  dir: string;
  kernel: string;
  initramfs: string;
  manifest: string;
}

export function vmAssets(env: NodeJS.ProcessEnv = process.env): VmAssets {
  const dir = env.CAPSA_VM_ASSETS || DEFAULT_VM_ASSETS;
  return { dir, kernel: path.join(dir, "vmlinuz"), initramfs: path.join(dir, "initramfs.img"), manifest: path.join(dir, "manifest.json") };
}

/** The guest kernel's release, from the manifest ("6.1.0-…-cloud-amd64"), when known. */
export function guestKernelRelease(env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(vmAssets(env).manifest, "utf8")) as { kernelRelease?: string }).kernelRelease;
  } catch {
    return undefined;
  }
}

export function qemuBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.CAPSA_QEMU || findOnPath("qemu-system-x86_64") || "qemu-system-x86_64";
}

export function virtiofsdBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.CAPSA_VIRTIOFSD || "/usr/lib/qemu/virtiofsd";
}

/** Why a VM cannot start here, or undefined when everything it needs is in place. */
export function checkVmAssets(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const a = vmAssets(env);
  const missing = [a.kernel, a.initramfs].filter((f) => !fs.existsSync(f));
  if (missing.length) return `VM assets missing in ${a.dir} (${missing.map((f) => path.basename(f)).join(", ")}): run scripts/setup.sh`;
  const qemu = qemuBinary(env);
  if (!qemu.startsWith("/") || !fs.existsSync(qemu)) return "qemu-system-x86_64 not found: install Debian's qemu-system-x86 (scripts/setup.sh)";
  if (!fs.existsSync(virtiofsdBinary(env))) return `virtiofsd not found at ${virtiofsdBinary(env)} (Debian's qemu-system-common)`;
  return undefined;
}
