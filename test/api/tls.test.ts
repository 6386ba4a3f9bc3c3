// The service over TCP with TLS and client certificates (--tlsverify): the
// docker CLI with its client certificate works, including the hijacked attach
// of `docker run`; without one it is refused. Certificates come from openssl.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { busyboxRootfsTar, CLI, makeTestRoot, type TestRoot } from "../helpers.ts";
import { freePort, makeTls, type Tls } from "../registry/fixtures.ts";

function clientCert(dir: string): { cert: string; key: string } {
  const p = (n: string): string => path.join(dir, n);
  const sh = (args: string[]): void => {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  };
  sh(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=capsa test client", "-keyout", p("key.pem"), "-out", p("client.csr")]);
  fs.writeFileSync(p("client.ext"), "extendedKeyUsage=clientAuth\n");
  sh(["x509", "-req", "-in", p("client.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", p("client.ext"), "-out", p("cert.pem")]);
  return { cert: p("cert.pem"), key: p("key.pem") };
}

void describe("API service over TLS with client certificates", () => {
  let t: TestRoot;
  let tls: Tls;
  let client: { cert: string; key: string };
  let port: number;
  let pid: number | undefined;
  let exited: Promise<void>;
  let log = "";
  const dir = (): string => path.join(t.root, "tls");

  before(async () => {
    t = makeTestRoot("apitls");
    fs.mkdirSync(dir());
    tls = makeTls(dir());
    client = clientCert(dir());
    port = await freePort();
    const child = spawn(CLI, ["system", "service", "--host", `tcp://127.0.0.1:${port}`, "--tlsverify", "--tlscacert", tls.ca, "--tlscert", tls.cert, "--tlskey", tls.key], { env: t.env, stdio: ["ignore", "ignore", "pipe"] });
    pid = child.pid;
    exited = new Promise((r) => child.once("exit", () => r()));
    child.stderr.on("data", (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!log.includes("API listening")) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`service did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    if (pid) {
      process.kill(pid, "SIGTERM");
      await exited;
    }
    t.cleanup();
  });

  const docker = (args: string[], withCert: boolean, input?: string): ReturnType<typeof spawnSync> => {
    const certDir = path.join(dir(), withCert ? "client" : "anon");
    fs.mkdirSync(certDir, { recursive: true });
    fs.copyFileSync(tls.ca, path.join(certDir, "ca.pem"));
    if (withCert) {
      fs.copyFileSync(client.cert, path.join(certDir, "cert.pem"));
      fs.copyFileSync(client.key, path.join(certDir, "key.pem"));
    }
    const env = { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: withCert ? "1" : "", DOCKER_CERT_PATH: certDir, DOCKER_CONFIG: path.join(dir(), "cfg") };
    const flags = withCert ? [] : ["--tls", "--tlscacert", path.join(certDir, "ca.pem")];
    return spawnSync("docker", [...flags, ...args], { env, input, encoding: "utf8", timeout: 60_000 });
  };

  void it("a client with a certificate signed by the CA is served, attach included", () => {
    const v = docker(["version", "--format", "{{.Server.APIVersion}}"], true);
    assert.equal(v.status, 0, `${String(v.stderr)}\n${log}`);
    assert.equal(String(v.stdout).trim(), "1.43");
    const imp = docker(["import", busyboxRootfsTar(), "bb:1"], true);
    assert.equal(imp.status, 0, String(imp.stderr));
    const run = docker(["run", "--rm", "bb:1", "echo", "over tls"], true);
    assert.equal(String(run.stdout), "over tls\n", `${String(run.stderr)}\n${log}`);
    assert.equal(run.status, 0);
  });

  void it("stdin's end reaches the container over TLS (half-close)", () => {
    const r = docker(["run", "--rm", "-i", "bb:1", "sh", "-c", "cat; echo end"], true, "piped over tls\n");
    assert.equal(String(r.stdout), "piped over tls\nend\n", `${String(r.stderr)}\n${log}`);
  });

  void it("a client without a certificate is refused", () => {
    const r = docker(["version"], false);
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(String(r.stdout), /Server: capsa/);
  });
});
