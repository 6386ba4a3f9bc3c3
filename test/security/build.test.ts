// An untrusted Containerfile at build time, through the real CLI and the API:
// ADD <url> never writes on the host (the name a URL decodes to is confined to
// the image), RUN --network=host needs the person building to allow it
// (`--allow network.host`, or the service operator's
// `--allow-insecure-entitlement network.host`), and RUN --network=container:…
// is always refused. Canaries: a file outside the state root the URL aims at,
// a TCP listener on the host's 127.0.0.1, a listener in another container.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { busyboxRootfsTar, CLI, eventually, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { startService, type Service } from "../api/service.ts";

type R = { status: number | null; stdout: string; stderr: string };

/** Runs a command without blocking this process's event loop (the test's own servers must answer meanwhile). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 300_000): Promise<R> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** A TCP listener on the host's loopback: records what each connection sends, answers "pong". */
async function loopbackListener(): Promise<{ port: number; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server = net.createServer((sock) => {
    const i = received.push("") - 1;
    sock.on("data", (d: Buffer) => {
      received[i] += d.toString();
      if (received[i]!.includes("\n")) sock.end("pong\n");
    });
    sock.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

void describe("build: an untrusted Containerfile", () => {
  let t: TestRoot;
  let work: string;
  before(() => {
    t = makeTestRoot("secbuild");
    importBusybox(t, "busybox:latest");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-secbuild-ctx-"));
  });
  after(() => {
    t.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const capsa = (args: string[]): Promise<R> => run(CLI, [...args], t.env);
  const ok = (r: R): string => {
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const context = (name: string, containerfile: string): string => {
    const dir = path.join(work, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "Containerfile"), containerfile);
    return dir;
  };

  void it("ADD of a URL whose name decodes to a host path writes nothing on the host; the image gets it under a confined name", async () => {
    const canary = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-canary-"));
    // "../../…/<canary>/planted", "/" encoded: the URL's last segment decodes to a path that climbs out of any temp dir.
    const climb = "..%2F".repeat(24) + path.join(canary, "planted").slice(1).split("/").map(encodeURIComponent).join("%2F");
    const headerTarget = "../".repeat(24) + path.join(canary, "by-header").slice(1);
    const server = http.createServer((req, res) => {
      // Every answer also names a host path in Content-Disposition: never a file name on the host either.
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Disposition": `attachment; filename="${headerTarget}"` });
      res.end(`from ${req.url}\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      const dir = context(
        "add-url",
        [
          "FROM busybox",
          `ADD ${base}/${climb} /dl/`,
          `ADD ${base}/a/..%2F.. /up/`,
          `ADD ${base}/nul%00name /nul/`,
          `ADD ${base}/ /root-url/`,
          `ADD ${base}/bad%E0%A4%A /bad/`,
          `ADD ${base}/${climb} /file`,
          "",
        ].join("\n"),
      );
      const r = await capsa(["build", "-t", "sec-url:1", dir]);
      assert.deepEqual(fs.readdirSync(canary), [], "the build wrote into the directory the URL named");
      ok(r);
      const listing = ok(await capsa(["run", "--rm", "--network", "none", "sec-url:1", "sh", "-c", "ls -A /bad /dl /up /nul /root-url; cat /dl/planted /file"]));
      assert.equal(
        listing,
        ["/bad:", "__unnamed__", "", "/dl:", "planted", "", "/nul:", "__unnamed__", "", "/root-url:", "__unnamed__", "", "/up:", "__unnamed__", `from /${climb}`, `from /${climb}`, ""].join("\n"),
      );
    } finally {
      server.close();
      fs.rmSync(canary, { recursive: true, force: true });
    }
  });

  void it("RUN --network=host is refused unless the build allows network.host; then it reaches the host's loopback", async () => {
    const l = await loopbackListener();
    try {
      const dir = context("net-host", `FROM busybox\nENV STEP=1\nRUN --network=host sh -c 'echo probe | nc -w 10 127.0.0.1 ${l.port} > /got'\n`);
      let r = await capsa(["build", "-t", "sec-net:1", dir]);
      assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /^[^\n]*RUN --network=host[^\n]*--allow network\.host[^\n]*\n$/);
      assert.deepEqual(l.received, [], "the RUN step reached the host's loopback");
      // Refused before any step ran: nothing was built, nothing is left.
      assert.doesNotMatch(r.stdout, /Step 2\//);
      assert.equal((await capsa(["image", "inspect", "sec-net:1"])).status, 1);
      assert.equal(ok(await capsa(["ps", "-aq"])), "");
      r = await capsa(["build", "--allow", "network.host", "-t", "sec-net:1", dir]);
      ok(r);
      assert.deepEqual(l.received, ["probe\n"]);
      assert.equal(ok(await capsa(["run", "--rm", "--network", "none", "sec-net:1", "cat", "/got"])), "pong\n");
    } finally {
      await l.close();
    }
  });

  void it("RUN --network=container:<name> and named networks are refused, even with --allow network.host", async () => {
    // A "production" container whose own loopback has a listener: joining its network namespace would reach it.
    ok(await capsa(["run", "-d", "--name", "sec-prod", "--network", "none", "busybox", "nc", "-l", "-p", "7777"]));
    try {
      await eventually(async () => ok(await capsa(["exec", "sec-prod", "sh", "-c", "netstat -ltn | grep -q ':7777 '"])), 30_000);
      for (const mode of ["container:sec-prod", "sec-prod-net", "bridge"]) {
        const dir = context(`net-${mode.replace(/\W/g, "-")}`, `FROM busybox\nRUN --network=${mode} sh -c 'echo probe | nc -w 5 127.0.0.1 7777'\n`);
        const r = await capsa(["build", "--allow", "network.host", dir]);
        assert.equal(r.status, 1, `${mode}: ${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, new RegExp(`RUN --network=${mode} is not allowed`));
      }
      assert.equal(ok(await capsa(["logs", "sec-prod"])), "", "a RUN step reached the other container's listener");
      assert.match(ok(await capsa(["inspect", "-f", "{{.State.Running}}", "sec-prod"])), /^true$/m);
    } finally {
      await capsa(["rm", "-f", "sec-prod"]);
    }
  });

  void it("RUN --network=none and =default keep working; default is the build's --network", async () => {
    const dir = context("net-none", "FROM busybox\nRUN --network=none ls /sys/class/net > /none\nRUN --network=default ls /sys/class/net > /default\n");
    ok(await capsa(["build", "-t", "sec-nets:1", dir]));
    assert.equal(ok(await capsa(["run", "--rm", "--network", "none", "sec-nets:1", "cat", "/none", "/default"])), "lo\neth0\nlo\n");
    ok(await capsa(["build", "--no-cache", "--network", "none", "-t", "sec-nets:2", dir]));
    assert.equal(ok(await capsa(["run", "--rm", "--network", "none", "sec-nets:2", "cat", "/none", "/default"])), "lo\nlo\n");
  });

  void it("an unknown --allow entitlement is a usage error", async () => {
    const r = await capsa(["build", "--allow", "security.insecure", context("allow-bad", "FROM busybox\n")]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /security\.insecure/);
  });
});

void describe("build through the API: RUN --network=host is the service operator's decision", () => {
  let s: Service | undefined;
  let work: string;
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-secbuild-api-"));
  });
  after(async () => {
    await s?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  void it("docker build: refused by default, allowed once the service runs with --allow-insecure-entitlement network.host", async () => {
    s = await startService("secbuild-api");
    s.dockerOk(["import", busyboxRootfsTar(), "bb:1"]);
    const l = await loopbackListener();
    const docker = (args: string[]): Promise<R> => run("docker", args, s!.env);
    try {
      const ctx = path.join(work, "host");
      fs.mkdirSync(ctx);
      fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM bb:1\nRUN --network=host sh -c 'echo probe | nc -w 10 127.0.0.1 ${l.port} > /got'\n`);
      let r = await docker(["build", "-t", "api-net:1", ctx]);
      assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /RUN --network=host is not allowed.*network\.host/);
      assert.deepEqual(l.received, [], "the RUN step reached the host's loopback");

      // The caller's own `docker build --network host` (networkmode=host) is the caller's choice, as with dockerd.
      const chosen = path.join(work, "chosen");
      fs.mkdirSync(chosen);
      fs.writeFileSync(path.join(chosen, "Dockerfile"), `FROM bb:1\nRUN sh -c 'echo probe | nc -w 10 127.0.0.1 ${l.port} > /chosen'\n`);
      r = await docker(["build", "--network", "host", "-t", "api-chosen:1", chosen]);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}\n${s.log().slice(-2000)}`);
      assert.deepEqual(l.received, ["probe\n"]);

      await s.terminate();
      s = await startService("secbuild-api", {}, s.t, { args: ["--allow-insecure-entitlement", "network.host"] });
      r = await docker(["build", "-t", "api-net:1", ctx]);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}\n${s.log().slice(-2000)}`);
      assert.deepEqual(l.received, ["probe\n", "probe\n"]);
      assert.equal(s.dockerOk(["run", "--rm", "--network", "none", "api-net:1", "cat", "/got"]), "pong\n");

      // container:<name> stays refused whatever the operator allows.
      fs.writeFileSync(path.join(ctx, "Dockerfile"), "FROM bb:1\nRUN --network=container:whatever true\n");
      r = await docker(["build", ctx]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /RUN --network=container:whatever is not allowed/);
    } finally {
      await l.close();
    }
  });

  void it("the service refuses an entitlement it does not know", async () => {
    const t = makeTestRoot("secbuild-svc");
    try {
      const r = await run(CLI, ["system", "service", "--host", `unix://${path.join(t.root, "x.sock")}`, "--allow-insecure-entitlement", "security.insecure"], t.env, 60_000);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /security\.insecure/);
      assert.equal(fs.existsSync(path.join(t.root, "x.sock")), false);
    } finally {
      t.cleanup();
    }
  });
});
