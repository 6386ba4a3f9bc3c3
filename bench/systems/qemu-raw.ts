// The floor of the vm level: QEMU alone booting the same guest kernel and
// initramfs capsa's VMs use, on the same accelerator, with a trivial init
// (busybox rebooting at once; QEMU runs with -no-reboot, so that ends it).
// No disk, no ports, no network, no monitor, no engine: what is left between
// this and `capsa run --rm --isolation vm img true` is capsa's overhead.
import fs from "node:fs";
import { vmAssets, qemuBinary } from "../../src/vm/host/assets.ts";
import { hostTscKhz } from "../../src/vm/shim/qemu.ts";
import type { Cmd } from "../lib/proc.ts";
import type { BenchContext, ContainerSystem, SystemInfo } from "./system.ts";
import { firstLine } from "../lib/proc.ts";

export class QemuRaw implements ContainerSystem {
  readonly name = "qemu-raw";

  check(): string | undefined {
    const a = vmAssets();
    if (!fs.existsSync(a.kernel) || !fs.existsSync(a.initramfs)) return `VM assets missing in ${a.dir}: run scripts/setup.sh`;
    return undefined;
  }

  async setup(_ctx: BenchContext): Promise<void> {}

  info(): SystemInfo {
    return { version: firstLine([qemuBinary(), "--version"]) ?? "?", runtime: "qemu -M microvm (TCG)", notes: ["same kernel and initramfs as capsa's VMs; init = busybox reboot -f"] };
  }

  /** Boots and powers off; the workload's args have no meaning here. */
  runRm(_args: string[]): Cmd {
    const a = vmAssets();
    const tsc = hostTscKhz();
    const append = ["console=ttyS0", "quiet", "panic=-1", "reboot=t", ...(tsc ? [`tsc_early_khz=${tsc}`] : []), "rdinit=/bin/busybox", "--", "reboot", "-f"].join(" ");
    return {
      argv: [qemuBinary(), "-M", "microvm,rtc=on", "-accel", "tcg,thread=multi", "-cpu", "max", "-m", "512M", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-kernel", a.kernel, "-initrd", a.initramfs, "-append", append, "-serial", "null"],
    };
  }

  startDetached(): Promise<void> {
    return Promise.reject(new Error("qemu-raw only boots and powers off"));
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  remove(): Promise<void> {
    return Promise.resolve();
  }
  monitorPid(): number | undefined {
    return undefined;
  }
  daemonPids(): number[] {
    return [];
  }
  async cleanup(): Promise<void> {}
}
