// cgroup v2 code paths. This host runs cgroup v1 (hybrid), so these tests use a
// FAKE cgroupfs tree in a temp dir: files laid out and formatted as the kernel's
// unified hierarchy writes them (Linux 6.x). Real v2 runs are not possible here.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { cgroupManager } from "../../src/cgroups/index.ts";

function fakeTree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-fake-cg2-"));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

const C = "capsa-1234abcd/c1";

void test("v2 stats: memory, cpu (µs → ns), pids and io.stat parse into docker's shape", () => {
  const root = fakeTree({
    [`${C}/memory.current`]: "10485760\n",
    [`${C}/memory.max`]: "33554432\n",
    [`${C}/memory.peak`]: "20971520\n",
    [`${C}/memory.stat`]: "anon 8388608\nfile 2097152\ninactive_file 1048576\nactive_file 1048576\npgfault 1234\n",
    [`${C}/memory.events`]: "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n",
    [`${C}/cpu.stat`]: "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 3\nthrottled_usec 250\nnr_bursts 0\nburst_usec 0\n",
    [`${C}/pids.current`]: "4\n",
    [`${C}/pids.max`]: "20\n",
    [`${C}/io.stat`]: "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
    [`${C}/cgroup.procs`]: "101\n102\n",
    [`${C}/sub/cgroup.procs`]: "103\n",
  });
  try {
    const m = cgroupManager({ version: 2, root });
    assert.equal(m.version, 2);
    const s = m.readStats(`/${C}`);
    assert.deepEqual(s.memory_stats, {
      usage: 10485760,
      max_usage: 20971520,
      limit: 33554432,
      stats: { anon: 8388608, file: 2097152, inactive_file: 1048576, active_file: 1048576, pgfault: 1234 },
    });
    assert.deepEqual(s.cpu_stats.cpu_usage, { total_usage: 1_500_000, usage_in_usermode: 1_000_000, usage_in_kernelmode: 500_000 });
    assert.deepEqual(s.cpu_stats.throttling_data, { periods: 10, throttled_periods: 3, throttled_time: 250_000 });
    assert.ok((s.cpu_stats.system_cpu_usage ?? 0) > 0 && (s.cpu_stats.online_cpus ?? 0) >= 1);
    assert.deepEqual(s.pids_stats, { current: 4, limit: 20 });
    assert.deepEqual(s.blkio_stats.io_service_bytes_recursive, [
      { major: 8, minor: 0, op: "read", value: 4096 },
      { major: 8, minor: 0, op: "write", value: 8192 },
      { major: 253, minor: 1, op: "read", value: 1 },
      { major: 253, minor: 1, op: "write", value: 0 },
    ]);
    assert.equal(m.oomKillCount(`/${C}`), 2);
    assert.deepEqual(m.listPids(`/${C}`), [101, 102, 103]);
    assert.deepEqual(m.dirs(`/${C}`), [path.join(root, C)]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

void test("v2: 'max' limits mean unlimited (memory limit = machine memory, no pids limit); a missing cgroup reads empty", () => {
  const root = fakeTree({ [`${C}/memory.current`]: "1\n", [`${C}/memory.max`]: "max\n", [`${C}/pids.current`]: "1\n", [`${C}/pids.max`]: "max\n" });
  try {
    const m = cgroupManager({ version: 2, root });
    const s = m.readStats(`/${C}`);
    assert.equal(s.memory_stats.limit, os.totalmem());
    assert.deepEqual(s.pids_stats, { current: 1 });
    assert.equal(s.blkio_stats.io_service_bytes_recursive, null);
    const gone = m.readStats("/capsa-1234abcd/none");
    assert.deepEqual(gone.memory_stats, {});
    assert.deepEqual(gone.pids_stats, {});
    assert.equal(gone.cpu_stats.cpu_usage.total_usage, 0);
    assert.deepEqual(m.listPids("/capsa-1234abcd/none"), []);
    assert.equal(m.oomKillCount("/capsa-1234abcd/none"), 0);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

void test("v2 cleanup removes the cgroup and its children, leaves first, and tolerates a missing one", () => {
  // Plain directories stand in for cgroups: rmdir works the same on them when empty.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-fake-cg2-"));
  try {
    fs.mkdirSync(path.join(root, C, "a/b"), { recursive: true });
    const m = cgroupManager({ version: 2, root });
    m.cleanup(`/${C}`);
    assert.equal(fs.existsSync(path.join(root, C)), false);
    assert.ok(fs.existsSync(path.join(root, "capsa-1234abcd")), "the parent stays");
    m.cleanup(`/${C}`);
    assert.throws(() => m.cleanup("/"), /refusing/);
    assert.throws(() => m.cleanup("relative"), /refusing/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
