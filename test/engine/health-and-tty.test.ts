// Health checks (the per-container loop and `healthcheck run`) and the
// interactive terminal, driven through the real CLI.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { CLI, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";

let t: TestRoot;
before(() => {
  t = makeTestRoot("hc");
  importBusybox(t, "bb:1");
});
after(() => t.cleanup());

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 200));
  }
}

const health = (name: string): string => t.capsa(["inspect", "-f", "{{.State.Health.Status}}", name]).stdout.trim();

void describe("health checks", () => {
  void it("go from starting to unhealthy after the retries, then healthy when the test passes", async () => {
    const r = t.capsa(["run", "-d", "--name", "hc1", "--health-cmd", "test -e /tmp/ok", "--health-interval", "1s", "--health-retries", "2", "bb:1", "sleep", "100"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(health("hc1"), "starting");
    await until(() => health("hc1") === "unhealthy");
    assert.match(t.capsa(["ps", "--format", "{{.Status}}", "--filter", "name=hc1"]).stdout, /\(unhealthy\)/);
    assert.equal(t.capsa(["exec", "hc1", "touch", "/tmp/ok"]).status, 0);
    await until(() => health("hc1") === "healthy");
    const once = t.capsa(["healthcheck", "run", "hc1"]);
    assert.equal(once.status, 0);
    assert.equal(once.stdout.trim(), "healthy");
    assert.equal(t.capsa(["rm", "-f", "hc1"]).status, 0);
  });

  void it("--no-healthcheck and containers without one have no health state", () => {
    assert.equal(t.capsa(["run", "-d", "--name", "nohc", "bb:1", "sleep", "100"]).status, 0);
    assert.notEqual(t.capsa(["healthcheck", "run", "nohc"]).status, 0);
    assert.equal(t.capsa(["rm", "-f", "nohc"]).status, 0);
  });
});

void describe("terminal", () => {
  void it("run -it gives the workload a real pty with the client's window size", () => {
    // script(1) gives the CLI a terminal of its own, sized 40x120.
    const cmd = `stty rows 40 cols 120; ${CLI} run --rm -it bb:1 sh -c 'tty; stty size; exit 3'`;
    const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { env: t.env, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /40 120/);
  });

  void it("exec -it into a running container", () => {
    assert.equal(t.capsa(["run", "-d", "--name", "tty1", "bb:1", "sleep", "100"]).status, 0);
    const cmd = `stty rows 30 cols 90; ${CLI} exec -it tty1 sh -c 'tty; stty size'`;
    const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { env: t.env, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /30 90/);
    assert.equal(t.capsa(["rm", "-f", "tty1"]).status, 0);
  });
});
