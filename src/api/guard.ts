// Keeps web pages off the TCP listeners. A browser reaches a loopback
// listener from any page, by a cross-site request or by DNS rebinding (the
// page's own name re-resolved to 127.0.0.1); docker clients never send Origin
// and name the address they dialled in Host, while a browser names the page's
// host in Host and sends Origin on every cross-origin POST, PUT, DELETE and
// WebSocket. So, on TCP listeners:
//   - Host must be a loopback name (localhost, 127.0.0.0/8, ::1) or the
//     listener's own address — on listeners bound to a loopback address. A
//     non-loopback listener always has TLS with client certificates: a
//     rebound page fails the browser's certificate check before any request.
//   - Origin, when present, must be the listener's own origin (scheme://Host)
//     or one the operator allowed (`--allow-origin`, "*" for any).
// Unix sockets answer to any Host (the docker CLI sends "api.moby.localhost"
// or "docker" there) and are guarded by their file mode.
import type { IncomingMessage } from "node:http";
import net from "node:net";
import { invalid } from "../util/errors.ts";
import { HttpError } from "./http.ts";

/** A loopback name or address: what a TCP listener may serve without TLS, and the names it answers to. */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (net.isIPv4(host)) return host.startsWith("127.");
  if (net.isIPv6(host)) return host === "::1" || host === "0:0:0:0:0:0:0:1";
  return false;
}

export type ListenerKind = { kind: "unix" } | { kind: "tcp"; host: string; port: number; tls: boolean };

export interface GuardOptions {
  /** Browser origins allowed to drive the API ("*": any), e.g. a reverse proxy that forwards Origin. */
  allowOrigins?: readonly string[];
}

/** The host name of a Host header or address, normalised as a browser would (lower case, IPv4 canonical, no brackets); undefined when malformed. */
function hostName(authority: string): string | undefined {
  try {
    return new URL(`http://${authority}`).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return undefined;
  }
}

function originOf(url: string): string | undefined {
  try {
    const o = new URL(url).origin;
    return o === "null" ? undefined : o;
  } catch {
    return undefined;
  }
}

/** `--allow-origin` values as browsers send them (scheme://host[:port]), or "*"; anything else is refused. */
export function parseAllowOrigins(list: readonly string[] | undefined): string[] {
  return (list ?? []).map((o) => {
    if (o === "*") return o;
    const parsed = /^https?:\/\//i.test(o) ? originOf(o) : undefined;
    if (!parsed || new URL(o).pathname.length > 1) throw invalid(`invalid --allow-origin ${o}: give an origin as a browser sends it, scheme://host[:port], or *`);
    return parsed;
  });
}

export class RequestGuard {
  private readonly ownHost: string | undefined;
  private readonly allowOrigins: ReadonlySet<string>;

  constructor(
    private readonly listener: ListenerKind,
    opts: GuardOptions = {},
  ) {
    this.ownHost = listener.kind === "tcp" ? hostName(listener.host.includes(":") ? `[${listener.host}]` : listener.host) : undefined;
    this.allowOrigins = new Set(parseAllowOrigins(opts.allowOrigins));
  }

  private where(): string {
    if (this.listener.kind !== "tcp") return "this socket";
    const h = this.listener.host.includes(":") ? `[${this.listener.host}]` : this.listener.host;
    return `tcp://${h}:${this.listener.port}`;
  }

  /** Throws a 403 for a request that a web page made or aimed here by another name. */
  check(req: IncomingMessage): void {
    const l = this.listener;
    if (l.kind !== "tcp") return;
    const host = req.headers.host;
    if (host !== undefined && isLoopback(l.host)) {
      const name = hostName(host);
      if (name === undefined || !(isLoopback(name) || name === this.ownHost)) {
        throw new HttpError(403, `refusing a request for host ${JSON.stringify(host)}: ${this.where()} answers only to loopback names (localhost, 127.0.0.1, ::1), as a guard against DNS rebinding`);
      }
    }
    const origin = req.headers.origin;
    if (origin === undefined || this.allowOrigins.has("*")) return;
    const o = originOf(origin);
    if (o !== undefined && this.allowOrigins.has(o)) return;
    const own = host === undefined ? undefined : originOf(`${l.tls ? "https" : "http"}://${host}`);
    if (o !== undefined && o === own) return;
    throw new HttpError(403, `refusing a request from origin ${origin}: web pages may not drive ${this.where()} (the service's --allow-origin lets one through)`);
  }
}
