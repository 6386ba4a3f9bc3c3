// testcontainers (Node) against `capsa system service` on a private socket: the
// library tests use to start throwaway services. Its reaper (Ryuk) is an image
// from Docker Hub, so it is turned off: the test removes what it started. The
// image is imported from a local tarball: no registry traffic.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { importBusybox } from "../helpers.ts";
import { startService, type Service } from "./service.ts";

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: p, agent: false }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

void describe("testcontainers against capsa system service", () => {
  let s: Service;
  const saved = { host: process.env.DOCKER_HOST, ryuk: process.env.TESTCONTAINERS_RYUK_DISABLED };
  before(async () => {
    s = await startService("testcontainers");
    importBusybox(s.t, "tc-busybox:1");
    // testcontainers reads its runtime from the environment once, on first use.
    process.env.DOCKER_HOST = `unix://${s.socket}`;
    process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  });
  after(async () => {
    for (const [k, v] of [["DOCKER_HOST", saved.host], ["TESTCONTAINERS_RYUK_DISABLED", saved.ryuk]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await s?.stop();
  });

  void it("GenericContainer: start with a published port and a wait strategy, exec, logs, copy in, stop", async () => {
    const { GenericContainer, Wait } = await import("testcontainers");
    const container = await new GenericContainer("tc-busybox:1")
      .withCommand(["sh", "-c", "mkdir -p /www && echo served-by-capsa > /www/index.html && echo ready && exec httpd -f -p 8080 -h /www"])
      .withExposedPorts(8080)
      .withEnvironment({ GREETING: "hello" })
      .withLabels({ "capsa.test": "testcontainers" })
      .withCopyContentToContainer([{ content: "copied\n", target: "/tmp/copied.txt" }])
      .withWaitStrategy(Wait.forLogMessage("ready"))
      .start();
    try {
      const port = container.getMappedPort(8080);
      assert.ok(port > 0);
      const page = await get(port, "/index.html");
      assert.equal(page.status, 200);
      assert.equal(page.body, "served-by-capsa\n");
      const e = await container.exec(["sh", "-c", 'echo "$GREETING"; cat /tmp/copied.txt; echo oops >&2; exit 3']);
      assert.equal(e.exitCode, 3);
      assert.equal(e.stdout, "hello\ncopied\n");
      assert.equal(e.stderr, "oops\n");
      const logs = await container.logs();
      const text = await new Promise<string>((resolve, reject) => {
        let t = "";
        logs.on("data", (d: Buffer | string) => {
          t += d.toString();
          if (t.includes("ready")) resolve(t);
        });
        logs.on("error", reject);
        setTimeout(() => resolve(t), 5000).unref();
      });
      assert.match(text, /ready/);
      logs.destroy();
      assert.equal(s.t.capsa(["inspect", "-f", '{{index .Config.Labels "capsa.test"}}', container.getId()]).stdout, "testcontainers\n");
    } finally {
      await container.stop({ timeout: 1000 });
    }
    // stop() removes the container (and its anonymous volumes) as testcontainers asks.
    assert.equal(s.t.capsa(["ps", "-aq"]).stdout, "");
  });

  void it("a wait strategy that never passes fails clearly instead of hanging", async () => {
    const { GenericContainer, Wait } = await import("testcontainers");
    await assert.rejects(
      new GenericContainer("tc-busybox:1").withCommand(["sleep", "30"]).withWaitStrategy(Wait.forLogMessage("never printed")).withStartupTimeout(3000).start(),
      /never printed|timed out|Timed out/i,
    );
    // testcontainers stops what failed to start; nothing stays running.
    const left = s.t.capsa(["ps", "-q"]).stdout.trim();
    if (left) s.t.capsa(["rm", "-f", ...left.split("\n")]);
    assert.equal(left, "");
  });
});
