// A route table: method + path pattern → handler. Patterns are regular
// expressions because image names contain slashes (`/images/{name:.*}/json`).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Entitlement } from "../types/build.ts";
import type { EngineApi } from "../types/engine-api.ts";
import type { EventBus } from "./events.ts";
import type { ExecRegistry } from "./exec-registry.ts";
import type { Query } from "./http.ts";
import type { PendingAttaches } from "./hijack.ts";
import { invalid } from "../util/errors.ts";
import { HttpError } from "./http.ts";

/** What every handler gets: the engine and the service's own in-memory state. */
export interface ApiContext {
  engine: EngineApi;
  events: EventBus;
  execs: ExecRegistry;
  attaches: PendingAttaches;
  /** Build entitlements the service operator granted to every build request (none by default). */
  entitlements?: readonly Entitlement[];
}

export interface Call {
  req: IncomingMessage;
  /** Absent for hijacked (upgraded) requests. */
  res?: ServerResponse;
  /** Present for hijacked requests: the raw connection and bytes read past the headers. */
  upgrade?: { socket: Duplex; head: Buffer };
  params: string[];
  query: Query;
  /** The negotiated API version of this request. */
  version: string;
  api: ApiContext;
}

/** The request's response; an upgraded request has none (a handler that does not hijack answers 400). */
export function response(call: Call): ServerResponse {
  if (!call.res) throw new HttpError(400, "this endpoint cannot be upgraded");
  return call.res;
}

export type Handler = (call: Call) => Promise<void>;

interface Route {
  method: string;
  re: RegExp;
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  /** Pattern: a path with `{name}` (one segment) or `{name*}` (the rest, slashes included). */
  add(method: string, pattern: string, handler: Handler): this {
    const src = pattern.replace(/[.]/g, "\\.").replace(/\{[a-z]+\*\}/gi, "(.+)").replace(/\{[a-z]+\}/gi, "([^/]+)");
    this.routes.push({ method, re: new RegExp(`^${src}/?$`), handler });
    return this;
  }

  /** The handler and its decoded parameters; `methodMismatch` when only the method differs. HEAD falls back to GET. */
  match(method: string, path: string): { handler: Handler; params: string[] } | { methodMismatch: boolean } {
    let mismatch = false;
    for (const pass of [method, method === "HEAD" ? "GET" : undefined]) {
      if (!pass) continue;
      for (const r of this.routes) {
        const m = r.re.exec(path);
        if (!m) continue;
        if (r.method !== pass) {
          mismatch = true;
          continue;
        }
        return { handler: r.handler, params: m.slice(1).map(decodeParam) };
      }
    }
    return { methodMismatch: mismatch };
  }
}

/** A path parameter, %-decoded; a malformed escape is the client's error (400), not a URIError (500). */
function decodeParam(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw invalid(`invalid path parameter ${JSON.stringify(p)}: malformed %-escape`);
  }
}
