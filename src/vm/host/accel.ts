// KVM or TCG. /dev/kvm can exist and still not boot an ordinary guest (a
// nested, paravirtual KVM hangs at early boot), so "usable" is decided by
// booting the real guest kernel once under KVM with a tight bound and looking
// for guest/init's marker. The verdict is cached under the state root, keyed
// by the kernel file, the host's kernel and /dev/kvm, and re-probed only when
// one of those changes. CAPSA_VM_ACCEL=kvm|tcg skips the probe.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Paths } from "../../engine/paths.ts";
import { qemuBinary, vmAssets } from "./assets.ts";

export interface AccelVerdict {
  accel: "kvm" | "tcg";
  /** For people: which one and why ("KVM present but cannot boot a guest; using TCG (software emulation)"). */
  detail: string;
}

const PROBE_BOUND_MS = 4000;
const MARKER = "capsa-probe-ok";

function cacheFile(paths: Pick<Paths, "root">): string {
  return path.join(paths.root, "vm-accel.json");
}

function kvmUsable(): boolean {
  try {
    fs.closeSync(fs.openSync("/dev/kvm", "r+"));
    return true;
  } catch {
    return false;
  }
}

function cacheKey(kernel: string): string {
  let k = "no-kernel";
  try {
    const st = fs.statSync(kernel);
    k = `${kernel}|${st.size}|${Math.trunc(st.mtimeMs)}`;
  } catch {
    /* keyed as missing */
  }
  return [k, os.release(), fs.existsSync("/dev/kvm") ? "kvm" : "no-kvm"].join("|");
}

/** Boots the guest under KVM with guest/init's probe flag: ok when the marker arrives within the bound, else why not. */
export function bootsUnderKvm(kernel: string, initramfs: string, boundMs = PROBE_BOUND_MS): Promise<{ ok: boolean; why: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      qemuBinary(),
      ["-M", "microvm,rtc=on", "-accel", "kvm", "-cpu", "host", "-m", "256M", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", kernel, "-initrd", initramfs, "-append", "console=ttyS0 quiet panic=-1 reboot=t capsa.probe=1", "-serial", "stdio"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    let done = false;
    const finish = (ok: boolean, why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.pid) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
      resolve({ ok, why });
    };
    const timer = setTimeout(() => finish(false, `no sign of life within ${boundMs / 1000} s`), boundMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (out.includes(MARKER)) finish(true, "");
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.once("error", (e) => finish(false, e.message));
    child.once("exit", () => finish(out.includes(MARKER), `QEMU stopped: ${err.trim().split("\n")[0]?.replace(/^qemu-system-x86_64: /, "") || "no output"}`));
  });
}

export async function probeAccel(paths: Pick<Paths, "root">, env: NodeJS.ProcessEnv = process.env): Promise<AccelVerdict> {
  const forced = env.CAPSA_VM_ACCEL;
  if (forced === "kvm" || forced === "tcg") return { accel: forced, detail: `${forced.toUpperCase()} (CAPSA_VM_ACCEL)` };
  if (!fs.existsSync("/dev/kvm")) return { accel: "tcg", detail: "TCG (software emulation): no /dev/kvm" };
  if (!kvmUsable()) return { accel: "tcg", detail: "TCG (software emulation): /dev/kvm cannot be opened" };
  const assets = vmAssets(env);
  const key = cacheKey(assets.kernel);
  try {
    const cached = JSON.parse(fs.readFileSync(cacheFile(paths), "utf8")) as { key: string; verdict: AccelVerdict };
    if (cached.key === key) return cached.verdict;
  } catch {
    /* no verdict yet */
  }
  const probe = await bootsUnderKvm(assets.kernel, assets.initramfs);
  const verdict: AccelVerdict = probe.ok ? { accel: "kvm", detail: "KVM" } : { accel: "tcg", detail: `TCG (software emulation): KVM present but cannot boot a guest (${probe.why})` };
  try {
    fs.mkdirSync(paths.root, { recursive: true });
    const tmp = `${cacheFile(paths)}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ key, verdict, checkedAt: new Date().toISOString() }, null, 2) + "\n");
    fs.renameSync(tmp, cacheFile(paths));
  } catch {
    /* an unwritable cache costs another probe next time */
  }
  return verdict;
}
