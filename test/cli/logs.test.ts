// `capsa logs` as people use it: output without a final newline, a tail of a
// big log, and a reader that closes the pipe early.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { CLI, useBusyboxRoot } from "../helpers.ts";

const isRoot = process.getuid?.() === 0;

void describe("capsa logs", { skip: !isRoot && "needs root" }, () => {
  const root = useBusyboxRoot("logs");

  void test("the last line of output is kept when it has no newline", () => {
    const t = root();
    const run = t.capsa(["run", "--name", "printf-abc", "busybox", "printf", "abc"]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "abc");
    const logs = t.capsa(["logs", "printf-abc"]);
    assert.equal(logs.status, 0, logs.stderr);
    assert.equal(logs.stdout, "abc");
  });

  void test("--tail 1 of a long log, and a reader that stops after one line ends the command quietly", () => {
    const t = root();
    const run = t.capsa(["run", "-d", "--name", "many-lines", "busybox", "sh", "-c", "seq 1 200000"]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(t.capsa(["wait", "many-lines"]).stdout.trim(), "0");
    const tail = t.capsa(["logs", "--tail", "1", "many-lines"]);
    assert.equal(tail.stdout, "200000\n");
    const piped = spawnSync("sh", ["-c", `"$0" logs many-lines | head -1`, CLI], { env: t.env, encoding: "utf8" });
    assert.equal(piped.stdout, "1\n");
    assert.equal(piped.stderr, "", "no EPIPE stack trace");
  });

  void test("--log-driver none keeps no log: attached output still flows, logs says it cannot read", () => {
    const t = root();
    const run = t.capsa(["run", "--name", "no-log", "--log-driver", "none", "busybox", "echo", "visible"]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "visible\n");
    const id = t.capsa(["inspect", "-f", "{{.Id}}", "no-log"]).stdout.trim();
    assert.equal(fs.existsSync(path.join(t.root, "containers", id, "ctr.log")), false, "no log file kept");
    const logs = t.capsa(["logs", "no-log"]);
    assert.equal(logs.status, 1);
    assert.equal(logs.stderr, "capsa: configured logging driver does not support reading\n");
  });

  void test("log drivers and options capsa cannot honour are refused at create, in one line, creating nothing", () => {
    const t = root();
    const before = t.capsa(["ps", "-aq"]).stdout;
    for (const [args, msg] of [
      [["--log-driver", "syslog"], /logger: no log driver named 'syslog' is registered/],
      [["--log-opt", "max-size=abc"], /invalid value for log opt max-size/],
      [["--log-opt", "max-file=0"], /max-file cannot be less than 1/],
      [["--log-opt", "colour=yes"], /unknown log opt 'colour' for json-file log driver/],
      [["--log-driver", "none", "--log-opt", "max-size=1m"], /unknown log opt 'max-size' for none log driver/],
    ] as const) {
      const r = t.capsa(["run", "--rm", ...args, "busybox", "true"]);
      assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    assert.equal(t.capsa(["ps", "-aq"]).stdout, before);
  });

  void test("max-file, which one conmon log file cannot honour, is a warning rather than silence", () => {
    const t = root();
    const r = t.capsa(["run", "--rm", "--log-opt", "max-size=1m", "--log-opt", "max-file=3", "busybox", "true"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^WARNING: log opt max-file=3 is not applied/m);
  });
});
