// The guest kernel's command line, shared by capsa's VMs (src/vm/shim), the
// acceleration probe and the benchmark's floor (src/vm/host), so they all boot
// the same way. Kept free of other imports: the VM runtime bundles it.
import fs from "node:fs";

export type Accel = "kvm" | "tcg";

/**
 * The host's TSC frequency in kHz, when it is constant. Under TCG the guest
 * reads the host's TSC, and its calibration against the emulated PIT fails
 * now and then ("Unable to calibrate against PIT"), after which the boot
 * hangs with no clock source: telling the kernel the frequency avoids it.
 */
export function hostTscKhz(cpuinfo?: string): number | undefined {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = fs.readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return undefined;
    }
  }
  if (!/^flags\s*:.*\bconstant_tsc\b/m.test(text)) return undefined;
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(text);
  return mhz ? Math.round(Number(mhz[1]) * 1000) : undefined;
}

/**
 * The kernel command line every capsa boot starts with: the console on the
 * serial port and only emergencies on it, no reboot (panic=-1 with
 * -no-reboot stops QEMU), no probing of hardware a microvm does not have.
 * cryptomgr.notests skips the crypto self-tests: ~0.3 s of a TCG boot
 * (docs/decisions/0006-vm-guest-kernel.md). Under TCG the guest's TSC
 * calibration against the emulated PIT fails now and then and the boot hangs
 * for good; giving the host's TSC frequency avoids it (decision 0007).
 */
export function baseKernelArgs(accel: Accel): string[] {
  const a = ["console=ttyS0", "quiet", "loglevel=1", "panic=-1", "reboot=t", "tsc=reliable", "no_timer_check", "cryptomgr.notests"];
  a.push("i8042.noaux", "i8042.nomux", "i8042.nopnp", "i8042.dumbkbd");
  const tsc = accel === "tcg" ? hostTscKhz() : undefined;
  if (tsc) a.push(`tsc_early_khz=${tsc}`);
  return a;
}
