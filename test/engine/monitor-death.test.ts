// A container whose monitor (conmon) is killed while the workload runs: no
// exit file will ever come. As containerd does when a shim dies, the workload
// is killed and the exit recorded as 137 with the reason in State.Error, never
// a silent 255 that looks like the workload's own code.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { CLI, eventually, useBusyboxRoot } from "../helpers.ts";
import { pidAlive } from "../../src/util/process.ts";

interface Inspected {
  State: { Status: string; Running: boolean; ExitCode: number; Error: string; Pid: number };
  Capsa: { MonitorPid: number };
}

void describe("a killed container monitor", () => {
  const root = useBusyboxRoot("mondeath");

  const inspect = (name: string): Inspected => {
    const r = root().capsa(["inspect", name]);
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as Inspected[])[0]!;
  };

  void it("a detached container: the next command records 137, says why, and the workload is gone", async () => {
    const t = root();
    const r = t.capsa(["run", "-d", "--name", "md-detached", "busybox", "sleep", "1000"]);
    assert.equal(r.status, 0, r.stderr);
    const before = inspect("md-detached");
    assert.ok(before.State.Running && before.Capsa.MonitorPid > 0 && before.State.Pid > 0);
    process.kill(before.Capsa.MonitorPid, "SIGKILL");
    await eventually(() => assert.equal(pidAlive(before.Capsa.MonitorPid), false, "the monitor is reaped"));
    const ps = t.capsa(["ps", "-a", "--filter", "name=md-detached", "--format", "{{.Status}}"]);
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout, /^Exited \(137\)/);
    const after = inspect("md-detached");
    assert.equal(after.State.Status, "exited");
    assert.equal(after.State.ExitCode, 137);
    assert.match(after.State.Error, /container monitor died/);
    await eventually(() => assert.equal(pidAlive(before.State.Pid), false, "the workload must not run on unmonitored"));
    assert.equal(t.capsa(["rm", "md-detached"]).status, 0);
  });

  void it("a foreground run returns 137 as soon as its monitor dies", async () => {
    const t = root();
    const child = spawn(process.execPath, [CLI, "run", "--name", "md-fg", "busybox", "sleep", "1000"], { env: t.env, stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const monitor = await eventually(() => {
        const s = inspect("md-fg");
        assert.ok(s.State.Running && s.Capsa.MonitorPid > 0);
        return s.Capsa.MonitorPid;
      });
      process.kill(monitor, "SIGKILL");
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("still waiting"), 20_000))]);
      assert.equal(code, 137);
      const s = inspect("md-fg");
      assert.equal(s.State.ExitCode, 137);
      assert.match(s.State.Error, /container monitor died/);
    } finally {
      if (child.exitCode === null && child.pid) process.kill(child.pid, "SIGKILL");
      t.capsa(["rm", "-f", "md-fg"]);
    }
  });
});
