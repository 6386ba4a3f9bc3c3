// The runtime CLI wrapper against real runc and a real container.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cgroupManager } from "../../src/cgroups/index.ts";
import { CapsaError } from "../../src/util/errors.ts";
import { OciRuntime, runtimeMessage } from "../../src/runtime/runc.ts";
import { RUNC, withSandbox } from "./harness.ts";
import { spawnSync } from "node:child_process";

void test("runtimeMessage extracts the runtime's own error from logrus text, JSON lines and plain text", () => {
  assert.equal(runtimeMessage('time="2024-01-01T00:00:00Z" level=error msg="container \\"x\\" does not exist"\n'), 'container "x" does not exist');
  assert.equal(runtimeMessage('{"level":"error","msg":"container not running","time":"x"}\n'), "container not running");
  assert.equal(runtimeMessage("crun: something broke\n"), "crun: something broke");
  assert.equal(runtimeMessage('time="x" level=warning msg="w"\ntime="x" level=error msg="e"'), "e");
});

void test("errors name the runtime, the verb and the container, once", async () => {
  await withSandbox("rcerr", async (sb) => {
    const rt = new OciRuntime(RUNC, sb.stateRoot, "runc");
    const id = "3f2a5c8e91d04b7aa0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3";
    await assert.rejects(rt.kill(id, "SIGTERM"), (e: unknown) => e instanceof CapsaError && e.kind === "not-found" && e.message === "runc kill 3f2a5c8e91d0…: container does not exist");
    assert.equal(await rt.state(id), undefined);
    await rt.delete(id, true); // unknown: already deleted
    const missing = new OciRuntime("/nonexistent/runc", sb.stateRoot);
    await assert.rejects(missing.start("x"), (e: unknown) => e instanceof CapsaError && /^runc start x: /.test(e.message));
  });
});

void test("state, ps, pause, resume, kill and delete drive a real container", async () => {
  await withSandbox("rclife", async (sb) => {
    const rt = new OciRuntime(RUNC, sb.stateRoot, "runc");
    const { id, spec, cgroupsPath } = sb.spec("sleep 60 & sleep 61; true");
    const bundle = sb.bundle(id, spec);
    const created = spawnSync(RUNC, ["--root", sb.stateRoot, "create", "--bundle", bundle, id], { stdio: "ignore" });
    assert.equal(created.status, 0);
    assert.equal((await rt.state(id))?.status, "created");
    await rt.start(id);
    const st = await rt.state(id);
    assert.equal(st?.status, "running");
    assert.ok(st && st.pid > 0);
    await waitFor(async () => (await rt.ps(id)).length === 3);
    const pids = await rt.ps(id);
    assert.ok(pids.includes(st.pid));
    assert.deepEqual(cgroupManager().listPids(cgroupsPath), pids, "the cgroup holds the same processes");
    assert.equal((await rt.list()).map((s) => s.id).join(), id);

    await rt.pause(id);
    assert.equal((await rt.state(id))?.status, "paused");
    await assert.rejects(rt.pause(id), (e: unknown) => e instanceof CapsaError && e.message.startsWith(`runc pause ${id}: `));
    await rt.resume(id);
    assert.equal((await rt.state(id))?.status, "running");

    await rt.update(id, { pids: { limit: 50 } });
    assert.equal(cgroupManager().readStats(cgroupsPath).pids_stats.limit, 50);

    await rt.kill(id, "KILL", true);
    await waitFor(async () => (await rt.state(id))?.status === "stopped");
    await assert.rejects(rt.kill(id, "TERM"), (e: unknown) => e instanceof CapsaError && /container not running|process already finished/.test(e.message));
    await rt.delete(id);
    assert.equal(await rt.state(id), undefined);
  });
});

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
