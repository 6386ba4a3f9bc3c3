// The floor of the vm level: QEMU alone booting the same guest kernel and
// initramfs capsa's VMs use, on the same accelerator, with a trivial init
// (busybox powering off at once: `rdinit=/bin/busybox -- poweroff -f`, so
// not even guest/init runs). No disk, no ports, no network, no modules, no
// monitor, no engine: what is left between this and
// `capsa run --rm --isolation vm img true` is capsa's overhead.
import fs from "node:fs";
import path from "node:path";
import { bareQemuArgs, bootBare, probeAccel, type Accel } from "../../src/vm/host/accel.ts";
import { checkVmAssets, qemuBinary, vmAssets, type VmAssets } from "../../src/vm/host/assets.ts";
import { VM_DEFAULT_MEMORY_MIB } from "../../src/vm/host/prepare.ts";
import { firstLine, type Cmd } from "../lib/proc.ts";
import { NoDetachedContainers, type BenchContext, type ContainerSystem, type SystemInfo } from "./system.ts";

/** The kernel command line's tail that makes busybox PID 1 and has it power off. */
const POWEROFF_AT_ONCE = ["rdinit=/bin/busybox", "--", "poweroff", "-f"];
const BOUND_MS = 120_000;
/** capsa's default guest memory, so both boot the same machine. */
const MEMORY_MIB = VM_DEFAULT_MEMORY_MIB;

/** One raw boot → power-off, wall time in ms (spawn to QEMU's exit). Throws if the guest does not power off by itself. */
export async function rawQemuBoot(assets: Pick<VmAssets, "kernel" | "initramfs">, accel: Accel = "tcg"): Promise<number> {
  const r = await bootBare({ kernel: assets.kernel, initramfs: assets.initramfs, accel, append: POWEROFF_AT_ONCE, boundMs: BOUND_MS, memoryMiB: MEMORY_MIB });
  if (!r.exited) throw new Error(`qemu-raw: no power-off within ${BOUND_MS / 1000} s (killed)`);
  if (r.code !== 0) throw new Error(`qemu-raw: QEMU exited ${r.code}: ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`);
  return r.ms;
}

export class QemuRaw extends NoDetachedContainers implements ContainerSystem {
  readonly name = "qemu-raw";
  protected readonly why = "qemu-raw only boots and powers off";
  private accel: Accel = "tcg";
  private accelDetail = "";

  check(): string | undefined {
    return checkVmAssets();
  }

  /** The accelerator capsa would choose here (its own probe, cached in the bench's directory), and one boot to prove it works. */
  async setup(ctx: BenchContext): Promise<void> {
    const dir = path.join(ctx.dir, this.name);
    fs.mkdirSync(dir, { recursive: true });
    const v = await probeAccel({ root: dir });
    this.accel = v.accel;
    this.accelDetail = v.detail;
    await rawQemuBoot(vmAssets(), this.accel);
  }

  info(): SystemInfo {
    return {
      version: firstLine([qemuBinary(), "--version"]) ?? "?",
      runtime: `qemu -M microvm (${this.accel.toUpperCase()})`,
      notes: [`same kernel and initramfs as capsa's VMs; init = busybox poweroff -f; ${this.accelDetail}`],
    };
  }

  /** Boots and powers off; the workload's args have no meaning here. */
  runRm(_args: string[]): Cmd {
    const a = vmAssets();
    return { argv: [qemuBinary(), ...bareQemuArgs({ kernel: a.kernel, initramfs: a.initramfs, accel: this.accel, append: POWEROFF_AT_ONCE, memoryMiB: MEMORY_MIB, serial: "null" })] };
  }

  async cleanup(): Promise<void> {}
}
