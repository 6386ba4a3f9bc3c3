// The Docker Engine API server. Node's own http module, no framework: the
// routes are a plain table, and attach/exec need the raw connection after an
// HTTP upgrade, which frameworks get in the way of (see docs/api.md).
// Every handler calls the engine's public contract (EngineApi) and nothing else.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Entitlement } from "../types/build.ts";
import type { EngineApi } from "../types/engine-api.ts";
import { VERSION } from "../engine/index.ts";
import { EventBus } from "./events.ts";
import { type ListenerKind, parseAllowOrigins, RequestGuard } from "./guard.ts";
import { ExecRegistry } from "./exec-registry.ts";
import { PendingAttaches, writeSocketError } from "./hijack.ts";
import { HttpError, Query, sendError } from "./http.ts";
import { type ApiContext, type Call, Router } from "./router.ts";
import { buildRoutes } from "./routes/build.ts";
import { containerRoutes } from "./routes/containers.ts";
import { execRoutes } from "./routes/exec.ts";
import { imageRoutes } from "./routes/images.ts";
import { networkRoutes } from "./routes/networks.ts";
import { systemRoutes } from "./routes/system.ts";
import { unsupportedRoutes } from "./routes/unsupported.ts";
import { volumeRoutes } from "./routes/volumes.ts";
import { DEFAULT_VERSION, splitVersion } from "./version.ts";

export interface ApiServerOptions {
  /** Called for each request when set (method, path, status) — `--debug` logging. */
  log?: (line: string) => void;
  /** Build entitlements granted to every POST /build (`--allow-insecure-entitlement`); none by default. */
  entitlements?: readonly Entitlement[];
  /** Browser origins allowed on TCP listeners ("*": any); see guard.ts. */
  allowOrigins?: readonly string[];
}

export function buildRouter(): Router {
  const r = new Router();
  systemRoutes(r);
  containerRoutes(r);
  execRoutes(r);
  imageRoutes(r);
  volumeRoutes(r);
  networkRoutes(r);
  buildRoutes(r);
  unsupportedRoutes(r);
  return r;
}

/** Headers dockerd sends on every response; clients read Api-Version and OSType from any of them. */
function commonHeaders(): Record<string, string> {
  return { "Api-Version": DEFAULT_VERSION, "Docker-Experimental": "false", OSType: "linux", Server: `capsa/${VERSION} (linux)` };
}

/**
 * The service: one engine, one set of in-memory state (events, execs, pending
 * attaches), served on any number of listeners (unix socket, TCP, TLS).
 */
export class ApiService {
  readonly api: ApiContext;
  private readonly router = buildRouter();
  /** Hijacked connections: the http server no longer tracks them, shutdown must. */
  private readonly hijacked = new Set<Duplex>();

  constructor(
    engine: EngineApi,
    private readonly opts: ApiServerOptions = {},
  ) {
    parseAllowOrigins(opts.allowOrigins); // a bad value fails at start-up, not at the first request
    this.api = { engine, events: new EventBus(engine.events), execs: new ExecRegistry(), attaches: new PendingAttaches(), entitlements: opts.entitlements ?? [] };
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse | undefined, upgrade: Call["upgrade"], guard: RequestGuard | undefined): Promise<void> {
    guard?.check(req);
    const url = new URL(req.url ?? "/", "http://capsa");
    const { version, path } = splitVersion(url.pathname);
    const m = this.router.match(req.method ?? "GET", path);
    if (!("handler" in m)) {
      if (m.methodMismatch) throw new HttpError(405, "method not allowed");
      throw new HttpError(404, "page not found");
    }
    await m.handler({ req, res, upgrade, params: m.params, query: new Query(url.searchParams), version, api: this.api });
  }

  /**
   * Installs the request and upgrade handlers on an http or https server;
   * `listener` says what it listens on, for the checks against web pages.
   */
  install<S extends http.Server>(server: S, listener?: ListenerKind): S {
    const log = this.opts.log;
    const guard = listener ? new RequestGuard(listener, { allowOrigins: this.opts.allowOrigins }) : undefined;
    const bodyIdleMs = bodyIdleTimeoutMs();
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      for (const [k, v] of Object.entries(commonHeaders())) res.setHeader(k, v);
      watchBody(req, bodyIdleMs);
      res.on("finish", () => log?.(`${req.method} ${req.url} ${res.statusCode}`));
      this.dispatch(req, res, undefined, guard).catch((e: unknown) => {
        log?.(`${req.method} ${req.url} error: ${e instanceof Error ? e.message : String(e)}`);
        sendError(res, e);
      });
    });
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      log?.(`${req.method} ${req.url} upgrade`);
      this.hijacked.add(socket);
      socket.on("close", () => this.hijacked.delete(socket));
      socket.on("error", () => undefined);
      this.dispatch(req, undefined, { socket, head }, guard).catch((e: unknown) => {
        log?.(`${req.method} ${req.url} error: ${e instanceof Error ? e.message : String(e)}`);
        writeSocketError(socket, e);
      });
    });
    // A client that stops sending mid-headers must not hold a connection forever.
    server.headersTimeout = 60_000;
    server.requestTimeout = 0; // streams (logs -f, events, attach) are long-lived on purpose
    server.on("clientError", (_e: Error, socket: Duplex) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      else socket.destroy();
    });
    return server;
  }

  /** Ends hijacked connections (attach, exec); the containers keep running. */
  closeHijacked(): void {
    for (const s of this.hijacked) s.destroy();
    this.hijacked.clear();
  }
}

/**
 * A request body that stops arriving (a client gone quiet mid-upload) must not
 * hold its connection forever: no byte for this long closes it. Only while the
 * body is read — responses that stream for hours (logs -f, events) are not
 * bounded, which is why the server's requestTimeout stays off.
 */
function watchBody(req: IncomingMessage, idleMs: number): void {
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (!hasBody || idleMs <= 0) return;
  const socket = req.socket;
  const onIdle = (): void => void socket.destroy();
  socket.setTimeout(idleMs, onIdle);
  const done = (): void => {
    socket.setTimeout(0);
    socket.off("timeout", onIdle);
  };
  req.once("end", done);
  req.once("close", done);
}

/** 60 s, as the header timeout; CAPSA_API_BODY_TIMEOUT (seconds) sets another. */
function bodyIdleTimeoutMs(): number {
  const v = process.env.CAPSA_API_BODY_TIMEOUT;
  return v && /^\d+$/.test(v) ? Number(v) * 1000 : 60_000;
}

/** A plain-HTTP server for one engine (tests, and unix sockets). */
export function createApiServer(engine: EngineApi, opts: ApiServerOptions = {}): http.Server & { service: ApiService } {
  const service = new ApiService(engine, opts);
  return Object.assign(service.install(http.createServer()), { service });
}
