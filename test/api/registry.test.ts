// docker push and pull through capsa system service, against a local
// docker-registry (Debian's distribution) on loopback.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { busyboxRootfsTar } from "../helpers.ts";
import { haveTools, makeHtpasswd, startRegistry, type RunningRegistry } from "../registry/fixtures.ts";
import { startService, type Service } from "./service.ts";

const missing = haveTools();

void describe("docker push/pull through capsa system service", { skip: missing ?? false }, () => {
  let s: Service;
  let reg: RunningRegistry;
  let cfg: string;
  before(async () => {
    reg = await startRegistry();
    cfg = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-apireg-"));
    fs.writeFileSync(path.join(cfg, "registries.json"), JSON.stringify({ registries: {} }));
    // The service's own registry settings and credentials, never the machine's.
    s = await startService("apireg", { DOCKER_CONFIG: cfg, CAPSA_REGISTRIES_CONF: path.join(cfg, "registries.json"), CAPSA_CERTS_D: path.join(cfg, "certs.d") });
    assert.equal(s.docker(["import", busyboxRootfsTar(), "bb:1"]).status, 0);
  });
  after(async () => {
    await s?.stop();
    await reg?.stop();
    if (cfg) fs.rmSync(cfg, { recursive: true, force: true });
  });

  void it("tag, push, rmi, pull, run", () => {
    const ref = `${reg.host}/api/bb:1`;
    const run = (args: string[]): string => {
      const r = s.docker(args, { timeoutMs: 120_000 });
      assert.equal(r.status, 0, `docker ${args.join(" ")}: ${r.stderr}\n--- service log ---\n${s.log().slice(-3000)}`);
      return r.stdout;
    };
    run(["tag", "bb:1", ref]);
    assert.match(run(["push", ref]), /1: digest: sha256:[0-9a-f]{64} size: \d+/);
    run(["rmi", ref]);
    const pulled = run(["pull", ref]);
    assert.match(pulled, /Digest: sha256:[0-9a-f]{64}/);
    assert.equal(run(["run", "--rm", ref, "echo", "pulled"]), "pulled\n");
    assert.match(run(["images", "--digests", "--format", "{{.Repository}} {{.Digest}}"]), new RegExp(`${reg.host}/api/bb sha256:`));
  });
});

// docker login/push/pull against a registry with htpasswd Basic auth: the docker
// CLI keeps the credentials in its own config.json and sends them as
// X-Registry-Auth; capsa uses them for that request and stores nothing.
void describe("X-Registry-Auth: the docker CLI's credentials, per request", { skip: missing ?? false }, () => {
  let s: Service;
  let reg: RunningRegistry;
  let cfg: string;
  before(async () => {
    cfg = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-apiauth-"));
    makeHtpasswd(path.join(cfg, "htpasswd"), "alice", "s3cret");
    reg = await startRegistry({ htpasswd: path.join(cfg, "htpasswd") });
    fs.writeFileSync(path.join(cfg, "registries.json"), JSON.stringify({ registries: {} }));
    s = await startService("apiauth", { DOCKER_CONFIG: cfg, CAPSA_REGISTRIES_CONF: path.join(cfg, "registries.json"), CAPSA_CERTS_D: path.join(cfg, "certs.d") });
    assert.equal(s.docker(["import", busyboxRootfsTar(), "bb:1"]).status, 0);
  });
  after(async () => {
    await s?.stop();
    await reg?.stop();
    if (cfg) fs.rmSync(cfg, { recursive: true, force: true });
  });

  void it("docker login keeps the credentials in the CLI; push and pull send them; capsa stores none; a wrong password fails clearly", async () => {
    const ref = `${reg.host}/private/bb:1`;
    const cliConfig = path.join(s.env.DOCKER_CONFIG!, "config.json");
    const capsaAuth = path.join(s.t.root, "auth.json");
    const docker = (args: string[], input?: string): { status: number | null; stdout: string; stderr: string } => s.docker(args, { timeoutMs: 120_000, ...(input !== undefined ? { input } : {}) });
    const ok = (args: string[], input?: string): string => {
      const r = docker(args, input);
      assert.equal(r.status, 0, `docker ${args.join(" ")}: ${r.stderr}\n--- service log ---\n${s.log().slice(-3000)}`);
      return r.stdout;
    };
    const fails = (args: string[], re: RegExp): void => {
      const r = docker(args);
      assert.equal(r.status, 1, `docker ${args.join(" ")} should fail: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re);
    };
    ok(["tag", "bb:1", ref]);
    // Anonymous: the registry's 401.
    fails(["push", ref], /unauthorized/);

    // A wrong password: refused by the registry through capsa, nothing saved anywhere.
    const wrong = docker(["login", "-u", "alice", "--password-stdin", reg.host], "nope\n");
    assert.equal(wrong.status, 1, wrong.stdout + wrong.stderr);
    assert.match(wrong.stderr, /Error response from daemon: login to 127\.0\.0\.1:\d+: unauthorized: incorrect username or password/);
    assert.ok(!fs.existsSync(capsaAuth));

    assert.match(ok(["login", "-u", "alice", "--password-stdin", reg.host], "s3cret\n"), /Login Succeeded/);
    // The CLI holds them; capsa's own file (and the service's docker config) do not.
    const saved = JSON.parse(fs.readFileSync(cliConfig, "utf8")) as { auths: Record<string, { auth?: string }> };
    assert.equal(Buffer.from(saved.auths[reg.host]?.auth ?? "", "base64").toString(), "alice:s3cret");
    assert.ok(!fs.existsSync(capsaAuth), "capsa stored credentials on /auth");
    assert.ok(!fs.existsSync(path.join(cfg, "config.json")));

    assert.match(ok(["push", ref]), /1: digest: sha256:[0-9a-f]{64} size: \d+/);
    ok(["rmi", ref]);
    assert.match(ok(["pull", ref]), /Digest: sha256:[0-9a-f]{64}/);
    assert.equal(ok(["run", "--rm", ref, "echo", "authed"]), "authed\n");
    assert.ok(!fs.existsSync(capsaAuth));

    // The CLI's password goes wrong: X-Registry-Auth carries it, and the registry's 401 comes back.
    fs.writeFileSync(cliConfig, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from("alice:wrong").toString("base64") } } }));
    fails(["push", ref], /unauthorized/);
    ok(["rmi", ref]);
    fails(["pull", ref], /unauthorized/);

    // A header that is not base64url JSON: a 400 with one clear line, before any registry traffic.
    const bad = await rawPost(s.socket, `/images/create?fromImage=${encodeURIComponent(ref)}`, { "X-Registry-Auth": "bm90IGpzb24" });
    assert.equal(bad.status, 400, bad.body);
    assert.match(bad.body, /invalid X-Registry-Auth header: not base64url-encoded JSON/);

    // Without credentials in the request, capsa's stored ones apply (capsa login into the service's root).
    fs.writeFileSync(cliConfig, JSON.stringify({ auths: {} }));
    const login = s.t.capsa(["login", "-u", "alice", "--password-stdin", reg.host], { input: "s3cret\n" });
    assert.equal(login.status, 0, login.stderr);
    assert.ok(fs.existsSync(capsaAuth));
    ok(["pull", ref]);
  });
});

/** A POST with headers of our choosing over the service's socket. */
function rawPost(socket: string, p: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, agent: false, method: "POST", path: p, headers }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
