// docker update's cgroup writes on fake trees: v2's files and conversions (this
// host runs v1, where test/api/update-exec.test.ts checks a real container), and
// v1's memory/swap ordering, which a kernel would refuse if done the other way.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { cgroupManager } from "../../src/cgroups/index.ts";
import { sharesToWeight } from "../../src/cgroups/v2/limits.ts";

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-cg-limits-"));
  for (const [f, v] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), v);
  }
  return root;
}

const read = (root: string, f: string): string => fs.readFileSync(path.join(root, f), "utf8");

void test("v2: memory, swap alone, cpu.max keeping the other half, cpu.weight from shares, pids max", () => {
  const root = tree({ "c/memory.max": "max", "c/memory.swap.max": "max", "c/memory.low": "0", "c/cpu.max": "max 100000", "c/cpu.weight": "100", "c/pids.max": "max", "c/cpuset.cpus": "" });
  try {
    const m = cgroupManager({ version: 2, root });
    m.applyLimits("/c", { memory: 64 << 20, memorySwap: 128 << 20, memoryReservation: 32 << 20, cpuShares: 512, cpuQuota: 50000, pidsLimit: 0, cpusetCpus: "0" });
    assert.deepEqual(
      ["memory.max", "memory.swap.max", "memory.low", "cpu.max", "cpu.weight", "pids.max", "cpuset.cpus"].map((f) => read(root, `c/${f}`)),
      [String(64 << 20), String(64 << 20), String(32 << 20), "50000 100000", String(sharesToWeight(512)), "max", "0"],
    );
    m.applyLimits("/c", { cpuPeriod: 200000 });
    assert.equal(read(root, "c/cpu.max"), "50000 200000");
    assert.deepEqual([sharesToWeight(2), sharesToWeight(1024), sharesToWeight(262144)], [1, 39, 10000]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

void test("v1: swap is raised before memory when it grows past the current limit, memory lowered first otherwise", () => {
  const root = tree({ "memory/c/memory.limit_in_bytes": String(10 << 20), "memory/c/memory.memsw.limit_in_bytes": String(20 << 20), "memory/c/memory.soft_limit_in_bytes": "0", "pids/c/pids.max": "max", "cpu/c/cpu.shares": "1024" });
  const writes: string[] = [];
  const real = fs.writeFileSync;
  const spy = ((file: fs.PathOrFileDescriptor, data: string | NodeJS.ArrayBufferView, opts?: fs.WriteFileOptions) => {
    writes.push(path.basename(String(file)));
    real(file, data, opts);
  }) as typeof fs.writeFileSync;
  fs.writeFileSync = spy;
  try {
    const m = cgroupManager({ version: 1, root });
    m.applyLimits("/c", { memory: 100 << 20, memorySwap: 200 << 20 });
    assert.deepEqual(writes.splice(0), ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]);
    m.applyLimits("/c", { memory: 50 << 20, memorySwap: 60 << 20 });
    assert.deepEqual(writes.splice(0), ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
    m.applyLimits("/c", { pidsLimit: -1, cpuShares: 256 });
    assert.deepEqual([read(root, "pids/c/pids.max"), read(root, "cpu/c/cpu.shares")], ["max", "256"]);
    assert.throws(() => m.applyLimits("/gone", { cpuShares: 2 }), /cgroup .*gone does not exist/);
  } finally {
    fs.writeFileSync = real;
    fs.rmSync(root, { recursive: true, force: true });
  }
});
