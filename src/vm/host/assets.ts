// Where a VM's boot assets are (scripts/vm-assets.sh makes them from Debian
// packages), and the host programs that run it.
import fs from "node:fs";
import path from "node:path";
import { findOnPath } from "../../runtime/probe.ts";

export const DEFAULT_VM_ASSETS = "/var/cache/capsa/vm";
export const DEFAULT_VIRTIOFSD = "/usr/lib/qemu/virtiofsd";

export interface VmAssets {
  dir: string;
  /** What QEMU boots: the uncompressed kernel (PVH entry) when the set-up could extract it, else the package's bzImage. */
  kernel: string;
  initramfs: string;
  manifest: string;
}

/** What scripts/vm-assets.sh records about the assets it made. */
export interface VmManifest {
  kernelPackage: string;
  /** The Debian package's version ("6.1.192-2"). */
  kernelVersion: string;
  /** `uname -r` in the guest ("6.1.0-56-cloud-amd64"). */
  kernelRelease: string;
  /** "vmlinux" or "vmlinuz": the file QEMU boots. */
  kernel?: string;
  busyboxVersion?: string;
  /** Kernel modules in the initramfs, in the order guest/init loads them. */
  modules?: string[];
  /** sha256 of everything the assets were made from; a change rebuilds them. */
  inputs: string;
  builtAt: string;
}

export function vmAssets(env: NodeJS.ProcessEnv = process.env): VmAssets {
  const dir = env.CAPSA_VM_ASSETS || DEFAULT_VM_ASSETS;
  const vmlinux = path.join(dir, "vmlinux");
  return {
    dir,
    kernel: fs.existsSync(vmlinux) ? vmlinux : path.join(dir, "vmlinuz"),
    initramfs: path.join(dir, "initramfs.img"),
    manifest: path.join(dir, "manifest.json"),
  };
}

export function readVmManifest(env: NodeJS.ProcessEnv = process.env): VmManifest | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(vmAssets(env).manifest, "utf8")) as Partial<VmManifest>;
    return typeof m.kernelRelease === "string" && typeof m.inputs === "string" ? (m as VmManifest) : undefined;
  } catch {
    return undefined;
  }
}

/** The guest kernel's release, from the manifest ("6.1.0-…-cloud-amd64"), when known. */
export function guestKernelRelease(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return readVmManifest(env)?.kernelRelease;
}

/** qemu-system-x86_64: CAPSA_QEMU, else found on $PATH; the bare name when absent (checkVmAssets says so). */
export function qemuBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.CAPSA_QEMU || findOnPath("qemu-system-x86_64") || "qemu-system-x86_64";
}

/** Debian's C virtiofsd (qemu-system-common); CAPSA_VIRTIOFSD overrides. */
export function virtiofsdBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.CAPSA_VIRTIOFSD || DEFAULT_VIRTIOFSD;
}

/** Why a VM cannot start here, or undefined when everything it needs is in place. */
export function checkVmAssets(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const a = vmAssets(env);
  // The set-up writes the manifest last: without it the assets are incomplete.
  const missing = [a.kernel, a.initramfs, a.manifest].filter((f) => !fs.existsSync(f));
  if (missing.length) return `VM assets missing in ${a.dir} (${missing.map((f) => path.basename(f)).join(", ")}): run scripts/setup.sh`;
  const qemu = qemuBinary(env);
  if (!qemu.startsWith("/") || !fs.existsSync(qemu)) return "qemu-system-x86_64 not found: install Debian's qemu-system-x86 (scripts/setup.sh)";
  const virtiofsd = virtiofsdBinary(env);
  if (!fs.existsSync(virtiofsd)) return `virtiofsd not found at ${virtiofsd}: install Debian's qemu-system-common, or set CAPSA_VIRTIOFSD`;
  return undefined;
}
