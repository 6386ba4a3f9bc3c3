// KVM or TCG. /dev/kvm can exist and still not boot an ordinary guest (a
// nested, paravirtual KVM hangs at early boot, or QEMU aborts setting up the
// vCPU), so "usable" is decided by booting the real guest kernel and
// initramfs once under KVM, with a tight bound, and looking for guest/init's
// marker (the kernel command line's capsa.probe=1 makes init print it once
// the modules are loaded, and power off). The verdict is cached under the
// state root, keyed by the kernel file, the host's kernel and /dev/kvm, and
// re-probed only when one of those changes. CAPSA_VM_ACCEL=kvm|tcg skips the
// probe.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Paths } from "../../types/paths.ts";
import { baseKernelArgs } from "../kernel-args.ts";
import { qemuBinary, vmAssets } from "./assets.ts";

export type { Accel } from "../kernel-args.ts";
import type { Accel } from "../kernel-args.ts";

export interface AccelVerdict {
  accel: Accel;
  /** For people: which one and why ("TCG (software emulation): KVM present but cannot boot a guest (…)"). */
  detail: string;
}

/** How long a KVM guest may take to reach guest/init's marker; a working KVM needs well under a second. */
export const PROBE_BOUND_MS = 4000;
/** What guest/init prints on the console under capsa.probe=1. */
export const PROBE_MARKER = "capsa-probe-ok";

export function accelCacheFile(paths: Pick<Paths, "root">): string {
  return path.join(paths.root, "vm-accel.json");
}

/** QEMU's arguments for a guest with nothing but the serial console: the probe, the boot tests, the benchmark floor. */
export function bareQemuArgs(o: { kernel: string; initramfs: string; accel: Accel; append: string[]; memoryMiB?: number; serial?: string }): string[] {
  return [
    "-M", "microvm,rtc=on",
    "-accel", o.accel === "kvm" ? "kvm" : "tcg,thread=multi",
    "-cpu", o.accel === "kvm" ? "host" : "max",
    "-m", `${o.memoryMiB ?? 256}M`,
    "-smp", "1",
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-kernel", o.kernel,
    "-initrd", o.initramfs,
    "-append", [...baseKernelArgs(o.accel), ...o.append].join(" "),
    "-serial", o.serial ?? "stdio",
  ];
}

export interface BootResult {
  /** The marker appeared on the console (always false when none was asked for). */
  marker: boolean;
  /** QEMU exited by itself (the guest powered off, or QEMU failed), rather than being killed at the bound. */
  exited: boolean;
  code: number | null;
  /** Wall time from spawn until QEMU exited or was killed. */
  ms: number;
  /** The guest's serial console. */
  console: string;
  /** QEMU's own messages. */
  stderr: string;
}

/**
 * Boots a bare guest (bareQemuArgs) and waits until QEMU exits, killing it
 * (by its pid) at the bound, so that no QEMU outlives the call.
 */
export function bootBare(o: { kernel: string; initramfs: string; accel: Accel; append: string[]; boundMs: number; marker?: string; qemu?: string; memoryMiB?: number }): Promise<BootResult> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(o.qemu ?? qemuBinary(), bareQemuArgs({ ...o, serial: "stdio" }), { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let killed = false;
    let done = false;
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        killed = true;
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
    }, o.boundMs);
    const finish = (code: number | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolve({ marker: o.marker !== undefined && out.includes(o.marker), exited: !killed, code, ms, console: out, stderr: err });
    };
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.once("error", (e) => {
      err += e.message;
      finish(null);
    });
    child.once("close", (code) => finish(code));
  });
}

/** Why a KVM boot did not show the marker, in a few words. */
function whyNot(r: BootResult, boundMs: number): string {
  if (!r.exited) return `no sign of life within ${boundMs / 1000} s`;
  const msg = r.stderr
    .split("\n")
    .map((l) => l.replace(/^qemu-system-x86_64: /, "").replace(/^error: /, "").trim())
    .find((l) => l && !l.startsWith("warning:"));
  return msg ? `QEMU failed: ${msg}` : `the guest stopped without reaching init (exit ${r.code})`;
}

function kvmOpenable(): boolean {
  try {
    fs.closeSync(fs.openSync("/dev/kvm", "r+"));
    return true;
  } catch {
    return false;
  }
}

function cacheKey(kernel: string): string {
  let k = `${kernel}|missing`;
  try {
    const st = fs.statSync(kernel);
    k = `${kernel}|${st.size}|${Math.trunc(st.mtimeMs)}`;
  } catch {
    /* keyed as missing */
  }
  return [k, os.release(), fs.existsSync("/dev/kvm") ? "kvm" : "no-kvm"].join("|");
}

interface CacheEntry {
  key: string;
  verdict: AccelVerdict;
  checkedAt: string;
}

function readCache(paths: Pick<Paths, "root">): CacheEntry | undefined {
  try {
    const c = JSON.parse(fs.readFileSync(accelCacheFile(paths), "utf8")) as Partial<CacheEntry>;
    if (typeof c.key === "string" && (c.verdict?.accel === "kvm" || c.verdict?.accel === "tcg") && typeof c.verdict.detail === "string") return c as CacheEntry;
  } catch {
    /* no verdict yet */
  }
  return undefined;
}

function writeCache(paths: Pick<Paths, "root">, entry: CacheEntry): void {
  try {
    fs.mkdirSync(paths.root, { recursive: true });
    const file = accelCacheFile(paths);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(entry, null, 2) + "\n");
    fs.renameSync(tmp, file);
  } catch {
    /* an unwritable cache costs another probe next time */
  }
}

export async function probeAccel(paths: Pick<Paths, "root">, env: NodeJS.ProcessEnv = process.env, onProbe?: () => void): Promise<AccelVerdict> {
  const forced = env.CAPSA_VM_ACCEL;
  if (forced === "kvm" || forced === "tcg") {
    return { accel: forced, detail: forced === "kvm" ? "KVM (set by CAPSA_VM_ACCEL)" : "TCG (software emulation; set by CAPSA_VM_ACCEL)" };
  }
  const ignored = forced ? `; CAPSA_VM_ACCEL=${forced} ignored (kvm or tcg)` : "";
  if (!fs.existsSync("/dev/kvm")) return { accel: "tcg", detail: `TCG (software emulation): no /dev/kvm${ignored}` };
  if (!kvmOpenable()) return { accel: "tcg", detail: `TCG (software emulation): /dev/kvm cannot be opened${ignored}` };
  const assets = vmAssets(env);
  if (!fs.existsSync(assets.kernel) || !fs.existsSync(assets.initramfs)) return { accel: "tcg", detail: `TCG (KVM not probed: VM assets missing in ${assets.dir})${ignored}` };
  const key = cacheKey(assets.kernel);
  const cached = readCache(paths);
  if (cached?.key === key) return { ...cached.verdict, detail: cached.verdict.detail + ignored };
  onProbe?.(); // a test boot takes seconds: the caller may say so
  const r = await bootBare({ kernel: assets.kernel, initramfs: assets.initramfs, accel: "kvm", append: ["capsa.probe=1"], boundMs: PROBE_BOUND_MS, marker: PROBE_MARKER, qemu: qemuBinary(env) });
  const verdict: AccelVerdict = r.marker
    ? { accel: "kvm", detail: `KVM (a test guest booted in ${(r.ms / 1000).toFixed(2)} s)` }
    : { accel: "tcg", detail: `TCG (software emulation): KVM present but cannot boot a guest (${whyNot(r, PROBE_BOUND_MS)})` };
  writeCache(paths, { key, verdict, checkedAt: new Date().toISOString() });
  return { ...verdict, detail: verdict.detail + ignored };
}
