// `capsa logs` as people use it: output without a final newline, a tail of a
// big log, and a reader that closes the pipe early.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { CLI, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";

const isRoot = process.getuid?.() === 0;

void describe("capsa logs", { skip: !isRoot && "needs root" }, () => {
  let t: TestRoot;
  before(() => {
    t = makeTestRoot("logs");
    importBusybox(t);
  });
  after(() => t?.cleanup());

  void test("the last line of output is kept when it has no newline", () => {
    const run = t.capsa(["run", "--name", "printf-abc", "busybox", "printf", "abc"]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "abc");
    const logs = t.capsa(["logs", "printf-abc"]);
    assert.equal(logs.status, 0, logs.stderr);
    assert.equal(logs.stdout, "abc");
  });

  void test("--tail 1 of a long log, and a reader that stops after one line ends the command quietly", () => {
    const run = t.capsa(["run", "-d", "--name", "many-lines", "busybox", "sh", "-c", "seq 1 200000"]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(t.capsa(["wait", "many-lines"]).stdout.trim(), "0");
    const tail = t.capsa(["logs", "--tail", "1", "many-lines"]);
    assert.equal(tail.stdout, "200000\n");
    const piped = spawnSync("sh", ["-c", `"$0" "$1" logs many-lines | head -1`, process.execPath, CLI], { env: t.env, encoding: "utf8" });
    assert.equal(piped.stdout, "1\n");
    assert.equal(piped.stderr, "", "no EPIPE stack trace");
  });
});
