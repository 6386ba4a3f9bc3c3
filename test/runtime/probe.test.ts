// Runtime selection by a real probe (a container run with each candidate).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { CapsaError } from "../../src/util/errors.ts";
import { cgroupLayout } from "../../src/cgroups/index.ts";
import { findOnPath, probeCacheFile, probeRuntime, resolveRuntime, sweepStaleProbes } from "../../src/runtime/probe.ts";

function withRoot<T>(fn: (paths: { root: string }) => Promise<T>): Promise<T> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-probe-t-"));
  return fn({ root }).finally(() => fs.rmSync(root, { recursive: true, force: true }));
}

void test("picks a runtime that actually runs a container here, and caches the verdict under the state root", async () => {
  await withRoot(async (paths) => {
    const rt = await resolveRuntime(paths);
    assert.ok(["crun", "runc"].includes(rt.name));
    const cache = JSON.parse(fs.readFileSync(probeCacheFile(paths), "utf8")) as Record<string, { ok: boolean; version?: string }>;
    const entry = Object.entries(cache).find(([k]) => k.startsWith(fs.realpathSync(rt.path) + "|"));
    assert.equal(entry?.[1].ok, true);
    assert.match(entry?.[1].version ?? "", new RegExp(rt.name));
    // Second call answers from the cache: a poisoned verdict proves it is read.
    fs.writeFileSync(probeCacheFile(paths), JSON.stringify({ [entry?.[0] ?? ""]: { ok: false, reason: "poisoned", checkedAt: "" } }));
    await assert.rejects(resolveRuntime(paths, rt.name), /does not work on this host: poisoned/);
  });
});

void test("crun on a hybrid cgroup host is probed, found not to work, and passed over for runc", { skip: !findOnPath("crun") || cgroupLayout() !== "hybrid" ? "needs crun on a hybrid-cgroup host" : false }, async () => {
  await withRoot(async (paths) => {
    const crun = findOnPath("crun") as string;
    const verdict = await probeRuntime(crun);
    assert.equal(verdict.ok, false);
    assert.match(verdict.reason ?? "", /hybrid|cgroup/i);
    assert.equal((await resolveRuntime(paths)).name, "runc");
    await assert.rejects(resolveRuntime(paths, "crun"), (e: unknown) => e instanceof CapsaError && e.kind === "invalid" && /runtime crun does not work on this host/.test(e.message));
  });
});

void test("--runtime: a name or a path overrides; unknown ones are rejected", async () => {
  await withRoot(async (paths) => {
    const runc = findOnPath("runc") as string;
    assert.deepEqual(await resolveRuntime(paths, "runc"), { name: "runc", path: runc });
    assert.deepEqual(await resolveRuntime(paths, runc), { name: "runc", path: runc });
    await assert.rejects(resolveRuntime(paths, "nosuchruntime"), /unknown or invalid runtime name: nosuchruntime/);
    await assert.rejects(resolveRuntime(paths, "/nonexistent/runc"), /unknown or invalid runtime name/);
    // A binary that is no OCI runtime fails the probe.
    await assert.rejects(resolveRuntime(paths, "/bin/false"), /runtime \/bin\/false does not work on this host/);
  });
});

void test("a probe whose process died midway is swept by the next: its bundle goes, a live process's stays", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-sweep-t-"));
  try {
    // A pid that is not running: a child that has exited and been reaped.
    const dead = spawnSync("true").pid;
    const stale = path.join(dir, `capsa-probe-${dead}-abc123-XyZ`);
    const live = path.join(dir, `capsa-probe-${process.pid}-abc124-XyZ`);
    const other = path.join(dir, "capsa-probe-t-unrelated");
    for (const d of [stale, live, other]) fs.mkdirSync(path.join(d, "rootfs"), { recursive: true });
    sweepStaleProbes(dir);
    assert.equal(fs.existsSync(stale), false);
    assert.equal(fs.existsSync(live), true);
    assert.equal(fs.existsSync(other), true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
