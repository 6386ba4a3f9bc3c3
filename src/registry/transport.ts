// HTTP to one registry host, as the distribution spec describes it: discover the
// scheme and the auth challenge with `GET /v2/`, then send every request with
// the credentials the challenge asks for — none, Basic, or a Bearer token from
// the challenge's realm for the request's scope (cached per scope). A 401 with a
// new challenge is answered once. Redirects (blob storage) are followed without
// the Authorization header when they leave the registry's origin.
//
// Node's http/https modules rather than fetch: per-registry CAs, the plain-HTTP
// fallback and streaming request bodies need no extra dependency that way.
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import tls from "node:tls";
import { CapsaError, type ErrorKind } from "../util/errors.ts";
import type { Credentials } from "./auth.ts";
import type { TransportSettings } from "./config.ts";

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A body that can be sent again (a 401 retry, a redirect): bytes, or a factory of streams. */
  body?: Buffer | (() => Readable);
  /** Repository scopes the request needs, e.g. "repository:library/busybox:pull". */
  scope?: string[];
  /** Don't follow redirects (upload Location answers). */
  noRedirect?: boolean;
}

interface Challenge {
  scheme: "basic" | "bearer";
  params: Record<string, string>;
}

const USER_AGENT = "capsa/0.1 (distribution client)";
const IDLE_TIMEOUT_MS = Number(process.env.CAPSA_REGISTRY_TIMEOUT_MS) || 60_000;
const MAX_ERROR_BODY = 64 * 1024;

/** Parses a WWW-Authenticate header: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
/** Longer challenges are not read: real ones are a few hundred bytes, and the parameter scan is quadratic in a long run without "=". */
const MAX_CHALLENGE = 8192;

export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header || header.length > MAX_CHALLENGE) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== "basic" && scheme !== "bearer") return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!)) !== null) {
    if (p[0] === "") break;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : (p[3] ?? "");
  }
  return { scheme, params };
}

/** A CapsaError for a registry failure, one line, naming what was being done. */
export function registryError(what: string, status: number, detail: string): CapsaError {
  const kind: ErrorKind = status === 404 ? "not-found" : status === 401 || status === 403 ? "forbidden" : status >= 400 && status < 500 ? "invalid" : "system";
  const err = new CapsaError(kind, `${what}: ${detail}`.replace(/\s*\n\s*/g, " "));
  return err;
}

/** Reads a (small) error body and turns distribution's `{"errors":[{code,message}]}` into text. */
export async function errorDetail(res: Response): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res.body) {
      const b = c as Buffer;
      if (n < MAX_ERROR_BODY) chunks.push(b);
      n += b.length;
    }
  } catch {
    /* the status says enough */
  }
  const text = Buffer.concat(chunks).toString("utf8").slice(0, MAX_ERROR_BODY);
  const base = statusText(res.status);
  try {
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    if (Array.isArray(j.errors) && j.errors.length > 0) {
      return j.errors.map((e) => [e.code?.toLowerCase().replace(/_/g, " "), e.message].filter(Boolean).join(": ")).join("; ") + ` (HTTP ${res.status})`;
    }
  } catch {
    /* not JSON */
  }
  return base;
}

function statusText(status: number): string {
  switch (status) {
    case 401:
      return "unauthorized: authentication required (HTTP 401)";
    case 403:
      return "denied: requested access to the resource is denied (HTTP 403)";
    case 404:
      return "not found (HTTP 404)";
    case 429:
      return "too many requests (HTTP 429)";
    default:
      return `HTTP ${status} ${http.STATUS_CODES[status] ?? ""}`.trim();
  }
}

/** Errors that mean "this server does not speak TLS" (so plain http may be tried). */
function notTls(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException & { reason?: string };
  const text = `${err.code ?? ""} ${err.message ?? ""}`;
  // OpenSSL (Node) words it "wrong version number", BoringSSL (Bun) WRONG_VERSION_NUMBER.
  return /EPROTO|wrong[ _]version[ _]number|packet[ _]length[ _]too[ _]long|ECONNRESET|socket hang up|http[ _]request|unknown[ _]protocol/i.test(text);
}

function certError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|DEPTH_ZERO|UNABLE_TO_GET_ISSUER/.test(code);
}

export class RegistryClient {
  private base: URL | undefined;
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, string>();
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent: https.Agent;

  constructor(
    /** host[:port] as in references. */
    readonly host: string,
    private readonly settings: TransportSettings,
    private readonly creds: Credentials | undefined,
  ) {
    const opts: https.AgentOptions = { keepAlive: true, maxSockets: 8, rejectUnauthorized: settings.verify };
    if (settings.ca.length > 0) opts.ca = [...tls.rootCertificates, ...settings.ca];
    this.httpsAgent = new https.Agent(opts);
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** The registry's address (scheme://host), found by pinging /v2/ over each allowed scheme. */
  private async ping(): Promise<URL> {
    if (this.base) return this.base;
    let lastErr: unknown;
    for (const scheme of this.settings.schemes) {
      const url = new URL(`${scheme}://${this.host}/v2/`);
      try {
        const res = await this.send("GET", url, {});
        res.body.resume();
        this.base = new URL(`${scheme}://${this.host}`);
        if (res.status === 401) this.challenge = parseChallenge(header(res.headers, "www-authenticate"));
        return this.base;
      } catch (e) {
        lastErr = e;
        if (certError(e)) break;
        if (scheme === "https" && !notTls(e) && (e as NodeJS.ErrnoException).code !== "ECONNREFUSED") break;
      }
    }
    const msg = lastErr instanceof Error ? lastErr.message : String(lastErr);
    const hint = certError(lastErr) ? " (add its CA to the registries config, see docs/registry.md)" : "";
    throw new CapsaError("system", `registry ${this.host}: ${msg}${hint}`);
  }

  /** GET /v2/ with the credentials: checks that they are accepted (login). */
  async checkLogin(): Promise<void> {
    const res = await this.request("GET", "/v2/", { scope: [] });
    res.body.resume();
    if (res.status === 200) return;
    throw registryError(`login to ${this.host}`, res.status, res.status === 401 ? "unauthorized: incorrect username or password" : statusText(res.status));
  }

  /**
   * One request, authenticated as the registry asks. Returns any status: the
   * caller decides what is an error (a 404 on HEAD blob is an answer).
   */
  async request(method: string, pathOrUrl: string, opts: RequestOptions = {}): Promise<Response> {
    const base = await this.ping();
    let url = new URL(pathOrUrl, base);
    const scope = opts.scope ?? [];
    let authed = false;
    for (let hops = 0; ; hops++) {
      const sameOrigin = url.origin === base.origin;
      const headers = { ...(opts.headers ?? {}) };
      if (sameOrigin) {
        const auth = await this.authorization(scope, false);
        if (auth) headers.authorization = auth;
      }
      let res = await this.send(method, url, { ...opts, headers });
      if (res.status === 401 && sameOrigin && !authed) {
        authed = true;
        const ch = parseChallenge(header(res.headers, "www-authenticate"));
        if (ch) this.challenge = ch;
        const auth = await this.authorization(scope, true, ch?.params.scope);
        // Nothing to answer the challenge with (Basic without credentials): the 401 stands.
        if (auth && auth !== headers.authorization) {
          res.body.resume();
          headers.authorization = auth;
          res = await this.send(method, url, { ...opts, headers });
        }
      }
      const location = header(res.headers, "location");
      if (!opts.noRedirect && [301, 302, 303, 307, 308].includes(res.status) && location && (method === "GET" || method === "HEAD")) {
        res.body.resume();
        if (hops >= 5) throw new CapsaError("system", `registry ${this.host}: too many redirects`);
        url = new URL(location, url);
        continue;
      }
      return res;
    }
  }

  /** The Authorization header for these scopes, fetching a bearer token when the challenge asks for one. */
  private async authorization(scope: string[], fresh: boolean, challengeScope?: string): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === "basic") return this.basic();
    const scopes = [...new Set([...scope, ...(challengeScope ? challengeScope.split(" ") : [])])].sort();
    const key = scopes.join(" ");
    if (!fresh) {
      const t = this.tokens.get(key);
      if (t) return `Bearer ${t}`;
    }
    const token = await this.fetchToken(ch.params, scopes);
    this.tokens.set(key, token);
    return `Bearer ${token}`;
  }

  private async fetchToken(params: Record<string, string>, scopes: string[]): Promise<string> {
    if (!params.realm) throw new CapsaError("system", `registry ${this.host}: bearer challenge without a realm`);
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw new CapsaError("system", `registry ${this.host}: bad token realm ${JSON.stringify(params.realm)}`);
    }
    let res: Response;
    const refresh = this.creds?.identityToken;
    if (refresh) {
      // An identity token is an OAuth2 refresh token: traded with a form POST (docker's client id).
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refresh, client_id: "docker", ...(params.service ? { service: params.service } : {}) });
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      res = await this.send("POST", realm, { headers: { "content-type": "application/x-www-form-urlencoded" }, body: Buffer.from(form.toString()) });
    } else {
      if (params.service) realm.searchParams.set("service", params.service);
      for (const s of scopes) realm.searchParams.append("scope", s);
      const basic = this.basic();
      res = await this.send("GET", realm, { headers: basic ? { authorization: basic } : {} });
    }
    const text = await readLimited(res.body, 1024 * 1024, "token response");
    if (res.status === 401 || res.status === 403) {
      const why = refresh ? "unauthorized: the identity token was refused" : this.basic() ? "unauthorized: incorrect username or password" : "unauthorized: authentication required";
      throw registryError(`registry ${this.host}: token from ${realm.origin}`, res.status, why);
    }
    if (res.status !== 200) throw registryError(`registry ${this.host}: token from ${realm.origin}`, res.status, statusText(res.status));
    try {
      // Any JSON may come back (null, a list, a number): only a non-empty string is a token.
      const j = JSON.parse(text.toString("utf8")) as unknown;
      const o = (j && typeof j === "object" ? j : {}) as { token?: unknown; access_token?: unknown };
      const t = typeof o.token === "string" && o.token !== "" ? o.token : o.access_token;
      if (typeof t !== "string" || t === "") throw new Error("no token in the answer");
      return t;
    } catch (e) {
      throw new CapsaError("system", `registry ${this.host}: token from ${realm.origin}: ${(e as Error).message}`);
    }
  }

  /** Basic credentials, when there is a username or password (an identity token alone has none). */
  private basic(): string | undefined {
    const c = this.creds;
    if (!c || (c.username === "" && c.password === "")) return undefined;
    return "Basic " + Buffer.from(`${c.username}:${c.password}`).toString("base64");
  }

  /** One HTTP exchange; resolves on the response head. */
  private send(method: string, url: URL, opts: RequestOptions): Promise<Response> {
    return new Promise((resolve, reject) => {
      const isHttps = url.protocol === "https:";
      const headers: Record<string, string> = { "user-agent": USER_AGENT, ...(opts.headers ?? {}) };
      let bodyStream: Readable | undefined;
      if (Buffer.isBuffer(opts.body)) headers["content-length"] = String(opts.body.length);
      else if (opts.body) bodyStream = opts.body();
      const req = (isHttps ? https : http).request(url, { method, headers, agent: isHttps ? this.httpsAgent : this.httpAgent }, (res) => {
        res.setTimeout(IDLE_TIMEOUT_MS, () => res.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000}s`)));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
      });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${url.pathname}: no answer for ${IDLE_TIMEOUT_MS / 1000}s`)));
      req.on("error", (e) => {
        bodyStream?.destroy();
        reject(e);
      });
      if (Buffer.isBuffer(opts.body)) req.end(opts.body);
      else if (bodyStream) {
        bodyStream.on("error", (e) => req.destroy(e));
        bodyStream.pipe(req);
      } else req.end();
    });
  }
}

export function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads a whole body, failing once it passes `limit` bytes. */
export async function readLimited(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = c as Buffer;
    n += b.length;
    if (n > limit) {
      body.destroy();
      throw new CapsaError("invalid", `${what} is larger than ${limit} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
