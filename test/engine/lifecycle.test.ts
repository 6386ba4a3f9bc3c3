// End-to-end container lifecycle through the real CLI, runtime and monitor.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CLI, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";

let t: TestRoot;
before(() => {
  t = makeTestRoot("life");
  importBusybox(t, "bb:1");
});
after(() => t.cleanup());

const ok = (r: { status: number | null; stderr: string; stdout: string }, what: string): string => {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

void describe("run", () => {
  void it("prints the workload's output and keeps stdout and stderr apart", () => {
    const r = t.capsa(["run", "--rm", "bb:1", "sh", "-c", "echo hello; echo oops >&2"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "hello\n");
    assert.equal(r.stderr, "oops\n");
  });

  void it("exits with the workload's exit code", () => {
    assert.equal(t.capsa(["run", "--rm", "bb:1", "sh", "-c", "exit 42"]).status, 42);
  });

  void it("returns 127 for a command missing from the image and 126 for one that cannot run", () => {
    const missing = t.capsa(["run", "--rm", "bb:1", "/no/such/thing"]);
    assert.equal(missing.status, 127, missing.stderr);
    assert.match(missing.stderr, /no such file|not found/i);
    const notExec = t.capsa(["run", "--rm", "bb:1", "/etc/passwd"]);
    assert.equal(notExec.status, 126, notExec.stderr);
  });

  void it("--rm leaves no container and no mount behind", () => {
    ok(t.capsa(["run", "--rm", "--name", "gone", "bb:1", "true"]), "run");
    assert.equal(t.capsa(["inspect", "gone"]).status, 1);
    const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8");
    assert.ok(!mounts.includes(path.join(t.root, "containers")), "a container mount is left behind");
  });

  void it("fails clearly for an unknown image with exit code 125", () => {
    const r = t.capsa(["run", "--rm", "--pull", "never", "nosuchimage:1", "true"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /No such image/i);
  });

  void it("passes env, workdir, user and hostname", () => {
    const out = ok(t.capsa(["run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "app", "--hostname", "box1", "bb:1", "sh", "-c", 'echo $FOO $(pwd) $(id -u) $(hostname)']), "run");
    assert.equal(out.trim(), "bar /tmp 1000 box1");
  });

  void it("feeds stdin with -i", () => {
    const r = t.capsa(["run", "--rm", "-i", "bb:1", "sh", "-c", "tr a-z A-Z"], { input: "shout\n" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "SHOUT\n");
  });

  void it("rejects a duplicate name without creating anything", () => {
    ok(t.capsa(["create", "--name", "dup", "bb:1", "true"]), "create");
    const r = t.capsa(["create", "--name", "dup", "bb:1", "true"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /already in use/);
    ok(t.capsa(["rm", "dup"]), "rm");
  });
});

void describe("detached containers", () => {
  void it("run -d, ps, logs, exec, stop, start, rm", async () => {
    const id = ok(t.capsa(["run", "-d", "--name", "web", "bb:1", "sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"]), "run -d").trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(ok(t.capsa(["ps"]), "ps"), /web/);
    await until(() => t.capsa(["logs", "web"]).stdout.includes("started"));
    assert.equal(ok(t.capsa(["exec", "web", "sh", "-c", "echo in-$HOSTNAME"]), "exec").trim(), `in-${id.slice(0, 12)}`);
    assert.equal(t.capsa(["exec", "web", "sh", "-c", "exit 7"]).status, 7);
    const insp = JSON.parse(ok(t.capsa(["inspect", "web"]), "inspect")) as { State: { Status: string; Pid: number } }[];
    assert.equal(insp[0]!.State.Status, "running");
    assert.ok(insp[0]!.State.Pid > 0);
    ok(t.capsa(["stop", "-t", "5", "web"]), "stop");
    const stopped = JSON.parse(ok(t.capsa(["inspect", "web"]), "inspect")) as { State: { Status: string; ExitCode: number } }[];
    assert.equal(stopped[0]!.State.Status, "exited");
    assert.equal(stopped[0]!.State.ExitCode, 0);
    assert.match(ok(t.capsa(["logs", "web"]), "logs"), /started\nbye\n/);
    ok(t.capsa(["start", "web"]), "start");
    assert.match(ok(t.capsa(["ps", "--format", "{{.Names}} {{.State}}"]), "ps"), /web running/);
    ok(t.capsa(["rm", "-f", "web"]), "rm -f");
    assert.doesNotMatch(ok(t.capsa(["ps", "-a"]), "ps -a"), /web/);
  });

  void it("stop escalates to SIGKILL after the timeout", () => {
    ok(t.capsa(["run", "-d", "--name", "stubborn", "bb:1", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]), "run");
    const t0 = Date.now();
    ok(t.capsa(["stop", "-t", "1", "stubborn"]), "stop");
    assert.ok(Date.now() - t0 >= 1000, "stop returned before the timeout");
    const s = JSON.parse(ok(t.capsa(["inspect", "stubborn"]), "inspect")) as { State: { ExitCode: number } }[];
    assert.equal(s[0]!.State.ExitCode, 137);
    ok(t.capsa(["rm", "stubborn"]), "rm");
  });

  void it("a detached container's exit is recorded by the monitor's exit command", async () => {
    ok(t.capsa(["run", "-d", "--name", "quick", "bb:1", "sh", "-c", "exit 3"]), "run");
    assert.equal(ok(t.capsa(["wait", "quick"]), "wait").trim(), "3");
    const s = JSON.parse(ok(t.capsa(["inspect", "quick"]), "inspect")) as { State: { Status: string; ExitCode: number } }[];
    assert.equal(s[0]!.State.Status, "exited");
    assert.equal(s[0]!.State.ExitCode, 3);
    ok(t.capsa(["rm", "quick"]), "rm");
  });

  void it("restart policy on-failure:2 restarts twice, then gives up", async () => {
    ok(t.capsa(["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "bb:1", "sh", "-c", "exit 1"]), "run");
    await until(() => {
      const s = JSON.parse(t.capsa(["inspect", "flaky"]).stdout || "[{}]") as { RestartCount?: number; State?: { Status: string } }[];
      return s[0]?.RestartCount === 2 && s[0]?.State?.Status === "exited";
    }, 20_000);
    ok(t.capsa(["rm", "-f", "flaky"]), "rm");
  });

  void it("pause and unpause freeze the workload", () => {
    ok(t.capsa(["run", "-d", "--name", "pz", "bb:1", "sleep", "100"]), "run");
    ok(t.capsa(["pause", "pz"]), "pause");
    assert.match(ok(t.capsa(["ps", "--format", "{{.Status}}", "--filter", "name=pz"]), "ps"), /Paused/);
    ok(t.capsa(["unpause", "pz"]), "unpause");
    ok(t.capsa(["rm", "-f", "pz"]), "rm");
  });

  void it("rename changes the name and keeps the id", () => {
    const id = ok(t.capsa(["create", "--name", "old", "bb:1", "true"]), "create").trim();
    ok(t.capsa(["rename", "old", "new"]), "rename");
    const s = JSON.parse(ok(t.capsa(["inspect", "new"]), "inspect")) as { Id: string }[];
    assert.equal(s[0]!.Id, id);
    ok(t.capsa(["rm", "new"]), "rm");
  });
});

void describe("crash recovery", () => {
  void it("a CLI killed mid-run leaves a container that later commands see as exited", async () => {
    const child = spawn(CLI, ["run", "--name", "orphan", "bb:1", "sh", "-c", "sleep 1; exit 5"], { env: t.env, stdio: "ignore" });
    await until(() => (JSON.parse(t.capsa(["inspect", "orphan"]).stdout || "[{}]") as { State?: { Running: boolean } }[])[0]?.State?.Running === true);
    child.kill("SIGKILL");
    await until(() => (JSON.parse(t.capsa(["inspect", "orphan"]).stdout || "[{}]") as { State?: { Status: string } }[])[0]?.State?.Status === "exited", 15_000);
    const s = JSON.parse(ok(t.capsa(["inspect", "orphan"]), "inspect")) as { State: { ExitCode: number } }[];
    assert.equal(s[0]!.State.ExitCode, 5);
    ok(t.capsa(["rm", "orphan"]), "rm");
    assert.ok(!fs.readFileSync("/proc/self/mountinfo", "utf8").includes(path.join(t.root, "containers")));
  });

  void it("a monitor killed with SIGKILL: the container can still be stopped and removed", async () => {
    ok(t.capsa(["run", "-d", "--name", "nomon", "bb:1", "sleep", "1000"]), "run");
    const s = JSON.parse(ok(t.capsa(["inspect", "nomon"]), "inspect")) as { Capsa: { MonitorPid: number }; State: { Pid: number } }[];
    const monitorPid = s[0]!.Capsa.MonitorPid;
    assert.ok(monitorPid > 0);
    process.kill(monitorPid, "SIGKILL");
    ok(t.capsa(["rm", "-f", "nomon"]), "rm -f");
    let alive = true;
    try {
      process.kill(s[0]!.State.Pid, 0);
    } catch {
      alive = false;
    }
    assert.equal(alive, false, "the workload survived rm -f");
  });
  void it("run -d killed while it starts leaves a container that start can start, and no stray conmon", async () => {
    const names: string[] = [];
    for (const ms of [120, 160, 200, 240, 280, 320]) {
      const name = `killed-run-${ms}`;
      names.push(name);
      const child = spawn(CLI, ["run", "-d", "--name", name, "bb:1", "sleep", "100"], { env: t.env, stdio: "ignore" });
      const exited = new Promise((r) => child.once("exit", r));
      await new Promise((r) => setTimeout(r, ms));
      child.kill("SIGKILL");
      await exited;
    }
    for (const name of names) {
      const state = t.capsa(["inspect", "-f", "{{.State.Status}}", name]).stdout.trim();
      if (state === "running") continue;
      assert.equal(state === "created" || state === "", true, `${name}: ${state}`);
      if (state === "") continue; // killed before the record existed
      ok(t.capsa(["start", name]), `start ${name}`);
      assert.equal(t.capsa(["inspect", "-f", "{{.State.Status}}", name]).stdout.trim(), "running");
    }
    ok(t.capsa(["rm", "-f", ...names.filter((n) => t.capsa(["inspect", n]).status === 0)]), "rm -f");
    await until(() => !spawnSync("pgrep", ["-af", "conmon"], { encoding: "utf8" }).stdout.includes(t.root), 10_000);
  });

  void it("an rm killed while the container's files go is finished by the next rm: no directory is left that no command knows", async () => {
    ok(t.capsa(["run", "--name", "many-files", "bb:1", "sh", "-c", "mkdir /d && cd /d && seq 1 60000 | xargs touch"]), "run");
    const id = ok(t.capsa(["inspect", "-f", "{{.Id}}", "many-files"]), "inspect").trim();
    const upper = path.join(t.root, "containers", id);
    const count = (): number => Number(spawnSync("sh", ["-c", `find "${upper}" 2>/dev/null | wc -l`], { encoding: "utf8" }).stdout.trim());
    const before = count();
    assert.ok(before > 50_000, `${before} files`);
    const child = spawn(CLI, ["rm", "many-files"], { env: t.env, stdio: "ignore" });
    // Killed once the removal of the files is under way (fewer files than before).
    await until(() => count() < before - 1000, 30_000);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    ok(t.capsa(["rm", "many-files"]), "second rm finishes the removal");
    assert.equal(fs.existsSync(upper), false, "the container's directory is gone");
    assert.equal(t.capsa(["ps", "-aq", "--filter", "name=many-files"]).stdout, "");
  });
});

void describe("concurrency", () => {
  void it("50 parallel run -d all succeed with unique names", async () => {
    const runs = Array.from({ length: 50 }, (_, i) =>
      new Promise<number>((resolve) => {
        const p = spawn(CLI, ["run", "-d", "--name", `par${i}`, "bb:1", "sleep", "30"], { env: t.env, stdio: ["ignore", "ignore", "pipe"] });
        let err = "";
        p.stderr.on("data", (d: Buffer) => (err += d.toString()));
        p.on("exit", (code) => {
          if (code !== 0) console.error(`par${i}: ${err}`);
          resolve(code ?? -1);
        });
      }),
    );
    const codes = await Promise.all(runs);
    assert.deepEqual(codes.filter((c) => c !== 0), []);
    const names = ok(t.capsa(["ps", "--format", "{{.Names}}"]), "ps").trim().split("\n");
    assert.equal(names.filter((n) => n.startsWith("par")).length, 50);
    const rm = t.capsa(["rm", "-f", ...Array.from({ length: 50 }, (_, i) => `par${i}`)], { timeoutMs: 180_000 });
    assert.equal(rm.status, 0, rm.stderr);
  });
});

void describe("host reboot", () => {
  void it("a container recorded as running before a reboot shows as exited afterwards", () => {
    ok(t.capsa(["run", "-d", "--name", "preboot", "bb:1", "sleep", "1000"]), "run");
    const before = JSON.parse(ok(t.capsa(["inspect", "preboot"]), "inspect")) as { State: { Pid: number } }[];
    // Simulate the new boot: the run root's boot marker no longer matches, as after a reboot.
    fs.writeFileSync(path.join(t.root, "run", "boot-id"), "another-boot\n");
    const s = JSON.parse(ok(t.capsa(["inspect", "preboot"]), "inspect")) as { State: { Status: string; ExitCode: number } }[];
    assert.equal(s[0]!.State.Status, "exited");
    assert.equal(s[0]!.State.ExitCode, 255);
    // The old workload still runs on this (unrebooted) host: end it as the reboot would have.
    process.kill(before[0]!.State.Pid, "SIGKILL");
    ok(t.capsa(["rm", "-f", "preboot"]), "rm");
  });
});

void describe("run-time leftovers", () => {
  void it("removed containers and finished execs leave no attach-socket links behind", () => {
    const sockets = path.join(t.root, "run", "sockets");
    ok(t.capsa(["run", "--rm", "bb:1", "true"]), "run --rm");
    ok(t.capsa(["run", "-d", "--name", "sock-links", "bb:1", "sleep", "60"]), "run -d");
    ok(t.capsa(["exec", "sock-links", "true"]), "exec");
    ok(t.capsa(["rm", "-f", "sock-links"]), "rm -f");
    const broken = fs.readdirSync(sockets).filter((n) => !fs.existsSync(path.join(sockets, n)));
    assert.deepEqual(broken, []);
  });
});
