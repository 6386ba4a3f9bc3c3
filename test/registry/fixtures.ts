// Fixtures for the registry tests: Debian's docker-registry (distribution 2.8)
// run by hand on 127.0.0.1 with a config written to a temp dir (never the
// system service), a self-signed CA made with openssl, htpasswd files, and
// small HTTP servers in front of the registry (a bearer-token gate, a fault
// injector). Everything listens on 127.0.0.1 and is stopped by its pid or
// handle in `after`, also when a test fails.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { CLI, makeTestRoot, type TestRoot } from "../helpers.ts";

export const REGISTRY_BIN = "/usr/bin/docker-registry";

export function haveTools(): string | undefined {
  for (const bin of [REGISTRY_BIN, "/usr/bin/skopeo", "/usr/bin/openssl", "/usr/bin/htpasswd"]) {
    if (!fs.existsSync(bin)) return `${bin} is missing (apt-get install docker-registry skopeo openssl apache2-utils)`;
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function sh(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

export interface Tls {
  ca: string;
  cert: string;
  key: string;
}

/** A CA and a server certificate for 127.0.0.1 and localhost, made with openssl in dir. */
export function makeTls(dir: string): Tls {
  const p = (n: string): string => path.join(dir, n);
  sh("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=capsa test CA", "-keyout", p("ca.key"), "-out", p("ca.pem")]);
  sh("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", p("server.key"), "-out", p("server.csr")]);
  fs.writeFileSync(p("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  sh("openssl", ["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", p("san.ext"), "-out", p("server.pem")]);
  return { ca: p("ca.pem"), cert: p("server.pem"), key: p("server.key") };
}

export function makeHtpasswd(file: string, user: string, password: string): void {
  sh("htpasswd", ["-Bbc", file, user, password]);
}

export interface RunningRegistry {
  /** "127.0.0.1:<port>" */
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** Starts docker-registry with its own config and storage in a temp dir; resolves when it answers. */
export async function startRegistry(opts: { tls?: Tls; htpasswd?: string } = {}): Promise<RunningRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-reg-"));
  const port = await freePort();
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${path.join(dir, "data")}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "  secret: capsa-test-secret",
  ];
  if (opts.tls) lines.push("  tls:", `    certificate: ${opts.tls.cert}`, `    key: ${opts.tls.key}`);
  if (opts.htpasswd) lines.push("auth:", "  htpasswd:", "    realm: capsa-test", `    path: ${opts.htpasswd}`);
  fs.writeFileSync(path.join(dir, "config.yml"), lines.join("\n") + "\n");
  const log = fs.openSync(path.join(dir, "registry.log"), "a");
  const child: ChildProcess = spawn(REGISTRY_BIN, ["serve", path.join(dir, "config.yml")], { stdio: ["ignore", log, log], detached: false });
  fs.closeSync(log);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 10_000);
  } catch (e) {
    const text = fs.existsSync(path.join(dir, "registry.log")) ? fs.readFileSync(path.join(dir, "registry.log"), "utf8") : "";
    await stop();
    throw new Error(`docker-registry did not start: ${(e as Error).message}\n${text}`);
  }
  return { host: `127.0.0.1:${port}`, port, dir, stop };
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        r(true);
      });
      s.once("error", () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Server {
  host: string;
  port: number;
  close(): Promise<void>;
}

export async function listen(handler: http.RequestListener): Promise<Server> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Forwards a request to the registry on 127.0.0.1:upstream; `onResponse` may take over the answer. */
export function forward(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upstream: number,
  onResponse?: (up: http.IncomingMessage, res: http.ServerResponse) => boolean,
): void {
  const up = http.request({ host: "127.0.0.1", port: upstream, method: req.method, path: req.url, headers: req.headers }, (u) => {
    if (onResponse?.(u, res)) return;
    res.writeHead(u.statusCode ?? 502, u.headers);
    u.pipe(res);
  });
  up.on("error", () => res.destroy());
  req.pipe(up);
}

/** A test root with DOCKER_CONFIG, certs.d and the registries config pointed into it (never the machine's). */
export function registryTestRoot(label: string, registriesConf?: object): TestRoot & { confFile: string; dockerConfig: string } {
  const t = makeTestRoot(label);
  const dockerConfig = path.join(t.root, "docker-config");
  const certsD = path.join(t.root, "certs.d");
  fs.mkdirSync(dockerConfig, { recursive: true });
  fs.mkdirSync(certsD, { recursive: true });
  const confFile = path.join(t.root, "registries.json");
  fs.writeFileSync(confFile, JSON.stringify(registriesConf ?? { registries: {} }));
  Object.assign(t.env, { DOCKER_CONFIG: dockerConfig, CAPSA_CERTS_D: certsD, CAPSA_REGISTRIES_CONF: confFile });
  delete t.env.CAPSA_AUTH_FILE;
  return Object.assign(t, { confFile, dockerConfig });
}

/** The relative paths of files (not dirs) below dir; [] when it does not exist. */
export function filesBelow(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((n) => !fs.statSync(path.join(dir, n)).isDirectory());
}

/** Pushes a blob to the registry with a monolithic upload (for hand-made images). */
export async function putBlob(host: string, repo: string, data: Buffer, digest: string): Promise<void> {
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  if (start.status !== 202) throw new Error(`POST upload: ${start.status} ${await start.text()}`);
  const loc = new URL(start.headers.get("location")!, `http://${host}`);
  loc.searchParams.set("digest", digest);
  const put = await fetch(loc, { method: "PUT", body: new Uint8Array(data), headers: { "content-type": "application/octet-stream" } });
  if (put.status !== 201) throw new Error(`PUT blob: ${put.status} ${await put.text()}`);
}

export async function putManifest(host: string, repo: string, ref: string, body: Buffer, mediaType: string): Promise<void> {
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { method: "PUT", body: new Uint8Array(body), headers: { "content-type": mediaType } });
  if (r.status !== 201) throw new Error(`PUT manifest: ${r.status} ${await r.text()}`);
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI without blocking this process: tests that serve HTTP from
 * their own event loop (token gate, fault proxy) cannot use spawnSync.
 */
export function capsaAsync(t: TestRoot, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(CLI, [...args], { env: t.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

export interface CredentialHelper {
  /** The directory to put first on PATH. */
  binDir: string;
  /** Where the helper keeps its secrets, one file per server. */
  storeDir: string;
  /** Every call, in order: "get 127.0.0.1:5000", "store 127.0.0.1:5000", "erase …". */
  calls(): string[];
  /** Puts a secret in the helper's store, as a `store` would. */
  put(server: string, username: string, secret: string): void;
  remove(): void;
}

/**
 * A real docker-credential-<name> executable (a Node script) speaking the
 * helper protocol — get/store/erase on stdin/stdout, "credentials not found in
 * native keychain" with exit 1 when it has nothing — keeping secrets in files
 * of a temp dir and logging each call.
 */
export function makeCredentialHelper(name: string): CredentialHelper {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-credhelper-"));
  const binDir = path.join(dir, "bin");
  const storeDir = path.join(dir, "store");
  const log = path.join(dir, "calls.log");
  fs.mkdirSync(binDir);
  fs.mkdirSync(storeDir);
  const script = `#!${process.execPath}
const fs = require("node:fs");
const path = require("node:path");
const verb = process.argv[2];
const input = fs.readFileSync(0, "utf8");
const file = (server) => path.join(${JSON.stringify(storeDir)}, Buffer.from(server).toString("base64url"));
const notFound = () => { process.stdout.write("credentials not found in native keychain\\n"); process.exit(1); };
if (verb === "store") {
  const c = JSON.parse(input);
  fs.appendFileSync(${JSON.stringify(log)}, "store " + c.ServerURL + "\\n");
  fs.writeFileSync(file(c.ServerURL), JSON.stringify(c));
} else if (verb === "get" || verb === "erase") {
  const server = input.trim();
  fs.appendFileSync(${JSON.stringify(log)}, verb + " " + server + "\\n");
  if (!fs.existsSync(file(server))) notFound();
  if (verb === "get") process.stdout.write(fs.readFileSync(file(server), "utf8"));
  else fs.rmSync(file(server));
} else {
  process.stderr.write("unknown verb " + verb + "\\n");
  process.exit(2);
}
`;
  fs.writeFileSync(path.join(binDir, `docker-credential-${name}`), script, { mode: 0o755 });
  return {
    binDir,
    storeDir,
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : []),
    put: (server, username, secret) => fs.writeFileSync(path.join(storeDir, Buffer.from(server).toString("base64url")), JSON.stringify({ ServerURL: server, Username: username, Secret: secret })),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
