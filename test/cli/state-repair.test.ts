// Damaged state: a damaged database names its file and the way forward on
// every command (exit 125); `system check` reports what is wrong and
// `--repair` fixes it; `system reset --force` works without a readable
// database and stops what runs before it unmounts anything.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { eventually, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { pidAlive } from "../../src/util/process.ts";
import { mountPoints } from "../../src/util/mounts.ts";

const DAMAGED = /^capsa: database (\S+capsa\.db) is damaged \((.+)\): run 'capsa system check --repair'\n$/;

void describe("damaged or orphaned state", () => {
  let t: TestRoot | undefined;
  afterEach(() => {
    t?.cleanup();
    t = undefined;
  });

  const fresh = (label: string): TestRoot => {
    t = makeTestRoot(label);
    importBusybox(t);
    return t;
  };
  const runDetached = (root: TestRoot, name: string, extra: string[] = []): { pid: number; monitor: number } => {
    const r = root.capsa(["run", "-d", "--name", name, ...extra, "busybox", "sleep", "1000"]);
    assert.equal(r.status, 0, r.stderr);
    const i = root.capsa(["inspect", "-f", "{{.State.Pid}} {{.Capsa.MonitorPid}}", name]);
    const [pid, monitor] = i.stdout.trim().split(" ").map(Number);
    assert.ok(pid && monitor, i.stdout + i.stderr);
    return { pid, monitor };
  };
  const mountsUnder = (root: string): string[] => mountPoints().filter((m) => m.startsWith(root + "/"));

  void it("every command names the damaged file and the way forward, exit 125", () => {
    const root = fresh("dmg");
    const db = path.join(root.root, "capsa.db");
    fs.truncateSync(db, Math.floor(fs.statSync(db).size / 2));
    for (const args of [["ps", "-a"], ["images"], ["inspect", "x"], ["run", "--rm", "busybox", "true"], ["volume", "ls"]]) {
      const r = root.capsa(args);
      assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
      const m = DAMAGED.exec(r.stderr);
      assert.ok(m, `${args.join(" ")}: ${JSON.stringify(r.stderr)}`);
      assert.equal(m[1], db);
    }
    fs.writeFileSync(db, Buffer.alloc(8192, 0x5a));
    const r = root.capsa(["ps"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /is damaged \(file is not a database\)/);
  });

  void it("check reports the damage; --repair sets the file aside, rebuilds it and stops what ran unrecorded", async () => {
    const root = fresh("rep");
    const ran = runDetached(root, "rp-running");
    const db = path.join(root.root, "capsa.db");
    fs.truncateSync(db, 20_000);
    const check = root.capsa(["system", "check"]);
    assert.equal(check.status, 1, check.stdout + check.stderr);
    assert.match(check.stdout, new RegExp(`database ${db} is damaged`));
    assert.match(check.stdout, /container \w{12} runs \(the runtime's state says so\)/);
    const repair = root.capsa(["system", "check", "--repair"]);
    assert.equal(repair.status, 0, repair.stdout + repair.stderr);
    assert.match(repair.stdout, /repaired: set aside as \S+capsa\.db\.damaged-/);
    assert.match(repair.stdout, /lost: /, "what was lost is said");
    // Its directory is too new to be taken for an orphan, its runtime state is not.
    assert.match(repair.stdout, /runtime state under \S+ but no record\n {2}repaired: stopped and removed/);
    assert.ok(fs.readdirSync(root.root).some((n) => n.startsWith("capsa.db.damaged-")));
    await eventually(() => assert.equal(pidAlive(ran.pid) || pidAlive(ran.monitor), false));
    assert.deepEqual(mountsUnder(root.root), []);
    const ps = root.capsa(["ps", "-a"]);
    assert.equal(ps.status, 0, ps.stderr);
    // The image is whole on disk: recorded again (untagged) and runnable.
    assert.match(repair.stdout, /1 image\(s\) recorded again/);
    const ids = root.capsa(["images", "-q"]).stdout.trim().split("\n").filter(Boolean);
    assert.equal(ids.length, 1);
    const run = root.capsa(["run", "--rm", ids[0]!, "echo", "readopted"]);
    assert.equal(run.stdout, "readopted\n", run.stderr);
    const again = root.capsa(["system", "check"]);
    assert.equal(again.status, 0, again.stdout);
    assert.match(again.stdout, /No problems found/);
  });

  void it("reset --force with a damaged database stops running containers first, then deletes; bind sources stay", async () => {
    const root = fresh("rst");
    const bind = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-rst-bind-"));
    fs.writeFileSync(path.join(bind, "keep"), "x");
    try {
      const a = runDetached(root, "rs-a");
      const b = runDetached(root, "rs-b", ["-v", `${bind}:/data`]);
      fs.truncateSync(path.join(root.root, "capsa.db"), 20_000);
      const r = root.capsa(["system", "reset", "--force"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /2 running container\(s\) stopped/);
      for (const p of [a.pid, a.monitor, b.pid, b.monitor]) await eventually(() => assert.equal(pidAlive(p), false, `pid ${p}`));
      assert.deepEqual(mountsUnder(root.root), []);
      assert.deepEqual(fs.readdirSync(root.root), []);
      assert.ok(fs.existsSync(path.join(bind, "keep")), "a bind mount's source is never deleted");
      assert.equal(root.capsa(["ps", "-a"]).status, 0);
    } finally {
      fs.rmSync(bind, { recursive: true, force: true });
    }
  });

  void it("reset --force after the database was moved aside stops the containers it no longer knows", async () => {
    const root = fresh("mva");
    const a = runDetached(root, "mv-a");
    fs.renameSync(path.join(root.root, "capsa.db"), path.join(root.root, "old.db"));
    const r = root.capsa(["system", "reset", "--force"]);
    assert.equal(r.status, 0, r.stderr);
    await eventually(() => assert.equal(pidAlive(a.pid) || pidAlive(a.monitor), false));
    assert.deepEqual(mountsUnder(root.root), []);
  });

  void it("check finds records without files, files without records and dead monitors; --repair fixes them", async () => {
    const root = fresh("chk");
    const clean = root.capsa(["system", "check"]);
    assert.equal(clean.status, 0, clean.stdout + clean.stderr);
    // A container whose directory went away.
    const created = root.capsa(["create", "--name", "ck-nodir", "busybox", "true"]);
    assert.equal(created.status, 0, created.stderr);
    fs.rmSync(path.join(root.root, "containers", created.stdout.trim()), { recursive: true });
    // Directories no record knows (old enough not to belong to a command under way).
    const past = new Date(Date.now() - 3600_000);
    const orphanCtr = path.join(root.root, "containers", "f".repeat(64));
    fs.mkdirSync(path.join(orphanCtr, "diff"), { recursive: true });
    fs.utimesSync(orphanCtr, past, past);
    const orphanLayer = path.join(root.root, "layers", "e".repeat(24));
    fs.mkdirSync(orphanLayer, { recursive: true });
    fs.utimesSync(orphanLayer, past, past);
    // A running container whose monitor died.
    const ran = runDetached(root, "ck-nomon");
    process.kill(ran.monitor, "SIGKILL");
    await eventually(() => assert.equal(pidAlive(ran.monitor), false));

    const check = root.capsa(["system", "check"]);
    assert.equal(check.status, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /container ck-nodir \(\w{12}\): its directory \S+ is missing/);
    assert.match(check.stdout, new RegExp(`${orphanCtr}: no container record`));
    assert.match(check.stdout, new RegExp(`${orphanLayer}: no layer record`));
    assert.match(check.stdout, /container ck-nomon \(\w{12}\): its monitor \(conmon pid \d+\) died while it ran/);
    assert.ok(fs.existsSync(orphanCtr) && fs.existsSync(orphanLayer), "a check changes nothing");

    const repair = root.capsa(["system", "check", "--repair"]);
    assert.equal(repair.status, 0, repair.stdout + repair.stderr);
    assert.equal(fs.existsSync(orphanCtr) || fs.existsSync(orphanLayer), false);
    const state = root.capsa(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}", "ck-nomon"]);
    assert.match(state.stdout, /^exited 137 container monitor died/);
    assert.notEqual(root.capsa(["inspect", "ck-nodir"]).status, 0);
    await eventually(() => assert.equal(pidAlive(ran.pid), false));
    const after = root.capsa(["system", "check"]);
    assert.equal(after.status, 0, after.stdout);
  });
});
