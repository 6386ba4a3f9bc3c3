// A default container, a default sandbox and a default VM each deny, inside,
// what a default docker container denies. The probes (./probes.ts) run in a
// real dockerd of the test's own too, when the machine has dockerd, so the list
// of what docker denies is checked against docker itself, not only written down.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { busyboxRootfsTar, unmountBelow, useBusyboxRoot, type TestRoot } from "../helpers.ts";
import { DENIED_BY_DOCKER, DENIED_SINCE_DOCKER_28, allowedOf, parseProbes, probeScript } from "./probes.ts";

const isRoot = process.getuid?.() === 0;
const hasDockerd = spawnSync("sh", ["-c", "command -v dockerd"]).status === 0;

function capsaProbe(t: TestRoot, level: string, extra: string[] = []): Map<string, string> {
  const r = t.capsa(["run", "--rm", "--network", "none", "--isolation", level, ...extra, "busybox", "sh", "-c", probeScript()], { timeoutMs: 180_000 });
  assert.equal(r.status, 0, `${level}: exit ${r.status}: ${r.stderr}`);
  return parseProbes(r.stdout);
}

/** A dockerd on a private socket, data root and exec root, without networking of its own; stopped by pid. */
class PrivateDockerd {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-sec-dockerd-"));
  readonly socket = path.join(this.dir, "docker.sock");
  private daemon?: ChildProcess;
  private readonly preexisting = ["/etc/docker/key.json", "/run/docker"].filter((p) => fs.existsSync(p));

  async start(): Promise<void> {
    const log = fs.openSync(path.join(this.dir, "dockerd.log"), "a");
    this.daemon = spawn(
      "dockerd",
      ["--data-root", path.join(this.dir, "data"), "--exec-root", path.join(this.dir, "exec"), "--pidfile", path.join(this.dir, "dockerd.pid"), "-H", `unix://${this.socket}`, "--bridge", "none", "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--log-level", "warn"],
      { stdio: ["ignore", log, log] },
    );
    fs.closeSync(log);
    const deadline = Date.now() + 60_000;
    while (this.docker(["version"]).status !== 0) {
      if (this.daemon.exitCode !== null || Date.now() > deadline) throw new Error(`dockerd did not come up: ${fs.readFileSync(path.join(this.dir, "dockerd.log"), "utf8").slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  docker(args: string[], timeout = 120_000): SpawnSyncReturns<string> {
    return spawnSync("docker", ["-H", `unix://${this.socket}`, ...args], { encoding: "utf8", timeout, env: { ...process.env, DOCKER_CONFIG: path.join(this.dir, "client") } });
  }

  async stop(): Promise<void> {
    const d = this.daemon;
    if (d?.pid && d.exitCode === null) {
      const exited = new Promise((r) => d.once("exit", r));
      process.kill(d.pid, "SIGTERM");
      const killer = setTimeout(() => d.exitCode === null && d.pid && process.kill(d.pid, "SIGKILL"), 20_000);
      await exited;
      clearTimeout(killer);
    }
    unmountBelow(this.dir);
    fs.rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    // dockerd 20.10 leaves a trust key and a plugin directory whatever its roots.
    for (const p of ["/etc/docker/key.json", "/run/docker"]) if (!this.preexisting.includes(p)) fs.rmSync(p, { recursive: true, force: true });
    spawnSync("rmdir", ["/sys/fs/cgroup/cpu/docker", "/sys/fs/cgroup/memory/docker", "/sys/fs/cgroup/pids/docker", "/sys/fs/cgroup/devices/docker"], { stdio: "ignore" });
  }
}

void describe("what a workload can do inside, per isolation level, against docker's defaults", { skip: !isRoot && "needs root" }, () => {
  const root = useBusyboxRoot("sec-levels");

  void test("the probe list is what dockerd's default container denies", { skip: !hasDockerd && "dockerd is not installed (scripts/setup.sh --tests installs it)" }, async () => {
    const t = root();
    const d = new PrivateDockerd();
    try {
      await d.start();
      const imp = d.docker(["import", busyboxRootfsTar(), "probe:1"]);
      assert.equal(imp.status, 0, imp.stderr);
      const r = d.docker(["run", "--rm", "--network", "none", "probe:1", "sh", "-c", probeScript()]);
      assert.equal(r.status, 0, r.stderr);
      const docker = parseProbes(r.stdout);
      const version = d.docker(["version", "--format", "{{.Server.Version}}"]).stdout.trim();
      const expected = Number(version.split(".")[0]) >= 28 ? DENIED_BY_DOCKER : DENIED_BY_DOCKER.filter((p) => !DENIED_SINCE_DOCKER_28.includes(p));
      assert.deepEqual(allowedOf(docker, expected), [], `dockerd ${version} allows a probe the list says it denies`);
      assert.equal(docker.get("seccomp"), "2");
      // capsa's default container has no capability docker's lacks.
      const capsa = capsaProbe(t, "container");
      const capsaCaps = BigInt("0x" + capsa.get("capeff")!);
      const dockerCaps = BigInt("0x" + docker.get("capeff")!);
      assert.equal(capsaCaps & ~dockerCaps, 0n, `capsa CapEff ${capsa.get("capeff")} vs docker ${docker.get("capeff")}`);
    } finally {
      await d.stop();
    }
  });

  // The vm level answers every probe as a container with the same flags does: test/security/vm.test.ts
  // (one VM boot runs these probes, its own in the guest, and an exec's).
  for (const level of ["container", "sandbox"] as const) {
    void test(`a default ${level} denies every probe a default docker container denies`, () => {
      const t = root();
      const r = capsaProbe(t, level);
      assert.deepEqual(allowedOf(r, DENIED_BY_DOCKER), []);
      assert.equal(r.get("rw-root"), "allowed", "the probes ran (the root is writable by default)");
      assert.equal(r.get("seccomp"), "2", "seccomp filter mode");
    });
  }
});
