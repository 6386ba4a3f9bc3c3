// cgroup v1 (this host's layout): a real container's stats through the
// manager, plus parsing on a fake tree for the files the kernel may leave out.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { cgroupLayout, cgroupManager, cgroupParent, cgroupsPathFor, containerCgroupsPath, detectCgroupVersion, onlineCpus, systemCpuUsage } from "../../src/cgroups/index.ts";
import { parseV1Mounts } from "../../src/cgroups/v1/mounts.ts";
import { RUNC, withSandbox } from "../runtime/harness.ts";

void test("detects the host's cgroup version from the /sys/fs/cgroup mount", () => {
  const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").find((l) => l.split(" ")[4] === "/sys/fs/cgroup");
  const fstype = mounts?.split(" - ")[1]?.split(" ")[0];
  assert.equal(detectCgroupVersion(), fstype === "cgroup2" ? 2 : 1);
  if (fstype !== "cgroup2") assert.match(cgroupLayout(), /^(hybrid|legacy)$/);
});

void test("cgroup paths are per state root and reject ids that would escape", () => {
  assert.match(containerCgroupsPath({ root: "/var/lib/capsa" }, "abc"), /^\/capsa-[0-9a-f]{8}\/abc$/);
  assert.notEqual(cgroupParent({ root: "/a" }), cgroupParent({ root: "/b" }));
  assert.equal(cgroupsPathFor("/a", "x"), containerCgroupsPath({ root: "/a" }, "x"));
  assert.throws(() => containerCgroupsPath({ root: "/a" }, "../x"), /invalid container id/);
});

void test("parses v1 hierarchies from mountinfo, co-mounted controllers included", () => {
  const info = [
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct",
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd",
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
  ].join("\n");
  assert.deepEqual(parseV1Mounts(info), {
    cpu: "/sys/fs/cgroup/cpu,cpuacct",
    cpuacct: "/sys/fs/cgroup/cpu,cpuacct",
    memory: "/sys/fs/cgroup/memory",
    "name=systemd": "/sys/fs/cgroup/systemd",
    // the hybrid layout's cgroup2 tree: runc makes container cgroups there too, cleanup removes them
    unified: "/sys/fs/cgroup/unified",
  });
});

void test("system CPU usage follows docker's formula; online CPUs from the kernel's list", () => {
  assert.equal(systemCpuUsage("cpu  100 0 50 800 50 0 0 7 0 0\ncpu0 1 2 3\n"), 1000 * 1e7);
  assert.ok(systemCpuUsage() > 0);
  assert.equal(onlineCpus("0-3,6\n"), 5);
  assert.equal(onlineCpus("0\n"), 1);
  assert.equal(onlineCpus(), os.availableParallelism());
});

void test("v1 stats on a fake tree: cpuacct ticks → ns, CFQ counters preferred over throttle, failcnt, percpu", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-fake-cg1-"));
  const C = "/capsa-x/c1";
  const put = (ctl: string, file: string, text: string): void => {
    fs.mkdirSync(path.join(root, ctl, C), { recursive: true });
    fs.writeFileSync(path.join(root, ctl, C, file), text);
  };
  try {
    put("memory", "memory.usage_in_bytes", "5000\n");
    put("memory", "memory.max_usage_in_bytes", "6000\n");
    put("memory", "memory.limit_in_bytes", "9223372036854771712\n");
    put("memory", "memory.failcnt", "3\n");
    put("memory", "memory.stat", "cache 10\nrss 20\ntotal_inactive_file 5\n");
    put("memory", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    put("cpuacct", "cpuacct.usage", "123456789\n");
    put("cpuacct", "cpuacct.usage_percpu", "100000000 23456789 \n");
    put("cpuacct", "cpuacct.stat", "user 7\nsystem 3\n");
    put("cpu", "cpu.stat", "nr_periods 5\nnr_throttled 1\nthrottled_time 999\n");
    put("pids", "pids.current", "2\n");
    put("pids", "pids.max", "max\n");
    put("blkio", "blkio.io_service_bytes_recursive", "");
    put("blkio", "blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 0\n8:0 Sync 4096\nTotal 4096\n");
    put("pids", "cgroup.procs", "11\n12\n");
    const m = cgroupManager({ version: 1, root });
    const s = m.readStats(C);
    assert.deepEqual(s.memory_stats, { usage: 5000, max_usage: 6000, failcnt: 3, limit: os.totalmem(), stats: { cache: 10, rss: 20, total_inactive_file: 5 } });
    assert.deepEqual(s.cpu_stats.cpu_usage, { total_usage: 123456789, percpu_usage: [100000000, 23456789], usage_in_usermode: 70_000_000, usage_in_kernelmode: 30_000_000 });
    assert.deepEqual(s.cpu_stats.throttling_data, { periods: 5, throttled_periods: 1, throttled_time: 999 });
    assert.deepEqual(s.pids_stats, { current: 2 });
    assert.deepEqual(s.blkio_stats.io_service_bytes_recursive?.map((e) => e.op), ["Read", "Write", "Sync"]);
    assert.equal(m.oomKillCount(C), 1);
    assert.deepEqual(m.listPids(C), [11, 12]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

void test("v1 on this host: a running container's stats, pids and limits; cleanup removes it from every hierarchy", { skip: detectCgroupVersion() !== 1 ? "host is not cgroup v1" : false }, async () => {
  await withSandbox("cg1", async (sb) => {
    const { id, spec, cgroupsPath } = sb.spec("head -c 300m /dev/zero | md5sum; exec sleep 60", {
      hostConfig: { Memory: 64 << 20, PidsLimit: 30, NanoCpus: 5e8 },
    });
    const bundle = sb.bundle(id, spec);
    // stdio ignored: the container inherits it, and a pipe would keep spawnSync waiting for the container.
    const r = spawnSync(RUNC, ["--root", sb.stateRoot, "run", "--detach", "--bundle", bundle, id], { stdio: "ignore" });
    assert.equal(r.status, 0);
    const m = cgroupManager();
    const statePid = (JSON.parse(spawnSync(RUNC, ["--root", sb.stateRoot, "state", id], { encoding: "utf8" }).stdout) as { pid: number }).pid;
    // Wait until dd has burnt some CPU and sh exec'd sleep.
    for (let i = 0; i < 400 && !fs.readFileSync(`/proc/${statePid}/cmdline`, "utf8").startsWith("sleep"); i++) await new Promise((res) => setTimeout(res, 25));
    const s = m.readStats(cgroupsPath);
    assert.equal(s.memory_stats.limit, 64 << 20);
    assert.ok((s.memory_stats.usage ?? 0) > 0);
    assert.ok((s.memory_stats.max_usage ?? 0) >= (s.memory_stats.usage ?? 0));
    assert.ok(s.memory_stats.stats && "total_rss" in s.memory_stats.stats);
    assert.deepEqual(s.pids_stats, { current: 1, limit: 30 });
    assert.ok(s.cpu_stats.cpu_usage.total_usage > 0);
    assert.equal(s.cpu_stats.cpu_usage.percpu_usage?.length, os.cpus().length);
    assert.ok(s.cpu_stats.throttling_data && s.cpu_stats.throttling_data.throttled_periods > 0, `a CPU quota is enforced: ${JSON.stringify(s.cpu_stats.throttling_data)}`);
    assert.ok(Array.isArray(s.blkio_stats.io_service_bytes_recursive));
    assert.deepEqual(m.listPids(cgroupsPath), [statePid]);
    assert.equal(m.oomKillCount(cgroupsPath), 0);

    // cleanup refuses while processes live (EBUSY), then removes every hierarchy's directory.
    assert.throws(() => m.cleanup(cgroupsPath), /remove cgroup/);
    spawnSync(RUNC, ["--root", sb.stateRoot, "kill", id, "KILL"]);
    for (let i = 0; i < 200 && m.listPids(cgroupsPath).length > 0; i++) await new Promise((res) => setTimeout(res, 10));
    m.cleanup(cgroupsPath);
    for (const d of m.dirs(cgroupsPath)) assert.equal(fs.existsSync(d), false, d);
    m.cleanup(cgroupsPath);
  });
});
