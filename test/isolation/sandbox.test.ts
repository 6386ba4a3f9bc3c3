// `--isolation sandbox` end to end: the real CLI, conmon and gVisor's runsc
// (Debian's package) with the same verbs as a container. Skipped where runsc
// is not installed. Networks use a 10.x /24 nobody on the host uses, chosen at
// run time; traffic goes only between this test's containers.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { freeSubnet, leftovers, vethNames } from "../network/fixtures.ts";
import { findOnPath, probeCacheFile } from "../../src/runtime/probe.ts";
import { adjustSpecForSandbox, SANDBOX_MIN_PIDS } from "../../src/isolation/sandbox-spec.ts";
import { RUNSC_FLAGS, sandboxRoot, sandboxStartError } from "../../src/isolation/sandbox.ts";
import { resolvePaths } from "../../src/types/paths.ts";
import { buildSpec } from "../../src/runtime/spec.ts";
import { CapsaError } from "../../src/util/errors.ts";

const HAVE_RUNSC = !!findOnPath("runsc");
const skip = HAVE_RUNSC ? false : "runsc (gVisor) is not installed";

let t: TestRoot;
const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-sandbox-bind-"));
const defaultSubnet = freeSubnet();
const netSubnet = freeSubnet();
let baselineVeths = new Set<string>();

type R = { status: number | null; stderr: string; stdout: string };
const ok = (r: R, what: string): string => {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const SB = ["--isolation", "sandbox"];

/** runsc's state files and processes that belong to no container of this root. */
function strays(): { files: string[]; processes: string[] } {
  const ids = ok(t.capsa(["ps", "-aq", "--no-trunc"]), "ps").split("\n").filter(Boolean);
  const root = sandboxRoot(resolvePaths({ root: t.root }));
  const files = (fs.existsSync(root) ? fs.readdirSync(root) : []).filter((f) => !ids.some((id) => f.startsWith(`${id}_sandbox:`)));
  const ps = spawnSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" }).stdout.split("\n");
  const processes = ps.filter((l) => /runsc/.test(l) && l.includes(t.root) && !ids.some((id) => l.includes(id)));
  return { files, processes };
}

before(() => {
  if (!HAVE_RUNSC) return;
  baselineVeths = vethNames();
  t = makeTestRoot("sandbox");
  t.env.CAPSA_DEFAULT_BRIDGE_SUBNET = defaultSubnet;
  // No engine configuration of this host may change the default level under test.
  t.env.CAPSA_CONFIG = path.join(t.root, "no-such-config.json");
  delete t.env.CAPSA_ISOLATION;
  importBusybox(t, "bb:1");
});

after(() => {
  t?.cleanup();
  fs.rmSync(hostDir, { recursive: true, force: true });
});

void describe("sandbox (gVisor) containers", { skip }, () => {
  void it("run under gVisor's kernel: its version, not the host's; stdout and stderr apart", () => {
    const r = t.capsa(["run", "--rm", "--pull", "never", ...SB, "bb:1", "sh", "-c", "uname -r; echo oops >&2"]);
    assert.equal(r.status, 0, r.stderr);
    const release = r.stdout.trim();
    assert.notEqual(release, os.release());
    assert.match(release, /^\d+\.\d+\.\d+$/);
    assert.equal(r.stderr, "oops\n");
    assert.equal(ok(t.capsa(["run", "--rm", "--pull", "never", "bb:1", "uname", "-r"]), "container").trim(), os.release(), "the container level shares the host's kernel");
  });

  void it("exit codes: the workload's, 137 when killed, 127/126 for a command that cannot run", () => {
    assert.equal(t.capsa(["run", "--rm", ...SB, "bb:1", "sh", "-c", "exit 3"]).status, 3);
    assert.equal(t.capsa(["run", "--rm", ...SB, "bb:1", "sh", "-c", "kill -9 $$"]).status, 137);
    const missing = t.capsa(["run", "--rm", ...SB, "bb:1", "/no/such/thing"]);
    assert.equal(missing.status, 127, missing.stderr);
    assert.match(missing.stderr, /no such file/i);
    assert.equal(t.capsa(["run", "--rm", ...SB, "bb:1", "nosuchcommand"]).status, 127);
    assert.equal(t.capsa(["run", "--rm", ...SB, "bb:1", "/etc/passwd"]).status, 126);
  });

  void it("a detached sandbox's logs keep stdout and stderr apart", () => {
    ok(t.capsa(["run", "-d", ...SB, "--name", "logs", "bb:1", "sh", "-c", "echo out1; echo err1 >&2; echo out2"]), "run -d");
    assert.equal(ok(t.capsa(["wait", "logs"]), "wait").trim(), "0");
    const r = t.capsa(["logs", "logs"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "out1\nout2\n");
    assert.equal(r.stderr, "err1\n");
    assert.equal(ok(t.capsa(["inspect", "-f", "{{.HostConfig.Isolation}}", "logs"]), "inspect").trim(), "sandbox");
    ok(t.capsa(["rm", "logs"]), "rm");
  });

  void it("exec runs in the running sandbox: same kernel and processes, its own exit code, user and environment", () => {
    ok(t.capsa(["run", "-d", ...SB, "--name", "ex", "bb:1", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]), "run -d");
    const out = ok(t.capsa(["exec", "-e", "FOO=bar", "ex", "sh", "-c", "uname -r; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $FOO"]), "exec");
    const [release, init, foo] = out.trim().split("\n");
    assert.notEqual(release, os.release());
    assert.match(init!, /^sh -c trap/);
    assert.equal(foo, "bar");
    assert.equal(t.capsa(["exec", "ex", "sh", "-c", "exit 5"]).status, 5);
    assert.equal(ok(t.capsa(["exec", "-u", "1000", "ex", "id", "-u"]), "exec -u").trim(), "1000");
    assert.equal(ok(t.capsa(["exec", "-i", "ex", "cat"], { input: "through stdin\n" }), "exec -i"), "through stdin\n");
    ok(t.capsa(["rm", "-f", "ex"]), "rm");
  });

  void it("stop: SIGTERM is honoured at once; a process that ignores it is killed after -t", () => {
    ok(t.capsa(["run", "-d", ...SB, "--name", "polite", "bb:1", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"]), "run polite");
    ok(t.capsa(["run", "-d", ...SB, "--name", "stubborn", "bb:1", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]), "run stubborn");
    let start = Date.now();
    ok(t.capsa(["stop", "-t", "10", "polite"]), "stop polite");
    assert.ok(Date.now() - start < 4000, `stop of a process honouring SIGTERM took ${Date.now() - start} ms`);
    assert.equal(ok(t.capsa(["inspect", "-f", "{{.State.ExitCode}}", "polite"]), "inspect").trim(), "7");
    start = Date.now();
    ok(t.capsa(["stop", "-t", "1", "stubborn"]), "stop stubborn");
    const took = Date.now() - start;
    assert.ok(took >= 1000 && took < 6000, `stop -t 1 of a process ignoring SIGTERM took ${took} ms`);
    assert.equal(ok(t.capsa(["inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", "stubborn"]), "inspect").trim(), "137 exited");
    ok(t.capsa(["rm", "polite", "stubborn"]), "rm");
  });

  void it("a bind mount written inside is read on the host", () => {
    ok(t.capsa(["run", "--rm", ...SB, "-v", `${hostDir}:/data`, "bb:1", "sh", "-c", "echo from-the-sandbox > /data/note; mkdir /data/sub"]), "run");
    assert.equal(fs.readFileSync(path.join(hostDir, "note"), "utf8"), "from-the-sandbox\n");
    assert.ok(fs.statSync(path.join(hostDir, "sub")).isDirectory());
    fs.writeFileSync(path.join(hostDir, "from-host"), "hello\n");
    assert.equal(ok(t.capsa(["run", "--rm", ...SB, "-v", `${hostDir}:/data:ro`, "bb:1", "sh", "-c", "cat /data/from-host; touch /data/x 2>/dev/null || echo read-only"]), "run ro"), "hello\nread-only\n");
  });

  void it("writes to the container's file system survive stop and start", () => {
    ok(t.capsa(["run", "-d", ...SB, "--name", "keep", "bb:1", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]), "run");
    ok(t.capsa(["exec", "keep", "sh", "-c", "echo kept > /root/file"]), "exec write");
    ok(t.capsa(["stop", "keep"]), "stop");
    ok(t.capsa(["start", "keep"]), "start");
    assert.equal(ok(t.capsa(["exec", "keep", "cat", "/root/file"]), "exec read"), "kept\n");
    ok(t.capsa(["restart", "-t", "0", "keep"]), "restart");
    assert.equal(ok(t.capsa(["exec", "keep", "cat", "/root/file"]), "exec read"), "kept\n");
    ok(t.capsa(["rm", "-f", "keep"]), "rm");
  });

  void it("cp: out of a running sandbox; into a stopped one (a running one refuses: gVisor caches its root)", () => {
    ok(t.capsa(["run", "-d", ...SB, "--name", "cp", "bb:1", "sh", "-c", "echo made-inside > /root/out; trap 'exit 0' TERM; while :; do sleep 0.1; done"]), "run");
    const file = path.join(hostDir, "cp-in.txt");
    fs.writeFileSync(file, "from-host\n");
    const out = path.join(hostDir, "cp-out.txt");
    for (let i = 0; i < 50 && t.capsa(["cp", "cp:/root/out", out]).status !== 0; i++) spawnSync("sleep", ["0.1"]);
    assert.equal(fs.readFileSync(out, "utf8"), "made-inside\n");
    const refused = t.capsa(["cp", file, "cp:/root/"]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /cannot copy into the running sandbox cp: .*stop it first/);
    ok(t.capsa(["stop", "cp"]), "stop");
    ok(t.capsa(["cp", file, "cp:/root/"]), "cp into the stopped sandbox");
    ok(t.capsa(["start", "cp"]), "start");
    assert.equal(ok(t.capsa(["exec", "cp", "cat", "/root/cp-in.txt"]), "exec cat"), "from-host\n");
    ok(t.capsa(["rm", "-f", "cp"]), "rm");
  });

  void it("--rm leaves no container, mount, runsc state or runsc process behind", () => {
    ok(t.capsa(["run", "--rm", ...SB, "--name", "gone", "bb:1", "true"]), "run");
    assert.equal(t.capsa(["run", "--rm", ...SB, "--name", "gone", "bb:1", "sh", "-c", "exit 9"]).status, 9);
    assert.equal(t.capsa(["inspect", "gone"]).status, 1);
    assert.deepEqual(strays(), { files: [], processes: [] });
    assert.ok(!fs.readFileSync("/proc/self/mountinfo", "utf8").includes(path.join(t.root, "containers")), "a container mount is left behind");
    // A run that fails at start leaves nothing either.
    assert.equal(t.capsa(["run", "--rm", ...SB, "--name", "gone", "bb:1", "/no/such/thing"]).status, 127);
    assert.deepEqual(strays(), { files: [], processes: [] });
  });

  void it("limits: --memory bounds the sandbox (its kernel sees it too); a --pids-limit too low for gVisor is refused clearly", () => {
    const mem = ok(t.capsa(["run", "--rm", ...SB, "--memory", "64m", "bb:1", "sh", "-c", "grep MemTotal /proc/meminfo"]), "run --memory");
    assert.match(mem, /MemTotal:\s+65536 kB/);
    ok(t.capsa(["run", "-d", ...SB, "--name", "lim", "--memory", "64m", "--pids-limit", "200", "bb:1", "sleep", "60"]), "run -d");
    const usage = ok(t.capsa(["stats", "--no-stream", "--format", "{{.MemUsage}} {{.PIDs}}", "lim"]), "stats").trim();
    assert.match(usage, /\/ 64MiB \d+$/);
    ok(t.capsa(["rm", "-f", "lim"]), "rm");
    const low = t.capsa(["run", "--rm", ...SB, "--pids-limit", "20", "bb:1", "true"]);
    assert.equal(low.status, 125);
    assert.match(low.stderr, new RegExp(`at least ${SANDBOX_MIN_PIDS}`));
    ok(t.capsa(["run", "--rm", ...SB, "--privileged", "bb:1", "true"]), "--privileged");
  });

  void it("on a user-defined network a sandbox reaches a container by name, and the other way round", async () => {
    const net = `sbx${process.pid}`;
    ok(t.capsa(["network", "create", "--subnet", netSubnet, net]), "network create");
    const bridge = ok(t.capsa(["network", "inspect", "-f", "{{.Capsa.Bridge}}", net]), "inspect").trim();
    ok(t.capsa(["run", "-d", "--network", net, "--name", "web", "bb:1", "httpd", "-f", "-p", "80", "-h", "/etc"]), "run web");
    ok(t.capsa(["run", "-d", ...SB, "--network", net, "--name", "sweb", "bb:1", "httpd", "-f", "-p", "80", "-h", "/etc"]), "run sweb");
    const webHost = ok(t.capsa(["inspect", "-f", "{{.Config.Hostname}}", "web"]), "inspect").trim();
    const sbHost = ok(t.capsa(["inspect", "-f", "{{.Config.Hostname}}", "sweb"]), "inspect").trim();
    const fetchLoop = (host: string): string => `for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -q -O - http://${host}/hostname && exit 0; sleep 0.3; done; exit 1`;
    const fromSandbox = ok(t.capsa(["run", "--rm", ...SB, "--network", net, "bb:1", "sh", "-c", fetchLoop("web")]), "sandbox → web");
    assert.equal(fromSandbox.trim(), webHost);
    const toSandbox = ok(t.capsa(["run", "--rm", "--network", net, "bb:1", "sh", "-c", fetchLoop("sweb")]), "container → sandbox");
    assert.equal(toSandbox.trim(), sbHost);
    const ip = ok(t.capsa(["inspect", "-f", `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, "sweb"]), "inspect ip").trim();
    assert.ok(ip.startsWith(netSubnet.replace(/0\/24$/, "")), `${ip} not in ${netSubnet}`);
    ok(t.capsa(["rm", "-f", "web", "sweb"]), "rm");
    ok(t.capsa(["network", "rm", net]), "network rm");
    await sleep(100);
    const left = leftovers(t.root, { bridges: [bridge], subnets: [netSubnet], ports: [], baselineVeths });
    assert.deepEqual(left, { veths: [], bridges: [], netns: [], rules: [], leases: [], dns: [] });
  });

  void it("CAPSA_ISOLATION=sandbox is the default level; --isolation still wins", () => {
    const env = { CAPSA_ISOLATION: "sandbox" };
    assert.notEqual(ok(t.capsa(["run", "--rm", "bb:1", "uname", "-r"], { env }), "run").trim(), os.release());
    ok(t.capsa(["create", "--name", "bydefault", "bb:1", "true"], { env }), "create");
    assert.equal(ok(t.capsa(["inspect", "-f", "{{.HostConfig.Isolation}}", "bydefault"]), "inspect").trim(), "sandbox");
    // The level is fixed at create: starting without the variable still runs the sandbox.
    ok(t.capsa(["start", "-a", "bydefault"]), "start");
    ok(t.capsa(["rm", "bydefault"]), "rm");
    assert.equal(ok(t.capsa(["run", "--rm", "--isolation", "container", "bb:1", "uname", "-r"], { env }), "run").trim(), os.release());
  });

  void it("info reports the sandbox's runsc, platform and availability (probed once, cached)", () => {
    const iso = JSON.parse(ok(t.capsa(["info", "-f", "{{json .Isolation}}"]), "info")) as Record<string, string>;
    assert.equal(iso.container, "available");
    assert.match(iso.sandbox!, /^available \(runsc \S+, platform ptrace\)$/);
    const cache = JSON.parse(fs.readFileSync(probeCacheFile({ root: t.root }), "utf8")) as Record<string, { ok: boolean }>;
    const key = Object.keys(cache).find((k) => k.endsWith(`|${RUNSC_FLAGS.join(" ")}`));
    assert.ok(key && cache[key]!.ok, `no cached runsc verdict in ${Object.keys(cache).join(", ")}`);
  });

  void it("fails with one clear line (exit 125) when runsc is missing or does not work", async () => {
    const missing = t.capsa(["run", "--rm", ...SB, "bb:1", "true"], { env: { CAPSA_RUNSC: "/nonexistent/runsc" } });
    assert.equal(missing.status, 125);
    assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
    assert.match(missing.stderr, /sandbox isolation needs gVisor's runsc: runsc not found at \/nonexistent\/runsc/);
    const broken = t.capsa(["run", "--rm", ...SB, "bb:1", "true"], { env: { CAPSA_RUNSC: "/bin/false" } });
    assert.equal(broken.status, 125);
    assert.equal(broken.stderr.trim().split("\n").length, 1, broken.stderr);
    assert.match(broken.stderr, /sandbox isolation does not work on this host: runsc: /);
    const iso = JSON.parse(ok(t.capsa(["info", "-f", "{{json .Isolation}}"], { env: { CAPSA_RUNSC: "/nonexistent/runsc" } }), "info")) as Record<string, string>;
    assert.match(iso.sandbox!, /^unavailable: runsc not found/);
    // A monitor of an earlier, removed sandbox may still be finishing its exit command: give it time to go.
    await eventually(() => assert.deepEqual(strays(), { files: [], processes: [] }), 15_000);
  });
});

void describe("sandbox spec and errors (units)", () => {
  const base = (): Parameters<typeof buildSpec>[0] => ({
    id: "a".repeat(64),
    rootfs: "/nonexistent",
    config: {},
    hostConfig: { Privileged: true },
    args: ["true"],
    env: [],
    cwd: "/",
    user: { uid: 0, gid: 0, additionalGids: [], home: "/" },
    network: { mode: "none" },
    cgroupsPath: "/capsa-test/x",
    cgroupVersion: 1,
    volumePath: () => "/nonexistent",
  });

  void it("drops the capabilities runsc does not know and keeps the rest", () => {
    const spec = buildSpec(base());
    assert.ok(spec.process.capabilities.bounding.includes("CAP_PERFMON"));
    const adjusted = adjustSpecForSandbox(spec);
    for (const set of [adjusted.process.capabilities.bounding, adjusted.process.capabilities.effective, adjusted.process.capabilities.permitted]) {
      assert.ok(!set.includes("CAP_PERFMON") && !set.includes("CAP_BPF") && !set.includes("CAP_CHECKPOINT_RESTORE"));
      assert.ok(set.includes("CAP_SYS_ADMIN") && set.includes("CAP_AUDIT_READ"));
    }
    assert.ok(spec.process.capabilities.bounding.includes("CAP_PERFMON"), "the input spec is not changed");
  });

  void it("refuses a pids limit below the sandbox's own needs", () => {
    assert.throws(() => adjustSpecForSandbox(buildSpec({ ...base(), hostConfig: { PidsLimit: 10 } })), /at least 64/);
    assert.doesNotThrow(() => adjustSpecForSandbox(buildSpec({ ...base(), hostConfig: { PidsLimit: 64 } })));
  });

  void it("maps runsc's start errors to docker's 127 and 126", () => {
    const err = (m: string): number => sandboxStartError(new CapsaError("system", m)).exitCode;
    assert.equal(err("runsc start x: starting container: starting root container: starting sandbox: creating process: failed to load /x: no such file or directory"), 127);
    assert.equal(err('runsc start x: starting sandbox: error finding executable "x" in PATH [/bin]: no such file or directory'), 127);
    assert.equal(err("runsc start x: creating process: failed to load /etc/passwd: permission denied"), 126);
    assert.equal(err("runsc start x: something else"), 125);
  });
});
