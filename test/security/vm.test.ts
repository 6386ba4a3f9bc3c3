// A VM's workload is confined inside the guest as a container is on the host
// (capabilities, seccomp, no_new_privs, namespaces, pivot_root, masked and
// read-only paths, read-only root, user and groups), and cannot reach the
// agent, its ports or the files the host keeps for the VM. Each VM boots in a
// few seconds under TCG, so one boot runs many probes, one line each, and
// the same probes run in a container with the same flags for comparison.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import os from "node:os";
import { eventually, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { GUEST_FILE_CAPS, runFiles, wrapperScript } from "../../src/vm/shim/qemu.ts";
import { COMPARED_WITH_SYS_ADMIN, parseProbes, probeScript, sameAsContainer } from "./probes.ts";

let t: TestRoot;
const VM_TIMEOUT = 180_000;
type R = { status: number | null; stderr: string; stdout: string };

/** Only in the guest: the agent, its files, its ports and the kernel console. */
const GUEST_PROBES = String.raw`
echo "pid1=$(tr '\0' ' ' </proc/1/cmdline | cut -c1-12)"
echo "agent-procs=$(cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^capsa-agent$')"
echo "agent-files=$(ls -d /sbin/capsa-agent /init /lib/modules/load-order /newroot 2>/dev/null | wc -l)"
echo "vports=$(ls /dev | grep -c '^vport')"
# the status port and the console, reached through nodes of their own: 32 MiB each if they could be written
st=; for d in /sys/class/virtio-ports/*; do [ "$(cat $d/name 2>/dev/null)" = capsa.status ] && st=$(cat $d/dev); done
p status-port sh -c "mknod /tmp/.st c $(echo $st | tr : ' ') && head -c 33554432 /dev/zero > /tmp/.st"
p console sh -c 'mknod /tmp/.con c 5 1 && head -c 33554432 /dev/zero > /tmp/.con'
p kmsg sh -c 'mknod /tmp/.kmsg c 1 11 && echo capsa-probe > /tmp/.kmsg'
echo "ping-groups=$(tr '\t' ' ' </proc/sys/net/ipv4/ping_group_range)"
p disk sh -c 'mknod /tmp/.vda b $(cat /sys/block/vda/dev | tr : " ") && head -c 1 /tmp/.vda'
`;

function run(flags: string[], isolation: "vm" | "container", script: string): Map<string, string> {
  const r: R = t.capsa(["run", "--rm", "--pull", "never", "--isolation", isolation, ...flags, "busybox", "sh", "-c", script], { timeoutMs: VM_TIMEOUT });
  assert.equal(r.status, 0, `run --isolation ${isolation} ${flags.join(" ")}: ${r.stderr}`);
  return parseProbes(r.stdout);
}

/** The host-side run directory of the one VM running (its bundle names it). */
function findRunDir(): string {
  const r = spawnSync("find", [t.root, "-name", "vm-run-dir"], { encoding: "utf8" });
  const found = r.stdout.trim().split("\n").filter(Boolean);
  assert.equal(found.length, 1, `one vm-run-dir: ${r.stdout} ${r.stderr}`);
  const f = found[0]!;
  return fs.readFileSync(f, "utf8").trim();
}

void describe("vm workload confinement", { timeout: 20 * 60_000 }, () => {
  before(() => {
    t = makeTestRoot("vmsec");
    importBusybox(t);
  });
  after(() => t.cleanup());

  void it("a default VM workload and a VM exec are denied what a default container is denied, and reach neither the agent nor the host's files for the VM", async () => {
    const ctr = run([], "container", probeScript());
    // the expected denials, so that an unconfined container would not pass either
    for (const k of ["mount", "hostname", "settime", "netadmin", "modprobe-path", "procsys", "sysrq", "sysfs", "kcore", "userns", "devmem"]) assert.equal(ctr.get(k), "denied", `container: ${k}`);
    assert.equal(ctr.get("seccomp"), "2");

    const id = "vmsec-default";
    const started: R = t.capsa(["run", "-d", "--name", id, "--pull", "never", "--isolation", "vm", "busybox", "sh", "-c", `${probeScript()}${GUEST_PROBES}echo probes-done; sleep 600`], { timeoutMs: VM_TIMEOUT });
    assert.equal(started.status, 0, started.stderr);
    try {
      const out = await eventually(() => {
        const l: R = t.capsa(["logs", id]);
        assert.match(l.stdout, /probes-done/);
        return l.stdout;
      }, 120_000);
      const vm = parseProbes(out);
      sameAsContainer(vm, ctr, "workload");
      assert.match(vm.get("pid1") ?? "", /^sh -c /, "the workload is PID 1 of its own pid namespace");
      assert.equal(vm.get("agent-procs"), "0", "the agent's process is not visible");
      assert.equal(vm.get("agent-files"), "0", "the agent's files are not in the workload's root");
      assert.equal(vm.get("vports"), "0", "the virtio ports are not in the workload's /dev");
      for (const k of ["status-port", "console", "kmsg", "disk"]) assert.equal(vm.get(k), "denied", `${k} is out of reach`);
      assert.equal(vm.get("ping-groups"), "0 2147483647", "the spec's sysctls apply in the guest (ICMP sockets without CAP_NET_RAW, as in a container)");

      // an exec joins the workload's namespaces and is confined alike
      const ex: R = t.capsa(["exec", id, "sh", "-c", probeScript() + GUEST_PROBES], { timeoutMs: VM_TIMEOUT });
      assert.equal(ex.status, 0, ex.stderr);
      const exv = parseProbes(ex.stdout);
      sameAsContainer(exv, ctr, "exec");
      assert.equal(exv.get("pid1"), "sleep 600 ", "an exec sees the workload (sh exec'd its last command) as PID 1");
      assert.equal(exv.get("agent-procs"), "0");
      assert.equal(exv.get("agent-files"), "0");

      // what the host keeps for the VM stayed small
      const runDir = findRunDir();
      // QEMU itself runs under its seccomp filter and, once started, as nobody
      const qemuStatus = fs.readFileSync(`/proc/${fs.readFileSync(path.join(runDir, "qemu.pid"), "utf8").trim()}/status`, "utf8");
      const nobody = spawnSync("id", ["-u", "nobody"], { encoding: "utf8" }).stdout.trim();
      assert.match(qemuStatus, new RegExp(`^Uid:\\s+${nobody}\\s+${nobody}\\s+${nobody}\\s+${nobody}$`, "m"), "QEMU runs as nobody");
      assert.match(qemuStatus, /^Seccomp:\s+2$/m, "QEMU runs under its seccomp sandbox");
      for (const f of ["exit-status", "console.log"]) {
        const size = fs.existsSync(path.join(runDir, f)) ? fs.statSync(path.join(runDir, f)).size : 0;
        assert.ok(size < 1024 * 1024, `${f} is ${size} bytes`);
      }
    } finally {
      t.capsa(["rm", "-f", id], { timeoutMs: VM_TIMEOUT });
    }
  });

  void it("--cap-add SYS_ADMIN, --security-opt seccomp=unconfined and --read-only mean the same in a VM as in a container", () => {
    const flags = ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--read-only"];
    const ctr = run(flags, "container", probeScript());
    const vm = run(flags, "vm", probeScript());
    sameAsContainer(vm, ctr, flags.join(" "), COMPARED_WITH_SYS_ADMIN);
    assert.equal(vm.get("mount"), "allowed", "CAP_SYS_ADMIN allows mount");
    assert.equal(vm.get("userns"), "allowed", "no seccomp filter");
    assert.equal(vm.get("seccomp"), "0");
    assert.equal(vm.get("rw-root"), "denied", "the root is read-only");
  });

  void it("-u, --group-add and no-new-privileges mean the same in a VM as in a container: no capabilities left", () => {
    const flags = ["-u", "1000:1000", "--group-add", "123", "--security-opt", "no-new-privileges"];
    const ctr = run(flags, "container", probeScript());
    const vm = run(flags, "vm", probeScript());
    sameAsContainer(vm, ctr, flags.join(" "));
    assert.equal(vm.get("ids"), "1000 1000 123");
    assert.equal(vm.get("capeff"), "0000000000000000");
    assert.equal(vm.get("nnp"), "1");
  });
});

// A guest whose kernel is the attacker's writes what it likes to the serial
// console and the status port, and can make QEMU print without end. The
// wrapper that runs QEMU is run here as the VM runtime runs it, with a
// stand-in for QEMU that floods its console, status port and stderr with
// 100 MiB each: the files the host keeps stay within their caps.
void describe("host-side bounds on what a guest writes", () => {
  void it("console.log, exit-status and qemu.log stay within their caps", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-vm-flood-"));
    try {
      const fakeQemu = path.join(dir, "qemu");
      fs.writeFileSync(fakeQemu, [
        "#!/bin/sh",
        "for a; do case $a in file:*) con=${a#file:} ;; *id=status,path=*) st=${a#*path=} ;; esac; done",
        'head -c 104857600 /dev/zero >"$con" & head -c 104857600 /dev/zero >"$st" & head -c 104857600 /dev/zero >&2',
        "wait",
        "exit 0",
      ].join("\n") + "\n", { mode: 0o755 });
      const runDir = path.join(dir, "run");
      const wrapper = path.join(dir, "vm-run.sh");
      fs.writeFileSync(wrapper, wrapperScript({
        qemu: fakeQemu, virtiofsd: "/bin/false", kernel: "k", initramfs: "i", disk: "d", accel: "tcg", memoryMiB: 128, cpus: 1, runDir, shared: [],
      }));
      const r = spawnSync("/bin/sh", [wrapper], { encoding: "utf8", timeout: 120_000, stdio: ["ignore", "pipe", "pipe"] });
      assert.equal(r.error, undefined);
      const f = runFiles(runDir);
      const size = (p: string): number => fs.statSync(p).size;
      assert.equal(size(f.console), GUEST_FILE_CAPS.console, "console.log: the first MiB is kept");
      assert.equal(size(f.status), GUEST_FILE_CAPS.status);
      assert.equal(size(f.qemuLog), GUEST_FILE_CAPS.qemuLog);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
