// The micro-VM's boot assets and the accelerator probe, for real: the assets
// scripts/setup.sh made (Debian's cloud kernel, the initramfs), guest/init
// booted by QEMU on the accelerator capsa chooses here, the probe's cache and
// its override, and scripts/vm-assets.sh itself into a private directory.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { after, describe, it } from "node:test";
import { rawQemuBoot } from "../../bench/systems/qemu-raw.ts";
import { accelCacheFile, bootBare, probeAccel, PROBE_MARKER, type Accel } from "../../src/vm/host/accel.ts";
import { checkVmAssets, readVmManifest, vmAssets } from "../../src/vm/host/assets.ts";
import { vmStatus } from "../../src/vm/host/status.ts";
import { REPO } from "../helpers.ts";

/** A TCG boot takes 2–3 s on this 2-core host, more when it is busy; a bound only so that nothing hangs. */
const BOOT_BOUND_MS = 60_000;

const made: string[] = [];
function tmpDir(label: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `capsa-vm-${label}-`));
  made.push(d);
  return d;
}

/** The files of a gzip'd newc cpio archive: name → mode and contents. */
function readInitramfs(file: string): Map<string, { mode: number; data: Buffer }> {
  const buf = zlib.gunzipSync(fs.readFileSync(file));
  const files = new Map<string, { mode: number; data: Buffer }>();
  let off = 0;
  const align = (n: number): number => (n + 3) & ~3;
  for (;;) {
    assert.equal(buf.toString("latin1", off, off + 6), "070701", `newc header at ${off}`);
    const field = (i: number): number => parseInt(buf.toString("latin1", off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = buf.toString("utf8", off + 110, off + 110 + nameSize - 1);
    const dataAt = align(off + 110 + nameSize);
    if (name === "TRAILER!!!") return files;
    files.set(name.replace(/^\.\//, ""), { mode, data: buf.subarray(dataAt, dataAt + size) });
    off = align(dataAt + size);
  }
}

void describe("VM boot assets and the accelerator probe", { timeout: 10 * 60_000 }, () => {
  after(() => {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });

  void it("setup made the kernel, the initramfs and the manifest", () => {
    assert.equal(checkVmAssets(), undefined);
    const a = vmAssets();
    const m = readVmManifest();
    assert.ok(m, `manifest in ${a.manifest}`);
    assert.match(m.kernelPackage, /^linux-image-\d.*-cloud-amd64$/);
    assert.match(m.kernelRelease, /-cloud-amd64$/);
    assert.match(m.inputs, /^sha256:[0-9a-f]{64}$/);
    assert.equal(path.basename(a.kernel), m.kernel ?? "vmlinuz", "QEMU boots the file the manifest names");
    assert.ok(fs.existsSync(path.join(a.dir, "vmlinuz")), "the package's bzImage is kept");
    if (path.basename(a.kernel) === "vmlinux") {
      const head = Buffer.alloc(4);
      const fd = fs.openSync(a.kernel, "r");
      fs.readSync(fd, head, 0, 4, 0);
      fs.closeSync(fd);
      assert.equal(head.toString("latin1"), "\x7fELF", "the uncompressed kernel is an ELF (booted through PVH)");
    }

    const files = readInitramfs(a.initramfs);
    for (const f of ["init", "bin/busybox", "sbin/capsa-agent", "lib/modules/load-order"]) assert.ok(files.has(f), `${f} in the initramfs`);
    assert.equal(files.get("init")!.data.toString(), fs.readFileSync(path.join(REPO, "guest", "init"), "utf8"), "/init is guest/init (if not: the assets are stale, run scripts/setup.sh)");
    assert.ok(files.get("sbin/capsa-agent")!.mode & 0o111, "the agent is executable");
    assert.equal((files.get("dev/console")!.mode & 0o170000), 0o020000, "/dev/console is a character device, for PID 1's stdio");
    const lines = files.get("lib/modules/load-order")!.data.toString().trim().split("\n").map((l) => l.split(" "));
    const order = lines.map(([mod]) => mod!);
    assert.deepEqual(order, m.modules);
    // a driver is loaded only for a device the VM has: its line names the virtio device ids; the bus and transport come first, for every VM
    const ids = new Map(lines.map(([mod, ...rest]) => [mod!, rest.join(" ")]));
    assert.deepEqual(order.slice(0, 3), ["virtio_ring", "virtio", "virtio_mmio"]);
    for (const mod of ["virtio_ring", "virtio", "virtio_mmio"]) assert.equal(ids.get(mod), "", `${mod} is loaded whatever the devices`);
    assert.equal(ids.get("virtio_blk"), "0x0002");
    assert.equal(ids.get("virtio_console"), "0x0003");
    for (const mod of ["failover", "net_failover", "virtio_net"]) assert.equal(ids.get(mod), "0x0001", `${mod} only with a NIC`);
    for (const mod of ["fuse", "virtiofs"]) assert.equal(ids.get(mod), "0x001a", `${mod} only with virtio-fs shares`);
    for (const mod of order) assert.ok(files.has(`lib/modules/${mod}.ko`), `${mod}.ko in the initramfs`);
    // dependencies before what needs them; ext4 and af_packet are built into the cloud kernel
    const at = (x: string): number => order.indexOf(x);
    for (const mod of ["virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "virtio_console", "virtio_net", "fuse", "virtiofs"]) assert.ok(at(mod) >= 0, `${mod} is loaded`);
    assert.ok(at("virtio_ring") < at("virtio") && at("virtio") < at("virtio_mmio") && at("virtio_mmio") < at("virtio_blk"));
    assert.ok(at("net_failover") < at("virtio_net") && at("fuse") < at("virtiofs"));
  });

  void it("the initramfs boots on the accelerator capsa chooses: guest/init loads the modules, prints the probe marker and powers off", async (t) => {
    const root = tmpDir("root");
    const { accel } = await probeAccel({ root });
    const a = vmAssets();
    const r = await bootBare({ kernel: a.kernel, initramfs: a.initramfs, accel, append: ["capsa.probe=1"], boundMs: BOOT_BOUND_MS, marker: PROBE_MARKER });
    assert.ok(r.exited, `QEMU powered off by itself within ${BOOT_BOUND_MS / 1000} s; console: ${r.console}`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.marker, `marker on the console: ${r.console}`);
    assert.doesNotMatch(r.console, /capsa-init:/, "no failure reported");
    t.diagnostic(`${accel}: boot → modules → marker → power-off in ${Math.round(r.ms)} ms`);
  });

  void it("guest/init powers off with a one-line reason when it cannot go on (eth0 asked for, no NIC)", async () => {
    const root = tmpDir("root");
    const { accel } = await probeAccel({ root });
    const a = vmAssets();
    const r = await bootBare({ kernel: a.kernel, initramfs: a.initramfs, accel, append: ["capsa.ip=10.0.2.15/24"], boundMs: BOOT_BOUND_MS });
    assert.ok(r.exited, `QEMU powered off by itself; console: ${r.console}`);
    assert.match(r.console, /^capsa-init: no eth0\b.*$/m);
  });

  void it("the raw boot the benchmark compares with powers off by itself", async (t) => {
    const root = tmpDir("root");
    const { accel } = await probeAccel({ root });
    const ms = await rawQemuBoot(vmAssets(), accel);
    assert.ok(ms > 0);
    t.diagnostic(`${accel}: raw boot (init = poweroff -f) in ${Math.round(ms)} ms`);
  });

  void it("the probe's verdict is cached under the state root and reused while its key holds", async (t) => {
    if (!fs.existsSync("/dev/kvm")) return t.skip("no /dev/kvm: TCG without a probe, nothing to cache");
    const root = tmpDir("root");
    const first = await probeAccel({ root }, {});
    const file = accelCacheFile({ root });
    assert.ok(fs.existsSync(file), "verdict written");
    const entry = JSON.parse(fs.readFileSync(file, "utf8")) as { key: string; verdict: { accel: Accel; detail: string } };
    assert.deepEqual(entry.verdict, first);
    assert.ok(entry.key.includes(vmAssets({}).kernel) && entry.key.includes(os.release()), entry.key);
    if (first.accel === "tcg") assert.match(first.detail, /^TCG \(software emulation\): KVM present but cannot boot a guest \(.+\)$/);

    // A verdict the probe could not have made proves the second call read the cache.
    fs.writeFileSync(file, JSON.stringify({ ...entry, verdict: { accel: first.accel, detail: "from the cache" } }));
    assert.deepEqual(await probeAccel({ root }, {}), { accel: first.accel, detail: "from the cache" });

    // Another kernel (or host kernel, or /dev/kvm) means another key: probed again.
    fs.writeFileSync(file, JSON.stringify({ ...entry, key: "another kernel", verdict: { accel: first.accel, detail: "stale" } }));
    assert.deepEqual(await probeAccel({ root }, {}), first);
  });

  void it("CAPSA_VM_ACCEL picks the accelerator without probing; other values are ignored, and said so", async () => {
    const root = tmpDir("root");
    assert.deepEqual(await probeAccel({ root }, { CAPSA_VM_ACCEL: "tcg" }), { accel: "tcg", detail: "TCG (software emulation; set by CAPSA_VM_ACCEL)" });
    assert.deepEqual(await probeAccel({ root }, { CAPSA_VM_ACCEL: "kvm" }), { accel: "kvm", detail: "KVM (set by CAPSA_VM_ACCEL)" });
    assert.ok(!fs.existsSync(accelCacheFile({ root })), "no probe ran");
    const v = await probeAccel({ root }, { CAPSA_VM_ACCEL: "fast" });
    assert.match(v.detail, /CAPSA_VM_ACCEL=fast ignored \(kvm or tcg\)$/);
  });

  void it("vm status: available, with the accelerator and the guest kernel; missing assets say what to run", async () => {
    const root = tmpDir("root");
    const s = await vmStatus({ root });
    assert.equal(s.available, true, s.detail);
    assert.match(s.detail, /^available \((KVM|TCG).*; guest kernel .*-cloud-amd64\)$/);
    const empty = tmpDir("assets");
    const missing = await vmStatus({ root }, { ...process.env, CAPSA_VM_ASSETS: empty });
    assert.deepEqual(missing, { available: false, detail: `VM assets missing in ${empty} (vmlinuz, initramfs.img, manifest.json): run scripts/setup.sh` });
  });

  void it("scripts/vm-assets.sh builds into CAPSA_VM_ASSETS from the package mirror, then leaves what is up to date alone", () => {
    const dest = path.join(tmpDir("build"), "vm");
    const env = { ...process.env, CAPSA_VM_ASSETS: dest };
    const first = spawnSync("bash", [path.join(REPO, "scripts", "vm-assets.sh")], { env, encoding: "utf8", timeout: 5 * 60_000 });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /ready in /);
    assert.equal(checkVmAssets(env), undefined);
    const m = readVmManifest(env);
    assert.deepEqual(m?.inputs, readVmManifest()?.inputs, "the same inputs as setup's assets (if not: they are stale, run scripts/setup.sh)");
    const stamp = (f: string): number => fs.statSync(path.join(dest, f)).mtimeMs;
    const before = ["initramfs.img", "manifest.json", "vmlinuz"].map(stamp);
    const again = spawnSync("bash", [path.join(REPO, "scripts", "vm-assets.sh")], { env, encoding: "utf8", timeout: 60_000 });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /up to date/);
    assert.deepEqual(["initramfs.img", "manifest.json", "vmlinuz"].map(stamp), before, "nothing rewritten");
  });

  void it("scripts/vm-assets.sh fails clearly without the agent's source", () => {
    const repo = tmpDir("repo");
    fs.mkdirSync(path.join(repo, "scripts"));
    fs.mkdirSync(path.join(repo, "guest"));
    fs.copyFileSync(path.join(REPO, "scripts", "vm-assets.sh"), path.join(repo, "scripts", "vm-assets.sh"));
    fs.copyFileSync(path.join(REPO, "guest", "init"), path.join(repo, "guest", "init"));
    const r = spawnSync("bash", [path.join(repo, "scripts", "vm-assets.sh")], { env: { ...process.env, CAPSA_VM_ASSETS: path.join(repo, "out") }, encoding: "utf8" });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /^\[vm-assets\] error: guest\/agent\.c .* is missing$/m);
    assert.ok(!fs.existsSync(path.join(repo, "out")), "nothing written");
  });
});
