// Small HTTP helpers shared by the routes: JSON bodies with a size limit,
// docker's error body, query parsing (booleans, filters), streamed JSON lines.
import type { IncomingMessage, ServerResponse } from "node:http";
import { CapsaError, type ErrorKind, invalid } from "../util/errors.ts";

/** A request body larger than this is refused (413); archives and tars are streamed instead. */
export const MAX_JSON_BODY = 4 * 1024 * 1024;

/** HTTP status for each CapsaError kind (docker's errdefs mapping). */
export const STATUS: Record<ErrorKind, number> = {
  "not-found": 404,
  conflict: 409,
  invalid: 400,
  "not-modified": 304,
  forbidden: 403,
  system: 500,
};

/** An error that already knows its HTTP status (e.g. 501, 503, 413). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function statusOf(e: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (e instanceof CapsaError) return STATUS[e.kind];
  return 500;
}

export function errorBody(e: unknown): string {
  return JSON.stringify({ message: e instanceof Error ? e.message : String(e) }) + "\n";
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + "\n";
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

export function sendError(res: ServerResponse, e: unknown): void {
  const status = statusOf(e);
  if (res.headersSent) {
    // Mid-stream: docker clients read an error line in JSON streams; for raw streams, just end.
    if (!res.writableEnded) res.end();
    return;
  }
  if (status === 304) return sendEmpty(res, 304);
  const text = errorBody(e);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

/** A media type as RFC 9110 spells one: token "/" token, then parameters. */
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/i;

/**
 * dockerd's CheckForJSON: a body must come as application/json (parameters
 * allowed); no Content-Type is fine only when there is no body. This is what
 * keeps a web page's "simple request" (text/plain, a form) off the JSON
 * endpoints: a browser can only send application/json after a CORS preflight.
 */
export function checkForJson(req: IncomingMessage): void {
  const ct = req.headers["content-type"] ?? "";
  const bodyless = req.headers["transfer-encoding"] === undefined && Number(req.headers["content-length"] ?? 0) === 0;
  if (ct === "" && bodyless) return;
  const type = ct.split(";")[0]!.trim();
  if (!type) throw invalid(`malformed Content-Type header (${ct}): mime: no media type`);
  if (!MEDIA_TYPE.test(type)) throw invalid(`malformed Content-Type header (${ct}): mime: expected token after slash`);
  if (type.toLowerCase() !== "application/json") throw invalid(`unsupported Content-Type header (${ct}): must be 'application/json'`);
}

/** Reads the whole body as JSON (empty body → undefined). Malformed JSON is a 400; too large a 413. */
export async function readJson(req: IncomingMessage, limit = MAX_JSON_BODY): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) throw new HttpError(413, `request body too large (limit ${limit} bytes)`);
    chunks.push(b);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw invalid(`invalid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * A JSON object body, or {} when empty; anything else is a 400. The
 * Content-Type is checked (checkForJson) unless `anyContentType`: the few
 * endpoints where dockerd decodes without checking (POST /auth).
 */
export async function readObject(req: IncomingMessage, opts: { anyContentType?: boolean } = {}): Promise<Record<string, unknown>> {
  if (!opts.anyContentType) checkForJson(req);
  const v = await readJson(req);
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw invalid("invalid JSON: expected an object");
  return v as Record<string, unknown>;
}

/** Query parameters with docker's conventions. */
export class Query {
  constructor(readonly params: URLSearchParams) {}
  str(name: string): string | undefined {
    return this.params.get(name) ?? undefined;
  }
  all(name: string): string[] {
    return this.params.getAll(name);
  }
  /** docker's boolValue: absent, "", "0", "false", "none" are false. */
  bool(name: string, dflt = false): boolean {
    const v = this.params.get(name);
    if (v === null) return dflt;
    return !["", "0", "false", "none", "no"].includes(v.trim().toLowerCase());
  }
  int(name: string): number | undefined {
    const v = this.params.get(name);
    if (v === null || v === "") return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw invalid(`invalid value for ${name}: ${v}`);
    return n;
  }
  /** The `filters` parameter: {"k":["v"]} or the older {"k":{"v":true}}. */
  filters(): Record<string, string[]> | undefined {
    const raw = this.params.get("filters");
    if (!raw) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw invalid(`invalid filter: ${raw}`);
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw invalid(`invalid filter: ${raw}`);
    const out: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (Array.isArray(v)) out[k] = v.map(String);
      else if (v && typeof v === "object") out[k] = Object.entries(v as Record<string, unknown>).filter(([, on]) => on === true).map(([x]) => x);
      else throw invalid(`invalid filter: ${raw}`);
    }
    return Object.keys(out).length ? out : undefined;
  }
}

/** docker's in-stream error message ({"errorDetail":{"message"},"error"}), which clients raise as the request's error. */
export function writeStreamError(write: (obj: unknown) => void, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  // A failed command's exit status (a build's RUN), as dockerd's JSONError code; the docker CLI exits with it.
  const code = (e as { commandExitCode?: unknown } | null)?.commandExitCode;
  write({ errorDetail: { ...(typeof code === "number" ? { code } : {}), message }, error: message });
}

/**
 * A JSON stream whose 200 goes out with its first message, as dockerd's
 * flushing writer: an error before any output is the request's own (its
 * status and message), one after it goes into the stream. `fail` does that.
 */
export function lazyJsonStream(res: ServerResponse): { write: (obj: unknown) => void; fail: (e: unknown) => void } {
  let write: ((obj: unknown) => void) | undefined;
  const line = (obj: unknown): void => (write ??= jsonStream(res))(obj);
  return {
    write: line,
    fail: (e) => {
      if (!write) throw e;
      writeStreamError(write, e);
    },
  };
}

/** Starts a streamed JSON response (docker's progress/stream messages); returns a line writer. */
export function jsonStream(res: ServerResponse, status = 200): (obj: unknown) => void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.flushHeaders();
  return (obj) => void res.write(JSON.stringify(obj) + "\n");
}
