// The API as an attacker outside the docker clients would try it: a web page
// (a cross-site "simple request", a DNS-rebound name, a foreign Origin) against
// a loopback TCP listener, and API clients naming a host path as the OCI
// runtime or as a seccomp profile. Each attack, had it worked, leaves a canary
// file on the host; every test checks the canary is absent, and that the real
// clients keep working.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import Docker from "dockerode";
import { importBusybox } from "../helpers.ts";
import { startService, type Service } from "../api/service.ts";

const IMAGE = "secapi:1";
const hasDockerPy = spawnSync("/usr/bin/python3", ["-c", "import docker"]).status === 0;

void describe("API: what a web page or an API client may not make the service do", () => {
  let s: Service;
  let dir: string;
  let port: number;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-secapi-"));
    s = await startService("secapi", {}, undefined, { tcp: true });
    port = s.tcpPort!;
    importBusybox(s.t, IMAGE);
  });
  after(async () => {
    await s?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const containerNames = (): string[] => s.t.capsa(["ps", "-a", "--format", "{{.Names}}"]).stdout.split("\n").filter(Boolean);

  /** A container that, were it created and started, writes `canary` on the host through a bind mount of /. */
  const attackBody = (canary: string): string => JSON.stringify({ Image: IMAGE, Cmd: ["sh", "-c", `echo pwned > /host${canary}`], HostConfig: { Binds: ["/:/host"] } });

  /**
   * Follows up a create as the attacking page would (start, by the name it chose) and
   * gives a container that did get through the time to run; then removes it.
   */
  const startAndSettle = async (name: string, headers: Record<string, string>): Promise<void> => {
    await s.tcpRequest("POST", `/containers/${name}/start`, { headers });
    if (!containerNames().includes(name)) return;
    await s.request("POST", `/containers/${name}/wait`);
    await delay(200);
    s.t.capsa(["rm", "-f", name]);
  };

  void it("a text/plain POST /containers/create (a browser's simple request) is refused and creates nothing", async () => {
    const canary = path.join(dir, "plain-canary");
    const name = `secapi-plain-${process.pid}`;
    const headers = { Host: `127.0.0.1:${port}` };
    const r = await s.tcpRequest("POST", `/containers/create?name=${name}`, { headers: { ...headers, "Content-Type": "text/plain;charset=UTF-8" }, body: attackBody(canary) });
    await startAndSettle(name, headers);
    assert.ok(!fs.existsSync(canary), "the container bind-mounting / wrote the canary on the host");
    assert.equal(r.status, 400, r.body);
    assert.equal((JSON.parse(r.body) as { message: string }).message, "unsupported Content-Type header (text/plain;charset=UTF-8): must be 'application/json'");
    assert.ok(!containerNames().includes(name));
    // A body without any Content-Type is refused too; an empty one is not (docker's CheckForJSON).
    const bare = await s.tcpRequest("POST", `/containers/create?name=${name}`, { headers, body: attackBody(canary) });
    assert.equal(bare.status, 400, bare.body);
    assert.match(bare.body, /Content-Type/);
    assert.ok(!containerNames().includes(name));
    const empty = await s.tcpRequest("POST", "/volumes/create", { headers: { ...headers, "Content-Length": "0" } });
    assert.equal(empty.status, 201, empty.body);
    // Every JSON endpoint dockerd checks: networks, volumes, exec, commit.
    for (const p of ["/networks/create", "/volumes/create", "/containers/nosuch/exec", "/exec/nosuch/start", "/commit?container=nosuch"]) {
      const x = await s.tcpRequest("POST", p, { headers: { ...headers, "Content-Type": "text/plain" }, body: "{}" });
      assert.equal(x.status, 400, `${p}: ${x.body}`);
      assert.match(x.body, /unsupported Content-Type header \(text\/plain\)/, p);
    }
  });

  void it("a request for another host name (DNS rebinding) is refused on the loopback listener", async () => {
    const canary = path.join(dir, "rebind-canary");
    const name = `secapi-rebind-${process.pid}`;
    const headers = { Host: `attacker.example:${port}` };
    const r = await s.tcpRequest("POST", `/containers/create?name=${name}`, { headers: { ...headers, "Content-Type": "application/json" }, body: attackBody(canary) });
    await startAndSettle(name, headers);
    assert.ok(!fs.existsSync(canary), "the container bind-mounting / wrote the canary on the host");
    assert.equal(r.status, 403, r.body);
    assert.match((JSON.parse(r.body) as { message: string }).message, /^refusing a request for host "attacker\.example:\d+"/);
    assert.ok(!containerNames().includes(name));
    // Reads are refused too (a rebound page could read the responses).
    assert.equal((await s.tcpRequest("GET", "/containers/json", { headers })).status, 403);
    assert.equal((await s.tcpRequest("GET", "/_ping", { headers: { Host: "127.0.0.1.attacker.example" } })).status, 403);
    // Loopback names and literals pass.
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "127.0.0.1", "127.1.2.3:80"]) {
      assert.equal((await s.tcpRequest("GET", "/_ping", { headers: { Host: host } })).status, 200, host);
    }
    // The unix socket answers to any Host: the docker CLI sends "api.moby.localhost" or "docker" there.
    assert.equal(s.dockerOk(["version", "--format", "{{.Server.APIVersion}}"]).trim(), "1.43");
  });

  void it("a request carrying a foreign browser Origin is refused", async () => {
    const canary = path.join(dir, "origin-canary");
    const name = `secapi-origin-${process.pid}`;
    const headers = { Host: `127.0.0.1:${port}`, Origin: "http://evil.example" };
    const r = await s.tcpRequest("POST", `/containers/create?name=${name}`, { headers: { ...headers, "Content-Type": "application/json" }, body: attackBody(canary) });
    await startAndSettle(name, headers);
    assert.ok(!fs.existsSync(canary), "the container bind-mounting / wrote the canary on the host");
    assert.equal(r.status, 403, r.body);
    assert.match((JSON.parse(r.body) as { message: string }).message, /^refusing a request from origin http:\/\/evil\.example/);
    assert.ok(!containerNames().includes(name));
    // A page on another local port is another origin; so is a sandboxed one ("null").
    for (const origin of [`http://localhost:${port + 1}`, "null", `https://127.0.0.1:${port}`]) {
      assert.equal((await s.tcpRequest("GET", "/_ping", { headers: { Host: `127.0.0.1:${port}`, Origin: origin } })).status, 403, origin);
    }
    // A WebSocket (an upgrade) carries Origin too.
    const ws = await s.tcpRequest("GET", "/containers/nosuch/attach/ws", {
      headers: { Host: `127.0.0.1:${port}`, Origin: "http://evil.example", Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" },
    });
    assert.equal(ws.status, 403, ws.body);
    // The listener's own origin passes.
    assert.equal((await s.tcpRequest("GET", "/_ping", { headers: { Host: `127.0.0.1:${port}`, Origin: `http://127.0.0.1:${port}` } })).status, 200);
  });

  void it("an origin the operator allows (--allow-origin) is served; others still are not", async () => {
    const ui = await startService("secapiorigin", {}, undefined, { tcp: true, args: ["--allow-origin", "http://ui.example:8080"] });
    try {
      const host = `127.0.0.1:${ui.tcpPort}`;
      const ok = await ui.tcpRequest("GET", "/_ping", { headers: { Host: host, Origin: "http://ui.example:8080" } });
      assert.equal(ok.status, 200, ok.body);
      // No CORS headers, as docker 28 (which removed --api-cors-header): a page cannot read the answers itself.
      assert.equal(ok.headers["access-control-allow-origin"], undefined);
      assert.equal((await ui.tcpRequest("GET", "/_ping", { headers: { Host: host, Origin: "http://evil.example" } })).status, 403);
      // The Host check still holds for the allowed origin.
      assert.equal((await ui.tcpRequest("GET", "/_ping", { headers: { Host: "attacker.example", Origin: "http://ui.example:8080" } })).status, 403);
    } finally {
      await ui.stop();
    }
    // A value that is no origin stops the service at start-up.
    const bad = s.t.capsa(["system", "service", "--host", "tcp://127.0.0.1:0", "--insecure-tcp", "--allow-origin", "ui.example"], { timeoutMs: 30_000 });
    assert.notEqual(bad.status, 0, bad.stderr);
    assert.match(bad.stderr, /invalid --allow-origin ui\.example/);
  });

  void it("the docker CLI keeps working over the TCP listener and the unix socket", () => {
    const tcpEnv = { DOCKER_HOST: `tcp://127.0.0.1:${port}` };
    const tcp = s.docker(["run", "--rm", IMAGE, "echo", "over tcp"], { env: tcpEnv });
    assert.equal(tcp.status, 0, tcp.stderr);
    assert.equal(tcp.stdout, "over tcp\n");
    const localhost = s.docker(["ps", "-a", "--format", "{{.Names}}"], { env: { DOCKER_HOST: `tcp://localhost:${port}` } });
    assert.equal(localhost.status, 0, localhost.stderr);
    assert.equal(s.dockerOk(["run", "--rm", IMAGE, "echo", "over unix"]), "over unix\n");
  });

  void it("docker-py and dockerode keep working over the TCP listener", async () => {
    const docker = new Docker({ protocol: "http", host: "127.0.0.1", port });
    const c = await docker.createContainer({ Image: IMAGE, Cmd: ["sh", "-c", "echo dockerode"] });
    await c.start();
    assert.equal(((await c.wait()) as { StatusCode: number }).StatusCode, 0);
    await c.remove();
    if (!hasDockerPy) return; // docker-py's own test says how to install it
    s.dockerOk(["tag", IMAGE, "bb:1"]);
    const py = spawnSync("/usr/bin/python3", [path.join(import.meta.dirname, "..", "api", "fixtures", "docker_py_smoke.py"), `tcp://127.0.0.1:${port}`], { encoding: "utf8", timeout: 120_000 });
    assert.equal(py.status, 0, `${py.stderr}\n--- service log ---\n${s.log().slice(-3000)}`);
    assert.match(py.stdout, /^run b'hi-from-py\\n'$/m);
    assert.match(py.stdout, /^exec 2 b'exec-out\\n'$/m);
    s.dockerOk(["rmi", "bb:1"]);
  });

  /** An executable that would create `canary` when run, then behave as runc. */
  const canaryRuntime = (label: string): { script: string; canary: string } => {
    const canary = path.join(dir, `${label}-canary`);
    const script = path.join(dir, `${label}-runtime`);
    fs.writeFileSync(script, `#!/bin/sh\necho ran > ${canary}\nexec runc "$@"\n`, { mode: 0o755 });
    return { script, canary };
  };

  void it("HostConfig.Runtime naming a host path is refused through the API, and the path never runs", async () => {
    const { script, canary } = canaryRuntime("api");
    const name = `secapi-rt-${process.pid}`;
    const r = await s.request("POST", `/containers/create?name=${name}`, JSON.stringify({ Image: IMAGE, Cmd: ["true"], HostConfig: { Runtime: script } }));
    if (r.status === 201) {
      await s.request("POST", `/containers/${name}/start`);
      s.t.capsa(["rm", "-f", name]);
    }
    assert.ok(!fs.existsSync(canary), "the runtime path given by the API client was executed");
    assert.equal(r.status, 400, r.body);
    assert.equal((JSON.parse(r.body) as { message: string }).message, `unknown or invalid runtime name: ${script}`);
    assert.ok(!containerNames().includes(name));
    // The docker CLI's own flag, through the API: exit 125 with dockerd's words.
    const d = s.docker(["run", "--rm", "--runtime", script, IMAGE, "true"]);
    assert.equal(d.status, 125, d.stderr);
    assert.match(d.stderr, /unknown or invalid runtime name/);
    assert.ok(!fs.existsSync(canary), "the runtime path given by the docker CLI was executed");
    // A runtime capsa knows still works.
    assert.equal(s.dockerOk(["run", "--rm", "--runtime", "runc", IMAGE, "echo", "runc ok"]), "runc ok\n");
  });

  void it("capsa run --runtime <host path> exits 125 and the path never runs", () => {
    const { script, canary } = canaryRuntime("cli");
    const r = s.t.capsa(["run", "--rm", "--runtime", script, IMAGE, "true"]);
    assert.ok(!fs.existsSync(canary), "the runtime path given on the command line was executed");
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /unknown or invalid runtime name: /);
    assert.equal(s.t.capsa(["ps", "-aq"]).stdout.trim(), "");
    // runsc is a name capsa knows: the sandbox level, and only that.
    const vm = s.t.capsa(["create", "--runtime", "runsc", "--isolation", "vm", IMAGE, "true"]);
    assert.equal(vm.status, 125, vm.stderr);
    assert.match(vm.stderr, /--runtime runsc is the sandbox isolation level/);
    const sb = s.t.capsa(["create", "--runtime", "runsc", IMAGE, "true"]);
    assert.equal(sb.status, 0, sb.stderr);
    assert.equal(s.t.capsa(["inspect", "-f", "{{.HostConfig.Isolation}}", sb.stdout.trim()]).stdout.trim(), "sandbox");
    s.t.capsa(["rm", "-f", sb.stdout.trim()]);
  });

  void it("seccomp=<host path> through the API is a 400 that shows none of the file", async () => {
    const secret = `CAPSA-SECRET-${crypto.randomBytes(12).toString("hex")}`;
    const file = path.join(dir, "shadow-like");
    fs.writeFileSync(file, `${secret}:$y$j9T$notahash:19000:0:99999:7:::\n`, { mode: 0o600 });
    const name = `secapi-seccomp-${process.pid}`;
    const r = await s.request("POST", `/containers/create?name=${name}`, JSON.stringify({ Image: IMAGE, Cmd: ["true"], HostConfig: { SecurityOpt: [`seccomp=${file}`] } }));
    let started = "";
    if (r.status === 201) {
      started = (await s.request("POST", `/containers/${name}/start`)).body;
      s.t.capsa(["rm", "-f", name]);
    }
    for (const body of [r.body, started]) assert.ok(!body.includes(secret.slice(0, 6)), `the response shows the file's bytes: ${body}`);
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /seccomp profile/);
    assert.ok(!containerNames().includes(name));
    // The profile's text, as the docker CLI sends it, is what the API takes.
    const profile = JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }] });
    const pf = path.join(dir, "profile.json");
    fs.writeFileSync(pf, profile);
    const d = s.docker(["run", "--rm", "--security-opt", `seccomp=${pf}`, IMAGE, "sh", "-c", "mkdir /x && echo MADE || echo DENIED"]);
    assert.equal(d.status, 0, d.stderr);
    assert.equal(d.stdout, "DENIED\n");
    // The capsa CLI reads a profile file named on its own command line, as docker's CLI does.
    const c = s.t.capsa(["run", "--rm", "--security-opt", `seccomp=${pf}`, IMAGE, "sh", "-c", "mkdir /x && echo MADE || echo DENIED"]);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(c.stdout, "DENIED\n");
  });
});
