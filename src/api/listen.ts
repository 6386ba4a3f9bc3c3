// Where the service listens: `unix:///path` (default /run/capsa/capsa.sock,
// mode 0660, root's group unless --group) and `tcp://host:port`. TCP without
// TLS is refused unless the address is loopback; with --tlsverify the client
// must present a certificate signed by --tlscacert.
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { CapsaError, invalid, systemError } from "../util/errors.ts";
import { isLoopback, type ListenerKind } from "./guard.ts";
import type { ApiService } from "./server.ts";

export const DEFAULT_HOST = "unix:///run/capsa/capsa.sock";

export type ListenAddress = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export function parseHost(h: string): ListenAddress {
  if (h.startsWith("unix://")) {
    const p = h.slice("unix://".length);
    if (!p.startsWith("/")) throw invalid(`invalid unix socket address ${h}: the path must be absolute`);
    return { kind: "unix", path: p };
  }
  if (h.startsWith("tcp://")) {
    const u = new URL(h.replace(/^tcp:/, "http:"));
    const port = Number(u.port || 2375);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`invalid port in ${h}`);
    return { kind: "tcp", host: u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1", port };
  }
  throw invalid(`invalid host ${h}: use unix:///path or tcp://host:port`);
}

/**
 * Throws when an address may not be served with these options: TCP without
 * TLS only on a loopback address, and only when asked for explicitly
 * (`insecureLoopback`, the CLI's --insecure-tcp): any local user could drive it.
 */
export function checkSecurity(addr: ListenAddress, tls: TlsFiles | undefined, insecureLoopback = false): void {
  if (addr.kind !== "tcp" || tls) return;
  if (!isLoopback(addr.host)) {
    throw new CapsaError(
      "invalid",
      `refusing to listen on tcp://${addr.host}:${addr.port} without TLS: anyone who reaches it would control this host as root. Pass --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY, or listen on a loopback address`,
    );
  }
  if (!insecureLoopback) {
    throw new CapsaError(
      "invalid",
      `refusing to listen on tcp://${addr.host}:${addr.port} without TLS: every local user could control this host as root through it. Pass --insecure-tcp to accept that, or use --tlsverify, or a unix socket`,
    );
  }
}

function groupId(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const line = fs
    .readFileSync("/etc/group", "utf8")
    .split("\n")
    .find((l) => l.split(":")[0] === name);
  if (!line) throw invalid(`group ${name} does not exist`);
  return Number(line.split(":")[2]);
}

/** A socket file left by a service that died: remove it; a live one means the address is taken. */
async function clearStaleSocket(p: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) throw invalid(`${p} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const s = net.connect(p);
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
  if (live) throw new CapsaError("conflict", `another service is listening on unix://${p}`);
  fs.rmSync(p, { force: true });
}

export interface Listener {
  address: string;
  server: http.Server;
  close(): Promise<void>;
}

export async function listen(service: ApiService, addr: ListenAddress, opts: { tls?: TlsFiles; group?: string; insecureTcp?: boolean }): Promise<Listener> {
  checkSecurity(addr, opts.tls, opts.insecureTcp);
  const server = opts.tls
    ? https.createServer({
        allowHalfOpen: true,
        ca: fs.readFileSync(opts.tls.ca),
        cert: fs.readFileSync(opts.tls.cert),
        key: fs.readFileSync(opts.tls.key),
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: "TLSv1.2",
      })
    : http.createServer();
  // The port is the one bound (for tcp://host:0), set below once listening.
  const kind: ListenerKind = addr.kind === "unix" ? { kind: "unix" } : { kind: "tcp", host: addr.host, port: addr.port, tls: !!opts.tls };
  service.install(server, kind);
  const start = (bind: (cb: () => void) => void): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      bind(() => {
        server.off("error", reject);
        resolve();
      });
    });
  if (addr.kind === "unix") {
    fs.mkdirSync(path.dirname(addr.path), { recursive: true, mode: 0o755 });
    await clearStaleSocket(addr.path);
    const gid = groupId(opts.group ?? "0");
    // The socket is created 0660 (no window where others could connect), then given its group.
    const old = process.umask(0o117);
    try {
      await start((cb) => server.listen(addr.path, cb));
    } catch (e) {
      throw systemError(`listen on unix://${addr.path}`, e);
    } finally {
      process.umask(old);
    }
    fs.chmodSync(addr.path, 0o660);
    fs.chownSync(addr.path, 0, gid);
  } else {
    try {
      await start((cb) => server.listen(addr.port, addr.host, cb));
    } catch (e) {
      throw systemError(`listen on tcp://${addr.host}:${addr.port}`, e);
    }
  }
  if (kind.kind === "tcp") kind.port = (server.address() as net.AddressInfo).port;
  const shown = addr.kind === "unix" ? `unix://${addr.path}` : `tcp://${addr.host}:${(server.address() as net.AddressInfo).port}`;
  return {
    address: shown,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        if (addr.kind === "unix") fs.rmSync(addr.path, { force: true });
      }),
  };
}
