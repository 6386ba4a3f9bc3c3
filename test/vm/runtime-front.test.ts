// The VM runtime's shell front (src/vm/host/runtime-handle.ts): conmon runs it
// as the runtime; it does a `create` whose launch the engine prepared without
// starting Node, and hands every other call to the runtime binary. Here the
// "runtime" is a stand-in script that records its arguments, and the
// prepared wrapper only notes that it ran: no QEMU is involved.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { frontScript } from "../../src/vm/host/runtime-handle.ts";
import { readState } from "../../src/vm/shim/state.ts";
import { pidAlive } from "../../src/util/process.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-vm-front-"));
const front = path.join(dir, "front.sh");
const runtime = path.join(dir, "runtime.sh");
const calls = path.join(dir, "calls");
fs.writeFileSync(runtime, `#!/bin/sh\necho "runtime $*" >> '${calls}'\n`, { mode: 0o755 });
// The front execs "<runtime> args…".
fs.writeFileSync(front, frontScript(runtime), { mode: 0o755 });

function bundle(name: string, prepared: boolean): string {
  const b = path.join(dir, name);
  fs.mkdirSync(b);
  if (prepared) {
    fs.writeFileSync(path.join(b, "vm-run.sh"), `#!/bin/sh\nread -r line\necho "wrapper ran: $line" > '${b}/ran'\n`);
    fs.writeFileSync(path.join(b, "vm-run-dir"), `${path.join(dir, "run", name)}\n`);
  }
  return b;
}

async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !check(); ) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

void describe("the VM runtime's shell front", () => {
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  void it("creates a prepared VM itself: starts the wrapper with the caller's stdin and writes the runtime's state and the pid file", async () => {
    const root = path.join(dir, "root");
    const b = bundle("b1", true);
    const pidFile = path.join(dir, "b1.pid");
    const r = spawnSync(front, ["--root", root, "create", "--bundle", b, "--pid-file", pidFile, "vm1"], { input: "from-stdin\n", encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!fs.existsSync(calls), "the runtime binary was not started");
    const s = readState(root, "vm1");
    assert.ok(s, "state written");
    assert.equal(s.id, "vm1");
    assert.equal(s.bundle, b);
    assert.equal(s.runDir, path.join(dir, "run", "b1"));
    assert.equal(s.started, false);
    assert.ok(!Number.isNaN(Date.parse(s.created)), s.created);
    assert.equal(Number(fs.readFileSync(pidFile, "utf8")), s.pid);
    await eventually(() => fs.existsSync(path.join(b, "ran")));
    assert.equal(fs.readFileSync(path.join(b, "ran"), "utf8"), "wrapper ran: from-stdin\n");
    await eventually(() => !pidAlive(s.pid) || fs.readFileSync(`/proc/${s.pid}/stat`, "utf8").includes(") Z"));
  });

  void it("hands everything else to the runtime: other verbs, an unprepared bundle, an existing state, a terminal", () => {
    const root = path.join(dir, "root2");
    const plain = bundle("b2", false);
    const prepared = bundle("b3", true);
    fs.mkdirSync(path.join(root, "vm3"), { recursive: true });
    fs.writeFileSync(path.join(root, "vm3", "vm-state.json"), "{}");
    const cases = [
      ["--root", root, "state", "vm1"],
      ["--root", root, "create", "--bundle", plain, "--pid-file", path.join(dir, "p2"), "vm2"],
      ["--root", root, "create", "--bundle", prepared, "--pid-file", path.join(dir, "p3"), "vm3"],
      ["--root", root, "create", "--bundle", prepared, "--pid-file", path.join(dir, "p4"), "--console-socket", "/tmp/sock", "vm4"],
    ];
    for (const args of cases) assert.equal(spawnSync(front, args).status, 0);
    assert.deepEqual(fs.readFileSync(calls, "utf8").trim().split("\n"), cases.map((a) => `runtime ${a.join(" ")}`));
    assert.ok(!fs.existsSync(path.join(prepared, "ran")), "no wrapper started by the front");
  });
});
