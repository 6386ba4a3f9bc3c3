// Runs `capsa system service` on a private unix socket for a test, with its own
// state root (and, when asked, a loopback TCP listener on a free port); stop()
// ends it by its pid (SIGTERM, then SIGKILL) even when a test failed.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { CLI, makeTestRoot, type TestRoot } from "../helpers.ts";

export interface StartOptions {
  /** Also listen on tcp://127.0.0.1:<free port> (plain HTTP, --insecure-tcp). */
  tcp?: boolean;
  /** More `system service` flags. */
  args?: string[];
}

export interface Service {
  t: TestRoot;
  socket: string;
  /** The TCP listener's port, when started with `tcp`. */
  tcpPort?: number;
  /** One raw HTTP request to the TCP listener, with the headers given (Host included, when set). */
  tcpRequest(method: string, p: string, opts?: { headers?: http.OutgoingHttpHeaders; body?: string }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>;
  /** Environment for docker clients: DOCKER_HOST at the socket, a private DOCKER_CONFIG. */
  env: NodeJS.ProcessEnv;
  /** Runs the real docker CLI against the service. */
  docker(args: string[], opts?: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv }): SpawnSyncReturns<string>;
  /** docker(args), asserting exit 0 (the failure shows stderr and the service's log); its stdout. */
  dockerOk(args: string[]): string;
  /** One raw HTTP request over the socket. */
  request(method: string, p: string, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>;
  /** The service's stderr so far (for failure messages). */
  log(): string;
  /** SIGTERM (SIGKILL after 10 s) and wait for the exit; the state root stays. */
  terminate(): Promise<void>;
  /** terminate(), then remove the state root. */
  stop(): Promise<void>;
}

/** `reuse`: serve an existing state root again (a service restart); its stop() still removes it. */
export async function startService(label: string, extraEnv: NodeJS.ProcessEnv = {}, reuse?: TestRoot, opts: StartOptions = {}): Promise<Service> {
  const t = reuse ?? makeTestRoot(label);
  Object.assign(t.env, extraEnv);
  const socket = path.join(t.root, "capsa.sock");
  const dockerConfig = path.join(t.root, "docker-config");
  fs.mkdirSync(dockerConfig, { recursive: true });
  let stderr = "";
  const hosts = ["--host", `unix://${socket}`, ...(opts.tcp ? ["--host", "tcp://127.0.0.1:0", "--insecure-tcp"] : [])];
  const child: ChildProcess = spawn(CLI, ["system", "service", ...hosts, "--debug", ...(opts.args ?? [])], { env: t.env, stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: dockerConfig };
  delete env.DOCKER_API_VERSION;
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;

  const request: Service["request"] = (method, p, body) =>
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath: socket, agent: false, method, path: p, headers: body ? { "Content-Type": "application/json" } : {} }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on("error", reject);
      req.end(body);
    });

  let tcpPort: number | undefined;
  const tcpRequest: Service["tcpRequest"] = (method, p, o = {}) =>
    new Promise((resolve, reject) => {
      if (tcpPort === undefined) return reject(new Error("the service was started without a TCP listener"));
      const req = http.request({ host: "127.0.0.1", port: tcpPort, agent: false, method, path: p, headers: o.headers ?? {} }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on("error", reject);
      req.end(o.body);
    });

  const terminate = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      process.kill(child.pid, "SIGTERM");
      const killer = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, "SIGKILL"), 10_000);
      await exited;
      clearTimeout(killer);
    }
  };
  const stop = async (): Promise<void> => {
    await terminate();
    t.cleanup();
  };

  const docker: Service["docker"] = (args, opts = {}) => spawnSync("docker", args, { env: { ...env, ...opts.env }, input: opts.input, encoding: "utf8", timeout: opts.timeoutMs ?? 60_000 });

  // Ready when a ping answers (and every listener is up: the service names them once all listen).
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const tcp = /API listening on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (tcp) tcpPort = Number(tcp[1]);
      if ((!opts.tcp || tcpPort !== undefined) && (await request("GET", "/_ping")).status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`capsa system service did not come up: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    t,
    socket,
    tcpPort,
    tcpRequest,
    env,
    docker,
    dockerOk: (args) => {
      const r = docker(args);
      if (r.status !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.status}: ${r.stderr}\n--- service log ---\n${stderr.slice(-2000)}`);
      return r.stdout;
    },
    request,
    log: () => stderr,
    terminate,
    stop,
  };
}
