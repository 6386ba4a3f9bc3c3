// Interactive sessions: without a terminal they are refused before anything is
// created, as docker does, instead of a session that waits forever; a client
// that goes away does not take the container's stdin with it.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { describe, test } from "node:test";
import { CLI, eventually, useBusyboxRoot } from "../helpers.ts";

const isRoot = process.getuid?.() === 0;

void describe("-it without a terminal", { skip: !isRoot && "needs root" }, () => {
  const root = useBusyboxRoot("tty");

  void test("run -it with piped input fails at once with docker's message and leaves no container", () => {
    const t = root();
    const r = t.capsa(["run", "-it", "--rm", "--name", "no-tty", "busybox", "sh"], { input: "ls\n", timeoutMs: 20_000 });
    assert.equal(r.error, undefined, "finished in time");
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "capsa: the input device is not a TTY\n");
    assert.equal(t.capsa(["ps", "-aq"]).stdout, "");
  });

  void test("exec -it with piped input is refused too; exec -i still reads it", () => {
    const t = root();
    assert.equal(t.capsa(["run", "-d", "--name", "tty-target", "busybox", "sleep", "60"]).status, 0);
    const it = t.capsa(["exec", "-it", "tty-target", "sh"], { input: "ls\n", timeoutMs: 20_000 });
    assert.equal(it.status, 1);
    assert.match(it.stderr, /the input device is not a TTY/);
    const i = t.capsa(["exec", "-i", "tty-target", "cat"], { input: "piped\n" });
    assert.equal(i.stdout, "piped\n");
    t.capsa(["rm", "-f", "tty-target"]);
  });
});

void describe("attach", { skip: !isRoot && "needs root" }, () => {
  const root = useBusyboxRoot("attach");

  void test("a killed attach client leaves stdin open: the next client's input and output still flow", async () => {
    const t = root();
    assert.equal(t.capsa(["run", "-d", "-i", "--name", "catter", "busybox", "cat"]).status, 0);
    const first = spawn(CLI, ["attach", "catter"], { env: t.env, stdio: ["pipe", "pipe", "pipe"] });
    let out1 = "";
    first.stdout.on("data", (d: Buffer) => (out1 += d.toString()));
    first.stdin.write("one\n");
    await eventually(() => assert.equal(out1, "one\n"), 20_000);
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    const second = spawn(CLI, ["attach", "catter"], { env: t.env, stdio: ["pipe", "pipe", "pipe"] });
    let out2 = "";
    second.stdout.on("data", (d: Buffer) => (out2 += d.toString()));
    try {
      second.stdin.write("two\n");
      await eventually(() => assert.equal(out2, "two\n"), 20_000);
    } finally {
      second.kill("SIGKILL");
      t.capsa(["rm", "-f", "catter"]);
    }
  });
});

void describe("info on a terminal", { skip: (!isRoot && "needs root") || (!fs.existsSync("/dev/kvm") && "no /dev/kvm: info has no KVM test boot to announce") }, () => {
  const root = useBusyboxRoot("info-tty");

  void test("the first info says it is probing KVM while the test boot runs; the next one, cached, says nothing", () => {
    const t = root();
    const info = (): string => spawnSync("script", ["-qec", `"${CLI}" info >/dev/null`, "/dev/null"], { env: t.env, encoding: "utf8", timeout: 120_000 }).stdout;
    assert.match(info(), /probing whether KVM can boot a VM guest/);
    assert.doesNotMatch(info(), /probing/);
  });
});
