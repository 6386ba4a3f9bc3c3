// `--isolation vm` end to end: the real CLI, conmon, capsa-vm-runtime, QEMU
// (TCG here: this host's KVM cannot boot a guest), Debian's kernel and the
// guest agent. Each VM boots in a few seconds under TCG, so the tests share
// VMs where one VM can prove several things.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CLI, eventually, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { freePort, freeSubnet, leftovers } from "../network/fixtures.ts";

let t: TestRoot;
const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-vm-bind-"));
type R = { status: number | null; stderr: string; stdout: string };
const ok = (r: R, what: string): string => {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};
const VM_TIMEOUT = 120_000;

/** QEMU (and virtiofsd) processes that belong to this state root: their command lines name its paths. */
function vmProcesses(): string[] {
  const r = spawnSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" });
  return r.stdout.split("\n").filter((l) => l.includes(t.root) && /qemu-system|virtiofsd/.test(l));
}

void describe("isolation vm", { timeout: 15 * 60_000 }, () => {
  before(() => {
    t = makeTestRoot("vm");
    importBusybox(t);
  });
  after(() => {
    t.cleanup();
    fs.rmSync(hostDir, { recursive: true, force: true });
    assert.deepEqual(vmProcesses(), [], "no QEMU or virtiofsd left behind");
  });

  void it("runs the workload on the guest's kernel with stdin, keeps stdout and stderr apart, returns its exit code; --rm leaves nothing", () => {
    const r = t.capsa(["run", "-i", "--rm", "--pull", "never", "--isolation", "vm", "busybox", "sh", "-c", "cat; uname -r; echo to-stderr >&2; exit 3"], { timeoutMs: VM_TIMEOUT, input: "through-stdin\n" });
    assert.equal(r.status, 3, r.stderr);
    const [fromStdin, guestKernel = ""] = r.stdout.trim().split("\n");
    assert.equal(fromStdin, "through-stdin", "stdin reaches the guest, and its end ends cat");
    assert.match(guestKernel, /^\d+\.\d+\.\d+/);
    assert.notEqual(guestKernel, os.release(), "a VM runs its own kernel");
    assert.match(r.stderr, /to-stderr/);
    assert.doesNotMatch(r.stdout, /to-stderr/);
    assert.equal(ok(t.capsa(["ps", "-aq"]), "ps").trim(), "");
    assert.deepEqual(vmProcesses(), []);
    assert.deepEqual(fs.readdirSync(path.join(t.root, "containers")), [], "the VM's disk and bundle are gone");
  });

  void it("a container sees the host's kernel, for contrast", () => {
    const r = t.capsa(["run", "--rm", "--pull", "never", "busybox", "uname", "-r"]);
    assert.equal(ok(r, "run").trim(), os.release());
  });

  void it("fails like docker when the command does not exist (127), and CAPSA_ISOLATION picks the default level", () => {
    const r = t.capsa(["run", "--rm", "--pull", "never", "busybox", "no-such-command"], { timeoutMs: VM_TIMEOUT, env: { CAPSA_ISOLATION: "vm" } });
    assert.equal(r.status, 127, r.stderr);
    assert.match(r.stderr, /executable file not found/);
    assert.deepEqual(vmProcesses(), []);
  });

  void it("rejects what a VM cannot do, before creating anything", () => {
    const small = t.capsa(["run", "--rm", "--pull", "never", "--isolation", "vm", "-m", "64m", "busybox", "true"]);
    assert.equal(small.status, 125);
    assert.match(small.stderr, /at least 128 MiB/);
    const bad = t.capsa(["run", "--rm", "--pull", "never", "--isolation", "hyperv", "busybox", "true"]);
    assert.equal(bad.status, 125);
    assert.match(bad.stderr, /invalid isolation.*hyperv/);
    assert.equal(ok(t.capsa(["ps", "-aq"]), "ps").trim(), "");
  });

  void it("detached: logs by stream, exec, bind mount, stop with SIGTERM, writes survive a restart", async () => {
    const script = [
      "echo out-line",
      "echo err-line >&2",
      "echo from-vm > /data/written-by-vm",
      "echo in-volume > /vol/by-vm",
      "[ -f /keep ] && echo restarted || echo first > /keep",
      'trap "echo got-term; exit 0" TERM',
      "while :; do sleep 0.2; done",
    ].join("; ");
    ok(t.capsa(["run", "-d", "--pull", "never", "--name", "v1", "--isolation", "vm", "-m", "256m", "--cpus", "1", "-v", `${hostDir}:/data`, "-v", `vmvol${process.pid}:/vol`, "busybox", "sh", "-c", script], { timeoutMs: VM_TIMEOUT }), "run -d");
    await eventually(() => assert.equal(fs.readFileSync(path.join(hostDir, "written-by-vm"), "utf8"), "from-vm\n"), 60_000);

    const inspect = JSON.parse(ok(t.capsa(["inspect", "v1"]), "inspect")) as { State: { Running: boolean }; Capsa: { Isolation: string; Runtime: string } }[];
    assert.equal(inspect[0]!.Capsa.Isolation, "vm");
    assert.equal(inspect[0]!.Capsa.Runtime, "capsa-vm-runtime");
    assert.equal(inspect[0]!.State.Running, true);

    // exec: output, exit code, the guest's view of its own files and kernel
    const ex = t.capsa(["exec", "v1", "sh", "-c", "cat /keep; uname -r; exit 4"], { timeoutMs: VM_TIMEOUT });
    assert.equal(ex.status, 4, ex.stderr);
    const [kept, execKernel] = ex.stdout.trim().split("\n");
    assert.equal(kept, "first");
    assert.notEqual(execKernel, os.release());
    const piped = t.capsa(["exec", "-i", "v1", "sh", "-c", "cat; echo e >&2"], { input: "through-stdin\n" });
    assert.equal(piped.stdout, "through-stdin\n");
    assert.match(piped.stderr, /^e$/m);
    // the guest's size is the container's limits; exec takes user, working directory and environment
    const [cpus, memLine, who] = ok(t.capsa(["exec", "-u", "1000", "-w", "/tmp", "-e", "FOO=bar", "v1", "sh", "-c", "nproc; grep MemTotal /proc/meminfo; echo $(id -u) $(pwd) $FOO"]), "exec -u -w -e").trim().split("\n");
    assert.equal(cpus, "1", "--cpus 1: one vCPU");
    const memKiB = Number(/MemTotal:\s+(\d+)/.exec(memLine ?? "")?.[1]);
    assert.ok(memKiB > 150 * 1024 && memKiB <= 256 * 1024, `-m 256m: the guest has ${memKiB} KiB`);
    assert.equal(who, "1000 /tmp bar");
    // a named volume is shared like a bind mount
    const volDir = ok(t.capsa(["volume", "inspect", "-f", "{{.Mountpoint}}", `vmvol${process.pid}`]), "volume inspect").trim();
    await eventually(() => assert.equal(fs.readFileSync(path.join(volDir, "by-vm"), "utf8"), "in-volume\n"), 30_000);
    // a real terminal for exec -it (script(1) gives the CLI one)
    const tty = spawnSync("script", ["-qfec", `${CLI} exec -it v1 sh -c 'tty; exit 6'`, "/dev/null"], { env: t.env, encoding: "utf8", input: "", timeout: VM_TIMEOUT });
    assert.equal(tty.status, 6, `exec -it: status ${tty.status}, signal ${tty.signal}, error ${tty.error?.message}, stderr ${tty.stderr}, stdout ${JSON.stringify(tty.stdout)}`);
    assert.match(tty.stdout, /\/dev\/pts\/\d+/);
    // the host's file is visible read-write in the guest
    fs.writeFileSync(path.join(hostDir, "from-host"), "host\n");
    assert.equal(ok(t.capsa(["exec", "v1", "cat", "/data/from-host"]), "exec cat bind").trim(), "host");

    const logs = t.capsa(["logs", "v1"]);
    assert.match(logs.stdout, /out-line/);
    assert.doesNotMatch(logs.stdout, /err-line/);
    assert.match(logs.stderr, /err-line/);
    assert.doesNotMatch(logs.stderr, /out-line/);

    const t0 = Date.now();
    ok(t.capsa(["stop", "-t", "20", "v1"], { timeoutMs: VM_TIMEOUT }), "stop");
    assert.ok(Date.now() - t0 < 15_000, "SIGTERM reached the workload (no wait for the timeout)");
    assert.equal(ok(t.capsa(["inspect", "-f", "{{.State.ExitCode}}", "v1"]), "inspect").trim(), "0");
    assert.match(ok(t.capsa(["logs", "v1"]), "logs"), /got-term/);
    assert.deepEqual(vmProcesses(), [], "a stopped VM holds no QEMU");

    ok(t.capsa(["start", "v1"], { timeoutMs: VM_TIMEOUT }), "start again");
    await eventually(() => assert.match(ok(t.capsa(["logs", "v1"]), "logs"), /restarted/), 60_000);
    ok(t.capsa(["rm", "-f", "v1"], { timeoutMs: VM_TIMEOUT }), "rm -f");
    assert.deepEqual(vmProcesses(), []);
  });

  void it("a restart policy restarts a VM whose workload fails", async () => {
    ok(t.capsa(["run", "-d", "--pull", "never", "--name", "flaky", "--restart", "on-failure:1", "--isolation", "vm", "busybox", "sh", "-c", "echo attempt; exit 1"], { timeoutMs: VM_TIMEOUT }), "run -d");
    await eventually(() => assert.equal(ok(t.capsa(["inspect", "-f", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}", "flaky"]), "inspect").trim(), "1 exited 1"), 90_000);
    assert.equal(ok(t.capsa(["logs", "flaky"]), "logs").match(/attempt/g)?.length, 2);
    ok(t.capsa(["rm", "flaky"]), "rm");
    assert.deepEqual(vmProcesses(), []);
  });

  void it("run -it gives the workload a terminal in the guest", () => {
    const r = spawnSync("script", ["-qfec", `${CLI} run --rm -it --pull never --isolation vm busybox sh -c 'tty; stty size; exit 5'`, "/dev/null"], { env: t.env, encoding: "utf8", input: "", timeout: VM_TIMEOUT });
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /^\d+ \d+\r?$/m);
  });

  void it("stop kills a VM whose workload ignores SIGTERM once the timeout has passed (137)", () => {
    ok(t.capsa(["run", "-d", "--pull", "never", "--name", "stubborn", "--isolation", "vm", "busybox", "sh", "-c", 'trap "" TERM; echo ready; while :; do sleep 1; done'], { timeoutMs: VM_TIMEOUT }), "run -d");
    const t0 = Date.now();
    ok(t.capsa(["stop", "-t", "2", "stubborn"], { timeoutMs: VM_TIMEOUT }), "stop");
    const took = Date.now() - t0;
    assert.ok(took >= 1900, `stop waited for the timeout (${took} ms)`);
    assert.equal(ok(t.capsa(["inspect", "-f", "{{.State.ExitCode}}", "stubborn"]), "inspect").trim(), "137");
    ok(t.capsa(["rm", "stubborn"]), "rm");
    assert.deepEqual(vmProcesses(), []);
  });

  void it("a VM and a container on one network reach each other by name; a VM publishes ports", async () => {
    const subnet = freeSubnet();
    const net = `vmnet${process.pid}`;
    ok(t.capsa(["network", "create", "--subnet", subnet, net]), "network create");
    try {
      ok(t.capsa(["run", "-d", "--pull", "never", "--name", "web", "--network", net, "busybox", "sh", "-c", "echo served-to-vm > /var/www/index.html; httpd -f -p 8080 -h /var/www"]), "run web");
      const r = t.capsa(["run", "--rm", "--pull", "never", "--network", net, "--isolation", "vm", "busybox", "wget", "-qO-", "http://web:8080/"], { timeoutMs: VM_TIMEOUT });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), "served-to-vm");
      // and the other way round: a VM serving, a container and the host (published port) asking
      const port = await freePort();
      ok(t.capsa(["run", "-d", "--pull", "never", "--name", "vmweb", "--network", net, "--isolation", "vm", "-p", `127.0.0.1:${port}:8080`, "busybox", "sh", "-c", "mkdir -p /www; echo served-by-vm > /www/index.html; httpd -f -p 8080 -h /www"], { timeoutMs: VM_TIMEOUT }), "run vmweb");
      const fromContainer = await eventually(() => ok(t.capsa(["run", "--rm", "--pull", "never", "--network", net, "busybox", "wget", "-qO-", "http://vmweb:8080/"]), "wget vmweb"), 60_000);
      assert.equal(fromContainer.trim(), "served-by-vm");
      const fromHost = await eventually(async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) })).text(), 60_000);
      assert.equal(fromHost.trim(), "served-by-vm");
    } finally {
      t.capsa(["rm", "-f", "web", "vmweb"], { timeoutMs: VM_TIMEOUT });
      t.capsa(["network", "rm", net]);
    }
    const left = leftovers(t.root, { bridges: [], subnets: [subnet], ports: [], baselineVeths: new Set() });
    assert.deepEqual(left.netns, [], "no network namespaces left");
    assert.deepEqual(left.rules, [], "no iptables rules of the VM's network left");
  });
});
