// The container's streams: attach (hijacked), resize of its terminal, logs.
import type { AttachStreams } from "../../types/engine-api.ts";
import { CapsaError, conflict, invalid } from "../../util/errors.ts";
import { parseTimestamp } from "../../util/timestamp.ts";
import { attachStreams, detachKeysParam, framedWriter, readUpgradeBody, STDERR, STDOUT, stdinFrom, streamContentType, writeUpgrade } from "../hijack.ts";
import { type ApiContext, type Call, response } from "../router.ts";

const resizers = new WeakMap<ApiContext, Map<string, (rows: number, cols: number) => void>>();
function resizerMap(api: ApiContext): Map<string, (rows: number, cols: number) => void> {
  let m = resizers.get(api);
  if (!m) resizers.set(api, (m = new Map<string, (rows: number, cols: number) => void>()));
  return m;
}

/** POST /containers/{id}/attach, hijacked (or streamed as the response body when the client did not upgrade). */
export async function attach(call: Call): Promise<void> {
  const api = call.api;
  const c = await api.engine.containers.inspect(call.params[0]!);
  const tty = c.Config.Tty ?? false;
  const q = call.query;
  const o = { tty, stdin: q.bool("stdin"), stdout: q.bool("stdout"), stderr: q.bool("stderr") };
  if (!q.bool("stream") && !q.bool("logs")) throw invalid("Bad parameters: you must choose at least one stream");
  const detachKeys = detachKeysParam(q.str("detachKeys"));
  // docker ≥ 23 sends the terminal's size as HostConfig.ConsoleSize ([rows, cols]) for the
  // process to see from its first instruction; the resize after start comes too late for it.
  const consoleSize = (c.HostConfig as { ConsoleSize?: unknown }).ConsoleSize;
  const onResize: AttachStreams["onResize"] = (fn) => {
    resizerMap(api).set(c.Id, fn);
    if (!c.State.Running && Array.isArray(consoleSize) && Number(consoleSize[0]) > 0 && Number(consoleSize[1]) > 0) fn(Number(consoleSize[0]), Number(consoleSize[1]));
  };
  let streams: AttachStreams;
  let close: () => void;
  if (call.upgrade) {
    const { socket, head } = call.upgrade;
    const len = Number(call.req.headers["content-length"] ?? 0);
    const { rest } = len > 0 ? await readUpgradeBody(socket, head, len) : { rest: head };
    writeUpgrade(socket, tty);
    streams = attachStreams(socket, o.stdin ? stdinFrom(socket, rest, detachKeys) : undefined, o, onResize);
    close = () => socket.end();
  } else {
    const r = response(call);
    r.writeHead(200, { "Content-Type": streamContentType(tty) });
    r.flushHeaders();
    streams = attachStreams(r, undefined, { ...o, stdin: false }, onResize);
    close = () => r.end();
  }
  // logs=1: what the container wrote so far, then (with stream=1) what it writes next, as dockerd.
  if (q.bool("logs")) {
    for await (const e of api.engine.containers.logs(c.Id, { stdout: o.stdout, stderr: o.stderr })) {
      const w = e.stream === "stderr" ? (streams.stderr ?? streams.stdout) : streams.stdout;
      if (!w.write(e.data)) await new Promise((ok) => w.once("drain", ok));
    }
  }
  if (!q.bool("stream")) return close();
  await new Promise<void>((resolve) => {
    const finish = (err?: unknown): void => {
      if (err && !(err instanceof CapsaError && err.kind === "conflict") && streams.stderr) streams.stderr.write(`${err instanceof Error ? err.message : JSON.stringify(err)}\n`);
      resizerMap(api).delete(c.Id);
      close();
      resolve();
    };
    if (c.State.Running) {
      api.engine.containers.attach(c.Id, streams).then(() => finish(), finish);
    } else {
      // docker run: the attach comes before the start; start connects these streams.
      const cancel = api.attaches.add(c.Id, { streams, finish });
      const sock = call.upgrade?.socket ?? call.res;
      sock?.once("close", () => {
        cancel();
        resolve();
      });
    }
  });
}

export async function resize(call: Call): Promise<void> {
  const h = call.query.int("h") ?? 0;
  const w = call.query.int("w") ?? 0;
  const c = await call.api.engine.containers.inspect(call.params[0]!);
  // A start in progress (docker run: 204 comes before `runtime start` is done)
  // already has its attach socket, so its terminal can take the size now.
  const resizer = resizerMap(call.api).get(c.Id);
  if (!c.State.Running && !(resizer && c.State.Status === "created")) throw conflict(`Container ${c.Id} is not running`);
  resizer?.(h, w);
  response(call).writeHead(200);
  response(call).end();
}

/** docker's --since/--until values: unix seconds with an optional fraction. */
function seconds(v: string | undefined): number | undefined {
  if (v === undefined || v === "" || v === "0") return undefined;
  try {
    return parseTimestamp(v);
  } catch {
    throw invalid(`invalid value for since/until: ${v}`);
  }
}

export async function logs(call: Call): Promise<void> {
  const q = call.query;
  const c = await call.api.engine.containers.inspect(call.params[0]!);
  const stdout = q.bool("stdout");
  const stderr = q.bool("stderr");
  if (!stdout && !stderr) throw invalid("Bad parameters: you must choose at least one stream");
  const tailRaw = q.str("tail");
  const tail = tailRaw === undefined || tailRaw === "all" || tailRaw === "" ? "all" : Number(tailRaw);
  if (tail !== "all" && !Number.isInteger(tail)) throw invalid(`invalid value for tail: ${tailRaw}`);
  const timestamps = q.bool("timestamps");
  const tty = c.Config.Tty ?? false;
  const r = response(call);
  r.writeHead(200, { "Content-Type": streamContentType(tty) });
  r.flushHeaders();
  let closed = false;
  r.on("close", () => (closed = true));
  const out = framedWriter(r, tty ? "raw" : STDOUT);
  const err = framedWriter(r, tty ? "raw" : STDERR);
  for await (const e of call.api.engine.containers.logs(c.Id, { follow: q.bool("follow"), tail, since: seconds(q.str("since")), until: seconds(q.str("until")), stdout, stderr })) {
    if (closed) break;
    const data = timestamps ? Buffer.concat([Buffer.from(e.time.replace(/\+00:00$/, "Z") + " "), e.data]) : e.data;
    const w = e.stream === "stderr" ? err : out;
    if (!w.write(data)) await new Promise((ok) => w.once("drain", ok));
  }
  r.end();
}
