// Resource limits are enforced and docker's secure defaults hold, seen from
// inside real containers started through the CLI.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";

let t: TestRoot;
before(() => {
  t = makeTestRoot("sec");
  importBusybox(t, "bb:1");
});
after(() => t.cleanup());

const run = (args: string[], script: string) => t.capsa(["run", "--rm", ...args, "bb:1", "sh", "-c", script]);

void describe("limits", () => {
  void it("a memory hog is OOM-killed: exit 137 and OOMKilled in inspect", () => {
    const r = t.capsa(["run", "--name", "hog", "-m", "16m", "--memory-swap", "16m", "bb:1", "sh", "-c", "x=a; while true; do x=$x$x; done"], { timeoutMs: 120_000 });
    assert.equal(r.status, 137, r.stderr);
    const s = JSON.parse(t.capsa(["inspect", "hog"]).stdout) as { State: { OOMKilled: boolean; ExitCode: number } }[];
    assert.equal(s[0]!.State.OOMKilled, true);
    assert.equal(s[0]!.State.ExitCode, 137);
    assert.equal(t.capsa(["rm", "hog"]).status, 0);
  });

  void it("--pids-limit stops a fork loop", () => {
    const id = t.capsa(["run", "-d", "--pids-limit", "10", "bb:1", "sleep", "1000"]).stdout.trim();
    try {
      // The loop's shell dies when fork fails; the sleeps it did start stay in the container.
      const loop = t.capsa(["exec", id, "sh", "-c", "for i in " + Array.from({ length: 30 }, (_, i) => i).join(" ") + "; do sleep 1000 & done"]);
      assert.notEqual(loop.status, 0);
      assert.match(loop.stderr, /can't fork|Resource temporarily unavailable/i);
      const pids = Number(t.capsa(["stats", "--no-stream", "--format", "{{.PIDs}}", id]).stdout.trim());
      assert.ok(pids > 1 && pids <= 10, `processes in the container: ${pids}`);
    } finally {
      t.capsa(["rm", "-f", id]);
    }
  });

  void it("limits are written to the cgroup and stats reads them", () => {
    const id = t.capsa(["run", "-d", "-m", "64m", "--cpus", "0.5", "--pids-limit", "50", "bb:1", "sleep", "60"]).stdout.trim();
    try {
      const s = t.capsa(["stats", "--no-stream", "--format", "{{json .}}", id]);
      assert.equal(s.status, 0, s.stderr);
      const row = JSON.parse(s.stdout.trim()) as { MemUsage: string; PIDs: string };
      assert.match(row.MemUsage, /\/ 64MiB/);
      assert.equal(row.PIDs, "1");
    } finally {
      t.capsa(["rm", "-f", id]);
    }
  });
});

void describe("secure defaults", () => {
  void it("mount is denied", () => {
    const r = run([], "mount -t tmpfs x /tmp && echo MOUNTED");
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stdout, /MOUNTED/);
  });

  void it("raw sockets are denied unless NET_RAW is added", () => {
    assert.notEqual(run([], "ping -c1 -W1 127.0.0.1").status, 0);
    assert.equal(run(["--cap-add", "NET_RAW"], "ping -c1 -W1 127.0.0.1").status, 0);
  });

  void it("host processes are invisible and the workload is pid 1", () => {
    const r = run([], "echo $$; ls /proc | grep -c '^[0-9]'");
    assert.equal(r.status, 0, r.stderr);
    const [pid, count] = r.stdout.trim().split("\n");
    assert.equal(pid, "1");
    assert.ok(Number(count) <= 3, `container sees ${count} processes`);
  });

  void it("sensitive /proc paths are masked and /proc/sys is read-only", () => {
    const r = run([], "wc -c < /proc/keys; wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/domainname && echo WROTE");
    const [keys, timers] = r.stdout.trim().split("\n");
    assert.equal(keys, "0");
    assert.equal(timers, "0");
    assert.doesNotMatch(r.stdout, /WROTE/);
    // /proc/kcore exists only on kernels built with it; where it does, it must read empty.
    const k = run([], "test -e /proc/kcore && wc -c < /proc/kcore || echo absent");
    assert.match(k.stdout.trim(), /^(0|absent)$/);
  });

  void it("--privileged lifts the restrictions", () => {
    const r = run(["--privileged"], "mount -t tmpfs x /tmp && echo MOUNTED");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /MOUNTED/);
  });

  void it("--read-only root with a --tmpfs scratch space", () => {
    const r = run(["--read-only", "--tmpfs", "/scratch"], "touch /x 2>/dev/null && echo ROOTWRITE; touch /scratch/y && echo TMPFS");
    assert.doesNotMatch(r.stdout, /ROOTWRITE/);
    assert.match(r.stdout, /TMPFS/);
  });
});
