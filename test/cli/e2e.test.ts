// The CLI against the real engine (runc, conmon, overlay) in a private state root.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { busyboxRootfsTar, CLI, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";

void describe("capsa CLI end to end", () => {
  let t: TestRoot;
  let tmp: string;
  before(() => {
    t = makeTestRoot("cli");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-cli-cp-"));
    importBusybox(t);
  });
  after(() => {
    t.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  void it("run prints the workload's output and exits with its code", () => {
    const r = t.capsa(["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
    assert.equal(r.status, 3);
  });

  void it("run -i passes stdin; -e sets the environment", () => {
    const r = t.capsa(["run", "--rm", "-i", "-e", "GREETING=hi", "busybox", "sh", "-c", 'read x; echo "$GREETING $x"'], { input: "there\n" });
    assert.equal(r.stdout, "hi there\n");
    assert.equal(r.status, 0);
  });

  void it("a missing command exits 127; a bad flag 125 with docker's wording", () => {
    assert.equal(t.capsa(["run", "--rm", "busybox", "no-such-cmd"]).status, 127);
    const bad = t.capsa(["run", "--bogus", "busybox"]);
    assert.equal(bad.status, 125);
    assert.equal(bad.stderr, "capsa: unknown flag: --bogus\nSee 'capsa run --help'.\n");
  });

  void it("detached lifecycle: run -d, ps, inspect -f, exec, logs, stop, rm", () => {
    const id = t.capsa(["run", "-d", "--name", "e2e-web", "busybox", "sh", "-c", "echo started; exec sleep 60"]).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = t.capsa(["ps", "--format", "{{.ID}} {{.Names}} {{.State}}"]);
    assert.equal(ps.stdout, `${id.slice(0, 12)} e2e-web running\n`);
    const header = t.capsa(["ps"]).stdout.split("\n")[0];
    assert.match(header ?? "", /^CONTAINER ID {3}IMAGE {5}COMMAND +CREATED +STATUS +PORTS +NAMES$/);
    assert.equal(t.capsa(["inspect", "-f", "{{.State.Status}} {{.Name}}", "e2e-web"]).stdout, "running /e2e-web\n");
    const inspected = JSON.parse(t.capsa(["container", "inspect", "e2e-web"]).stdout) as { Id: string }[];
    assert.equal(inspected[0]?.Id, id);
    const ex = t.capsa(["exec", "e2e-web", "sh", "-c", "echo in-exec; exit 4"]);
    assert.equal(ex.stdout, "in-exec\n");
    assert.equal(ex.status, 4);
    assert.equal(t.capsa(["logs", "e2e-web"]).stdout, "started\n");
    assert.match(t.capsa(["logs", "-t", "e2e-web"]).stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z started\n$/);
    const stop = t.capsa(["stop", "-t", "1", "e2e-web"]);
    assert.equal(stop.stdout, "e2e-web\n");
    assert.match(t.capsa(["ps", "-a", "--format", "{{.Status}}"]).stdout, /^Exited \(\d+\) /);
    assert.equal(t.capsa(["rm", "e2e-web"]).stdout, "e2e-web\n");
    const gone = t.capsa(["rm", "e2e-web"]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /^capsa: .*e2e-web/);
  });

  void it("images, tag, rmi, image inspect", () => {
    assert.equal(t.capsa(["tag", "busybox", "bb2:1"]).status, 0);
    const images = t.capsa(["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split("\n").filter(Boolean).sort();
    assert.deepEqual(images, ["bb2:1", "busybox:latest"]);
    assert.match(t.capsa(["images"]).stdout.split("\n")[0] ?? "", /^REPOSITORY {3}TAG {7}IMAGE ID {7}CREATED/);
    assert.equal(t.capsa(["image", "inspect", "-f", "{{.Os}}", "bb2:1"]).stdout, "linux\n");
    assert.match(t.capsa(["rmi", "bb2:1"]).stdout, /^Untagged: /);
  });

  void it("volumes: create, ls, inspect, rm", () => {
    assert.equal(t.capsa(["volume", "create", "e2e-vol"]).stdout, "e2e-vol\n");
    assert.match(t.capsa(["volume", "ls"]).stdout, /^DRIVER {4}VOLUME NAME\nlocal {5}e2e-vol\n/);
    assert.equal(t.capsa(["volume", "inspect", "-f", "{{.Driver}}", "e2e-vol"]).stdout, "local\n");
    const r = t.capsa(["run", "--rm", "-v", "e2e-vol:/data", "busybox", "sh", "-c", "echo persisted > /data/f"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(t.capsa(["run", "--rm", "-v", "e2e-vol:/data", "busybox", "cat", "/data/f"]).stdout, "persisted\n");
    assert.equal(t.capsa(["volume", "rm", "e2e-vol"]).stdout, "e2e-vol\n");
  });

  void it("cp in and out of a container", () => {
    const name = "e2e-cp";
    assert.equal(t.capsa(["create", "--name", name, "busybox", "true"]).status, 0);
    fs.writeFileSync(path.join(tmp, "hello.txt"), "hello\n");
    const into = t.capsa(["cp", path.join(tmp, "hello.txt"), `${name}:/tmp/`]);
    assert.equal(into.status, 0, into.stderr);
    const out = t.capsa(["cp", `${name}:/tmp/hello.txt`, path.join(tmp, "back.txt")]);
    assert.equal(out.status, 0, out.stderr);
    assert.equal(fs.readFileSync(path.join(tmp, "back.txt"), "utf8"), "hello\n");
    assert.equal(t.capsa(["rm", name]).status, 0);
  });

  void it("stop and rm of several containers: all at once, reported in the order given, a missing one fails alone", () => {
    for (const n of ["e2e-many-1", "e2e-many-2", "e2e-many-3"]) assert.equal(t.capsa(["run", "-d", "--name", n, "busybox", "sleep", "60"]).status, 0);
    const stop = t.capsa(["stop", "-t", "0", "e2e-many-3", "e2e-many-1", "e2e-many-2"]);
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal(stop.stdout, "e2e-many-3\ne2e-many-1\ne2e-many-2\n");
    const rm = t.capsa(["rm", "e2e-many-2", "e2e-no-such", "e2e-many-1", "e2e-many-3"]);
    assert.equal(rm.status, 1);
    assert.equal(rm.stdout, "e2e-many-2\ne2e-many-1\ne2e-many-3\n");
    assert.equal(rm.stderr, "capsa: No such container: e2e-no-such\n");
    assert.equal(t.capsa(["ps", "-aq", "--filter", "name=e2e-many"]).stdout, "");
  });

  void it("events: replays with --since/--until, filters, formats, and follows live events from other commands", async () => {
    const since = (Date.now() / 1000 - 1).toFixed(3);
    assert.equal(t.capsa(["run", "--rm", "--name", "e2e-evt", "--label", "team=a", "busybox", "sh", "-c", "exit 2"]).status, 2);
    const until = (Date.now() / 1000 + 1).toFixed(3);
    const replay = t.capsa(["events", "--since", since, "--until", until, "--filter", "container=e2e-evt"]);
    assert.equal(replay.status, 0, replay.stderr);
    const lines = replay.stdout.split("\n").filter(Boolean);
    assert.deepEqual(
      lines.map((l) => l.split(" ").slice(1, 3).join(" ")),
      ["container create", "container start", "container die", "container destroy"],
    );
    // A Go duration with several units reads as it does for logs --since.
    assert.equal(t.capsa(["events", "--since", "1h30m", "--until", until, "--filter", "container=e2e-evt"]).stdout, replay.stdout);
    // docker's line: time, type, action, id, then the attributes sorted by key.
    assert.match(lines[2]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z container die [0-9a-f]{64} \(exitCode=2, image=busybox, name=e2e-evt, team=a\)$/);
    const json = t.capsa(["events", "--since", since, "--until", until, "--filter", "event=die", "--filter", "label=team=a", "--format", "json"]);
    const parsed = json.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { Action: string; Actor: { Attributes: Record<string, string> } });
    assert.deepEqual(parsed.map((e) => [e.Action, e.Actor.Attributes.exitCode]), [["die", "2"]]);
    assert.equal(t.capsa(["events", "--since", "bogus"]).status, 125);
    // rm -f of a running container: it settles the exit itself (conmon's exit command stands aside) and still tells it.
    assert.equal(t.capsa(["run", "-d", "--name", "e2e-evt-rmf", "busybox", "sleep", "60"]).status, 0);
    assert.equal(t.capsa(["exec", "e2e-evt-rmf", "sh", "-c", "exit 4"]).status, 4);
    assert.equal(t.capsa(["rm", "-f", "e2e-evt-rmf"]).status, 0);
    const rmf = t.capsa(["events", "--since", since, "--until", (Date.now() / 1000 + 1).toFixed(3), "--filter", "container=e2e-evt-rmf", "--format", "{{.Action}} {{.Actor.Attributes.signal}}{{.Actor.Attributes.exitCode}}"]);
    assert.deepEqual(rmf.stdout.split("\n").filter(Boolean), ["create <no value><no value>", "start <no value><no value>", "exec_create: sh -c exit 4 <no value><no value>", "exec_start: sh -c exit 4 <no value><no value>", "exec_die <no value>4", "kill 9<no value>", "die <no value>137", "destroy <no value><no value>"]);
    // Image events come from the engine too: tag, untag, delete.
    const img = t.capsa(["import", busyboxRootfsTar(), "e2e-evt-img:1"]);
    assert.equal(img.status, 0, img.stderr);
    assert.equal(t.capsa(["tag", "e2e-evt-img:1", "e2e-evt-img:2"]).status, 0);
    assert.equal(t.capsa(["rmi", "e2e-evt-img:1", "e2e-evt-img:2"]).status, 0);
    const images = t.capsa(["events", "--since", since, "--until", (Date.now() / 1000 + 1).toFixed(3), "--filter", "type=image", "--format", "{{.Action}} {{.Actor.Attributes.name}}"]);
    assert.deepEqual(images.stdout.split("\n").filter((l) => l && !l.includes("busybox")), ["import e2e-evt-img:1", "tag e2e-evt-img:2", "untag e2e-evt-img:1", "untag e2e-evt-img:2", "delete <no value>"]);

    const { spawn } = await import("node:child_process");
    const follower = spawn(CLI, ["events", "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}}"], { env: t.env });
    let out = "";
    follower.stdout.on("data", (d: Buffer) => (out += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(t.capsa(["volume", "create", "e2e-evt-vol"]).status, 0);
      assert.equal(t.capsa(["volume", "rm", "e2e-evt-vol"]).status, 0);
      const deadline = Date.now() + 10_000;
      while (!out.includes("destroy") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(out, "create e2e-evt-vol\ndestroy e2e-evt-vol\n");
    } finally {
      follower.kill("SIGINT");
    }
    const code = await new Promise<number | null>((r) => (follower.exitCode !== null ? r(follower.exitCode) : follower.once("exit", (c) => r(c))));
    assert.equal(code, 0, "ctrl-c ends `capsa events` cleanly");
  });
});
