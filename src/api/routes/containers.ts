// /containers/*: the lifecycle (create, start, stop, restart, kill, wait,
// pause, rename, delete), attach (hijacked), logs, listing and inspection,
// top, stats, archives for `docker cp`, changes, export, prune; and /commit.
import { PassThrough } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import type { AttachStreams, PathStat } from "../../types/engine-api.ts";
import { pollDelay } from "../../engine/containers/wait.ts";
import type { ContainerConfig, CreateContainerOptions, HostConfig, ImageConfig } from "../../types/records.ts";
import { parseSecurityOpts } from "../../runtime/security-opt.ts";
import { CapsaError, conflict, invalid } from "../../util/errors.ts";
import { DETACH_EVENT } from "../../util/detach-keys.ts";
import { parseTimestamp } from "../../util/timestamp.ts";
import { attachStreams, detachKeysParam, framedWriter, readUpgradeBody, STDERR, STDOUT, stdinFrom, streamContentType, writeSocketError, writeUpgrade } from "../hijack.ts";
import { HttpError, readObject, sendEmpty, sendJson } from "../http.ts";
import type { ApiContext, Call, Router } from "../router.ts";

const res = (call: Call) => {
  if (!call.res) throw new HttpError(400, "this endpoint cannot be upgraded");
  return call.res;
};

/** Drops what docker clients send as "unset" (null, "", 0, empty maps), which the engine's defaults then fill. */
function dropUnset<T extends object>(o: T | undefined | null, keepZero: string[] = []): T | undefined {
  if (!o || typeof o !== "object") return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (v === null || v === undefined || v === "") continue;
    if (v === 0 && !keepZero.includes(k)) continue;
    if (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out as T;
}

async function containerAttrs(api: ApiContext, id: string): Promise<{ id: string; attrs: Record<string, string> }> {
  try {
    const c = await api.engine.containers.inspect(id);
    return { id: c.Id, attrs: { name: c.Name.replace(/^\//, ""), image: c.Config.Image ?? "", ...(c.Config.Labels ?? {}) } };
  } catch {
    return { id, attrs: {} };
  }
}

/**
 * One exit watcher per running container, shared by every `wait` request.
 * (The engine records die and destroy events itself, whoever notices the exit.)
 */
const watchers = new WeakMap<ApiContext, Map<string, Promise<number>>>();
function watcherOf(api: ApiContext, id: string): Promise<number> | undefined {
  return watchers.get(api)?.get(id);
}
/**
 * attrs come from the caller: an inspect here could itself record the exit
 * (inspect reconciles) and, with --rm, remove the container before the
 * watcher reads its code. "next-exit" is for a start in progress.
 */
function watchExit(api: ApiContext, id: string, attrs: Record<string, string>, condition: "not-running" | "next-exit" = "not-running"): Promise<number> {
  let m = watchers.get(api);
  if (!m) watchers.set(api, (m = new Map<string, Promise<number>>()));
  const existing = m.get(id);
  if (existing) return existing;
  const p = api.engine.containers.wait(id, condition).then(async ({ StatusCode }) => {
    m.delete(id);
    rememberExit(api, [id, attrs.name ?? id], StatusCode);
    return StatusCode;
  });
  p.catch(() => m.delete(id));
  m.set(id, p);
  return p;
}

/**
 * Exit codes of containers that may be gone already (--rm): `docker run`
 * sends its wait request concurrently with start, so for a short-lived
 * container the wait can arrive after the removal.
 */
const recentExits = new WeakMap<ApiContext, Map<string, { code: number; at: number }>>();
const RECENT_MS = 60_000;
function rememberExit(api: ApiContext, keys: string[], code: number): void {
  let m = recentExits.get(api);
  if (!m) recentExits.set(api, (m = new Map<string, { code: number; at: number }>()));
  const now = Date.now();
  for (const [k, v] of m) if (now - v.at > RECENT_MS) m.delete(k);
  for (const k of keys) m.set(k, { code, at: now });
}
function recentExit(api: ApiContext, key: string): number | undefined {
  return recentExits.get(api)?.get(key)?.code;
}

/** Resolves when the container (re)starts: our own start event, or a poll for starts by other front ends. */
function nextStart(api: ApiContext, id: string, startedAt: string, closed: () => boolean): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: boolean): void => {
      if (done) return;
      done = true;
      unsubscribe();
      clearInterval(timer);
      resolve(v);
    };
    const unsubscribe = api.events.subscribe((e) => {
      if (e.Type === "container" && e.Action === "start" && e.Actor.ID === id) finish(true);
    });
    const timer = setInterval(() => {
      if (closed()) return finish(false);
      api.engine.containers.inspect(id).then(
        (c) => {
          if (c.State.Running || c.State.StartedAt !== startedAt) finish(true);
        },
        () => finish(false),
      );
    }, 500);
  });
}

// ---- create / start / stop / lifecycle -------------------------------------------------

type Kind = "string" | "bool" | "number" | "object" | "strings" | "strslice" | "array" | "objects";
const GO_TYPE: Record<Kind, string> = { string: "string", bool: "bool", number: "int64", object: "map", strings: "[]string", strslice: "strslice.StrSlice", array: "[]", objects: "[]struct" };
/** The create body's fields that clients fill most, with the JSON type dockerd's decoder demands. */
const CONFIG_FIELDS: Record<string, Kind> = {
  Image: "string", User: "string", WorkingDir: "string", Hostname: "string", Domainname: "string", StopSignal: "string", MacAddress: "string",
  Tty: "bool", OpenStdin: "bool", StdinOnce: "bool", AttachStdin: "bool", AttachStdout: "bool", AttachStderr: "bool", NetworkDisabled: "bool",
  Env: "strings", OnBuild: "strings", Cmd: "strslice", Entrypoint: "strslice", Shell: "strslice",
  Labels: "object", ExposedPorts: "object", Volumes: "object", Healthcheck: "object", HostConfig: "object", NetworkingConfig: "object", StopTimeout: "number",
};
const HOST_CONFIG_FIELDS: Record<string, Kind> = {
  Binds: "strings", NetworkMode: "string", PortBindings: "object", RestartPolicy: "object", AutoRemove: "bool", Privileged: "bool", PublishAllPorts: "bool",
  ReadonlyRootfs: "bool", Init: "bool", Memory: "number", MemorySwap: "number", NanoCpus: "number", CpuShares: "number", PidsLimit: "number", ShmSize: "number",
  CapAdd: "strings", CapDrop: "strings", Dns: "strings", DnsSearch: "strings", DnsOptions: "strings", ExtraHosts: "strings", SecurityOpt: "strings", GroupAdd: "strings",
  Mounts: "objects", Ulimits: "objects", Devices: "objects", Tmpfs: "object", LogConfig: "object", Sysctls: "object", Isolation: "string", Runtime: "string",
};

function jsonKind(v: unknown): string {
  return Array.isArray(v) ? "array" : v === null ? "null" : typeof v === "boolean" ? "bool" : typeof v;
}

function fits(v: unknown, k: Kind): boolean {
  switch (k) {
    case "string":
      return typeof v === "string";
    case "bool":
      return typeof v === "boolean";
    case "number":
      return typeof v === "number";
    case "object":
      return typeof v === "object" && !Array.isArray(v);
    case "array":
      return Array.isArray(v);
    case "objects":
      return Array.isArray(v) && v.every((x) => typeof x === "object" && x !== null && !Array.isArray(x));
    case "strings":
      return Array.isArray(v) && v.every((x) => typeof x === "string");
    case "strslice":
      return typeof v === "string" || (Array.isArray(v) && v.every((x) => typeof x === "string"));
  }
}

/**
 * dockerd decodes the body into typed Go structs, so a wrong JSON type is a
 * 400 before anything exists; a string where a command list goes is one
 * element, as its StrSlice reads it. Unknown fields are ignored, as there.
 */
function checkCreateBody(body: Record<string, unknown>): void {
  const check = (obj: Record<string, unknown>, fields: Record<string, Kind>, struct: string): void => {
    for (const [key, kind] of Object.entries(fields)) {
      const v = obj[key];
      if (v === undefined || v === null) continue;
      if (!fits(v, kind)) throw invalid(`json: cannot unmarshal ${jsonKind(v)} into Go struct field ${struct}.${key} of type ${GO_TYPE[kind]}`);
      if (kind === "strslice" && typeof v === "string" && v !== "") obj[key] = [v];
    }
  };
  check(body, CONFIG_FIELDS, "Config");
  if (body.HostConfig) check(body.HostConfig as Record<string, unknown>, HOST_CONFIG_FIELDS, "HostConfig");
}

async function create(call: Call): Promise<void> {
  const body = await readObject(call.req);
  checkCreateBody(body);
  const { HostConfig: hc, NetworkingConfig: nc, ...config } = body as Record<string, unknown> & { HostConfig?: HostConfig; NetworkingConfig?: CreateContainerOptions["networkingConfig"] };
  if (typeof config.Image !== "string" || !config.Image) throw invalid("config cannot be empty in order to create a container");
  const name = call.query.str("name") || undefined;
  const hostConfig = dropUnset(hc) ?? {};
  // A seccomp profile comes as its JSON text (the docker CLI reads the file); a path would read the engine host's files.
  parseSecurityOpts(hostConfig.SecurityOpt, { profileFiles: false });
  if (hostConfig.RestartPolicy && !hostConfig.RestartPolicy.Name) delete hostConfig.RestartPolicy;
  if (hostConfig.LogConfig && !hostConfig.LogConfig.Type) delete hostConfig.LogConfig;
  // dockerd resolves "default" to its default network, bridge.
  if (hostConfig.NetworkMode === "default") hostConfig.NetworkMode = "bridge";
  let endpoints = nc?.EndpointsConfig ? { ...nc.EndpointsConfig } : undefined;
  if (endpoints?.default) {
    endpoints.bridge = { ...endpoints.default, ...endpoints.bridge };
    delete endpoints.default;
  }
  if (endpoints) endpoints = Object.fromEntries(Object.entries(endpoints).map(([k, v]) => [k, dropUnset(v) ?? {}]));
  const opts: CreateContainerOptions = {
    name,
    config: dropUnset(config as unknown as ContainerConfig & { Image: string }, ["StopTimeout"])!,
    hostConfig,
    networkingConfig: endpoints && Object.keys(endpoints).length ? { EndpointsConfig: endpoints } : undefined,
  };
  const r = await call.api.engine.containers.create(opts);
  sendJson(res(call), 201, { Id: r.Id, Warnings: r.Warnings ?? [] });
}

async function start(call: Call): Promise<void> {
  const id = call.params[0]!;
  const api = call.api;
  const before = await api.engine.containers.inspect(id);
  if (before.State.Running) throw new CapsaError("not-modified", "container already started");
  await exitRecorded(api, before.Id);
  const { attrs } = await containerAttrs(api, before.Id);
  const pending = api.attaches.take(before.Id);
  const [first, ...others] = pending;
  if (first) {
    // The engine resolves at the end of the output; the client wants 204 once
    // the process is on its way. The engine subscribes to stdin once conmon's
    // attach socket is connected, right before `runtime start`: that is the signal.
    const probe = new PassThrough();
    const attached = new Promise<void>((resolve) => probe.on("newListener", (ev) => ev === "data" && resolve()));
    first.streams.stdin?.pipe(probe);
    // The client's detach keys (api/hijack.ts) reach the engine's forwarder through the probe.
    first.streams.stdin?.once(DETACH_EVENT, () => probe.emit(DETACH_EVENT));
    const p = api.engine.containers.start(before.Id, { attach: { ...first.streams, stdin: probe }, exitWatched: true });
    // A failed start is reported by this request; the attach stream just ends.
    p.then(
      () => first.finish(),
      () => first.finish(),
    );
    await Promise.race([p, attached]).catch(async (e: unknown) => {
      await removeAfterFailedStart(api, before.Id, before.HostConfig.AutoRemove);
      throw e;
    });
    // The exit is watched without reconciling reads in between, so its code survives --rm.
    void watchExit(api, before.Id, attrs, "next-exit").catch(() => undefined);
  } else {
    await api.engine.containers.start(before.Id, { exitWatched: true }).catch(async (e: unknown) => {
      await removeAfterFailedStart(api, before.Id, before.HostConfig.AutoRemove);
      throw e;
    });
    void watchExit(api, before.Id, attrs).catch(() => undefined);
  }
  // Later attach requests for the same start join through a plain attach.
  for (const o of others) api.engine.containers.attach(before.Id, o.streams).then(() => o.finish(), (e: unknown) => o.finish(e));
  sendEmpty(res(call), 204);
}

/** dockerd removes an AutoRemove container whose start failed; `docker run --rm` waits for that. */
async function removeAfterFailedStart(api: ApiContext, id: string, autoRemove: boolean | undefined): Promise<void> {
  if (!autoRemove) return;
  await api.engine.containers.remove(id, { force: true }).catch(() => undefined);
}

/**
 * Waits for this service's exit watcher to finish recording an exit (it
 * releases the container's mounts and network), so that a start right after
 * a stop does not race with that release.
 */
async function exitRecorded(api: ApiContext, id: string): Promise<void> {
  await watchers.get(api)?.get(id)?.catch(() => undefined);
}

async function stop(call: Call): Promise<void> {
  const id = call.params[0]!;
  const c = await call.api.engine.containers.inspect(id);
  if (!c.State.Running) throw new CapsaError("not-modified", "container already stopped");
  await call.api.engine.containers.stop(c.Id, { timeout: call.query.int("t"), signal: call.query.str("signal") || undefined });
  await exitRecorded(call.api, c.Id);
  sendEmpty(res(call), 204);
}

/** stop, then start: the engine's restart, with the exit recorded in between. */
async function restart(call: Call): Promise<void> {
  const api = call.api;
  const c = await api.engine.containers.inspect(call.params[0]!);
  if (c.State.Running) await api.engine.containers.stop(c.Id, { timeout: call.query.int("t") });
  await exitRecorded(api, c.Id);
  const { attrs } = await containerAttrs(api, c.Id);
  await api.engine.containers.start(c.Id, { exitWatched: true });
  void watchExit(api, c.Id, attrs).catch(() => undefined);
  api.engine.events.record("container", "restart", c.Id, attrs);
  sendEmpty(res(call), 204);
}

async function kill(call: Call): Promise<void> {
  const c = await call.api.engine.containers.inspect(call.params[0]!);
  if (!c.State.Running) throw conflict(`Cannot kill container: ${call.params[0]}: Container ${c.Id} is not running`);
  const signal = call.query.str("signal") || undefined;
  await call.api.engine.containers.kill(c.Id, signal);
  sendEmpty(res(call), 204);
}

async function pause(call: Call): Promise<void> {
  await call.api.engine.containers.pause(call.params[0]!);
  sendEmpty(res(call), 204);
}

async function unpause(call: Call): Promise<void> {
  await call.api.engine.containers.unpause(call.params[0]!);
  sendEmpty(res(call), 204);
}

async function rename(call: Call): Promise<void> {
  const name = call.query.str("name");
  if (!name) throw invalid("new name cannot be blank");
  call.api.engine.containers.rename(call.params[0]!, name);
  sendEmpty(res(call), 204);
}

async function remove(call: Call): Promise<void> {
  await call.api.engine.containers.remove(call.params[0]!, { force: call.query.bool("force"), volumes: call.query.bool("v") });
  sendEmpty(res(call), 204);
}

async function prune(call: Call): Promise<void> {
  const r = await call.api.engine.containers.prune();
  sendJson(res(call), 200, { ContainersDeleted: r.ContainersDeleted.length ? r.ContainersDeleted : null, SpaceReclaimed: r.SpaceReclaimed });
}

/**
 * POST /containers/{id}/wait?condition=. The status line and headers go out
 * at once (docker run waits for them before it starts the container); the
 * body follows when the condition is met.
 */
async function wait(call: Call): Promise<void> {
  const api = call.api;
  const condition = call.query.str("condition") || "not-running";
  if (!["not-running", "next-exit", "removed"].includes(condition)) throw invalid(`invalid condition: "${condition}"`);
  // A start through this service already watches the exit: no read that could race it.
  const watching = watcherOf(api, call.params[0]!);
  if (watching) {
    const r = res(call);
    r.writeHead(200, { "Content-Type": "application/json" });
    r.flushHeaders();
    const StatusCode = await watching.catch(() => recentExit(api, call.params[0]!) ?? 0);
    if (condition === "removed") {
      for (let i = 0; !r.destroyed && (await api.engine.containers.inspect(call.params[0]!).then(() => true, () => false)); i++) await delay(pollDelay(i));
    }
    r.end(JSON.stringify({ StatusCode }) + "\n");
    return;
  }
  let c;
  try {
    c = await api.engine.containers.inspect(call.params[0]!);
  } catch (e) {
    const gone = recentExit(api, call.params[0]!);
    if (gone === undefined || !(e instanceof CapsaError && e.kind === "not-found")) throw e;
    return sendJson(res(call), 200, { StatusCode: gone });
  }
  const r = res(call);
  r.writeHead(200, { "Content-Type": "application/json" });
  r.flushHeaders();
  let closed = false;
  r.on("close", () => (closed = true));
  let code = c.State.ExitCode;
  let error: string | undefined;
  try {
    const attrs = { name: c.Name.replace(/^\//, ""), image: c.Config.Image ?? "" };
    if (c.State.Running) code = await watchExit(api, c.Id, attrs);
    else if (condition !== "not-running") {
      if (await nextStart(api, c.Id, c.State.StartedAt, () => closed)) code = await (watcherOf(api, c.Id) ?? watchExit(api, c.Id, attrs));
    }
    if (condition === "removed") {
      for (let i = 0; !closed; i++) {
        const cur = await api.engine.containers.inspect(c.Id).catch(() => undefined);
        if (!cur) break;
        await delay(pollDelay(i));
      }
    }
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  const body: Record<string, unknown> = { StatusCode: code };
  if (error) body.Error = { Message: error };
  r.end(JSON.stringify(body) + "\n");
}

// ---- attach / resize / logs ------------------------------------------------------------

const resizers = new WeakMap<ApiContext, Map<string, (rows: number, cols: number) => void>>();
function resizerMap(api: ApiContext): Map<string, (rows: number, cols: number) => void> {
  let m = resizers.get(api);
  if (!m) resizers.set(api, (m = new Map<string, (rows: number, cols: number) => void>()));
  return m;
}

/** POST /containers/{id}/attach, hijacked (or streamed as the response body when the client did not upgrade). */
async function attach(call: Call): Promise<void> {
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
    const r = res(call);
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

async function resize(call: Call): Promise<void> {
  const h = call.query.int("h") ?? 0;
  const w = call.query.int("w") ?? 0;
  const c = await call.api.engine.containers.inspect(call.params[0]!);
  // A start in progress (docker run: 204 comes before `runtime start` is done)
  // already has its attach socket, so its terminal can take the size now.
  const resizer = resizerMap(call.api).get(c.Id);
  if (!c.State.Running && !(resizer && c.State.Status === "created")) throw conflict(`Container ${c.Id} is not running`);
  resizer?.(h, w);
  res(call).writeHead(200);
  res(call).end();
}

/** docker's --since/--until values: unix seconds with an optional fraction ("0": no limit); durations and RFC 3339 are accepted too. */
function seconds(v: string | undefined): number | undefined {
  if (v === undefined || v === "" || v === "0") return undefined;
  try {
    return parseTimestamp(v);
  } catch {
    throw invalid(`invalid value for since/until: ${v}`);
  }
}

async function logs(call: Call): Promise<void> {
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
  const r = res(call);
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

// ---- reading -------------------------------------------------------------------------

async function list(call: Call): Promise<void> {
  const q = call.query;
  const limit = q.int("limit");
  const out = await call.api.engine.containers.list({ all: q.bool("all"), filters: q.filters(), limit: limit && limit > 0 ? limit : undefined, size: q.bool("size") });
  sendJson(res(call), 200, out);
}

/**
 * Keys clients index into without checking (docker-py reads
 * HostConfig.LogConfig.Type). The log driver shows as "json-file": capsa's
 * logs endpoint serves what docker's json-file driver does, and clients
 * (docker-py, compose) only read logs for the drivers they know.
 */
const HOST_CONFIG_DEFAULTS = {
  Binds: null,
  LogConfig: { Type: "json-file", Config: {} },
  NetworkMode: "bridge",
  PortBindings: {},
  RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
  AutoRemove: false,
  VolumeDriver: "",
  VolumesFrom: null,
  CapAdd: null,
  CapDrop: null,
  Dns: [],
  DnsOptions: [],
  DnsSearch: [],
  ExtraHosts: null,
  Privileged: false,
  PublishAllPorts: false,
  ReadonlyRootfs: false,
  SecurityOpt: null,
  Tmpfs: undefined,
  Memory: 0,
  NanoCpus: 0,
  CpuShares: 0,
  PidsLimit: null,
  Devices: [],
  Ulimits: null,
  Isolation: "",
};

async function inspect(call: Call): Promise<void> {
  const c = await call.api.engine.containers.inspect(call.params[0]!, { size: call.query.bool("size") });
  const execs = call.api.execs.forContainer(c.Id);
  sendJson(res(call), 200, { ...c, HostConfig: { ...HOST_CONFIG_DEFAULTS, ...c.HostConfig }, ExecIDs: execs.length ? execs : null });
}

async function top(call: Call): Promise<void> {
  sendJson(res(call), 200, await call.api.engine.containers.top(call.params[0]!, call.query.str("ps_args") || undefined));
}

async function stats(call: Call): Promise<void> {
  const stream = call.query.bool("stream", true) && !call.query.bool("one-shot");
  const iter = call.api.engine.containers.stats(call.params[0]!, { stream });
  const r = res(call);
  let closed = false;
  r.on("close", () => (closed = true));
  let started = false;
  for await (const s of iter) {
    if (!started) {
      r.writeHead(200, { "Content-Type": "application/json" });
      started = true;
    }
    if (closed) break;
    r.write(JSON.stringify(s) + "\n");
    if (!stream) break;
  }
  if (!started) r.writeHead(200, { "Content-Type": "application/json" });
  r.end();
}

async function changes(call: Call): Promise<void> {
  const ch = await call.api.engine.containers.changes(call.params[0]!);
  sendJson(res(call), 200, ch.length ? ch : null);
}

async function exportFs(call: Call): Promise<void> {
  const tar = await call.api.engine.containers.export(call.params[0]!);
  const r = res(call);
  r.writeHead(200, { "Content-Type": "application/x-tar" });
  tar.pipe(r);
  await new Promise<void>((ok) => r.once("close", ok));
}

// ---- archives (docker cp) ----------------------------------------------------------

/** Go's os.FileMode bits, which docker's path stat carries (the CLI checks IsDir and symlinks). */
export function goFileMode(unixMode: number): number {
  // Go's type bits sit above bit 20, past JavaScript's signed 32-bit bitwise operators: add, don't OR.
  const type = unixMode & 0o170000;
  let m = unixMode & 0o777;
  if (type === 0o040000) m += 2 ** 31;
  else if (type === 0o120000) m += 2 ** 27;
  else if (type === 0o060000) m += 2 ** 26;
  else if (type === 0o020000) m += 2 ** 26 + 2 ** 21;
  else if (type === 0o010000) m += 2 ** 25;
  else if (type === 0o140000) m += 2 ** 24;
  if (unixMode & 0o4000) m += 2 ** 23;
  if (unixMode & 0o2000) m += 2 ** 22;
  if (unixMode & 0o1000) m += 2 ** 20;
  return m;
}

function statHeader(s: PathStat): string {
  return Buffer.from(JSON.stringify({ name: s.name, size: s.size, mode: goFileMode(s.mode), mtime: s.mtime, linkTarget: s.linkTarget })).toString("base64");
}

function archivePath(call: Call): string {
  const p = call.query.str("path");
  if (!p) throw invalid("path cannot be empty");
  return p;
}

async function archiveHead(call: Call): Promise<void> {
  const s = await call.api.engine.containers.statPath(call.params[0]!, archivePath(call));
  const r = res(call);
  r.writeHead(200, { "X-Docker-Container-Path-Stat": statHeader(s), "Content-Type": "application/x-tar" });
  r.end();
}

async function archiveGet(call: Call): Promise<void> {
  if (call.req.method === "HEAD") return archiveHead(call);
  const { stat, tar } = await call.api.engine.containers.copyFrom(call.params[0]!, archivePath(call));
  const r = res(call);
  r.writeHead(200, { "X-Docker-Container-Path-Stat": statHeader(stat), "Content-Type": "application/x-tar" });
  // A failure mid-stream (the container changed the tree under the copy) cuts the response: the client sees a truncated tar, not a hang.
  tar.once("error", () => r.destroy());
  r.once("close", () => tar.destroy());
  tar.pipe(r);
  await new Promise<void>((ok) => r.once("close", ok));
}

async function archivePut(call: Call): Promise<void> {
  await call.api.engine.containers.copyTo(call.params[0]!, archivePath(call), call.req, {
    noOverwriteDirNonDir: call.query.bool("noOverwriteDirNonDir"),
    copyUIDGID: call.query.bool("copyUIDGID"),
  });
  res(call).writeHead(200);
  res(call).end();
}

async function commit(call: Call): Promise<void> {
  const q = call.query;
  const container = q.str("container");
  if (!container) throw invalid("container is required");
  const body = await readObject(call.req);
  const repo = q.str("repo");
  const tag = q.str("tag");
  const img = await call.api.engine.containers.commit(container, {
    ref: repo ? (tag ? `${repo}:${tag}` : repo) : undefined,
    comment: q.str("comment"),
    author: q.str("author"),
    changes: q.all("changes").flatMap((c) => c.split("\n")).filter(Boolean),
    pause: q.bool("pause", true),
    config: commitConfig(body),
  });
  sendJson(res(call), 201, { Id: img.id });
}

/** The image settings of a commit body (a container config): what it leaves empty or null is the container's. */
function commitConfig(body: Record<string, unknown>): Partial<ImageConfig> | undefined {
  const keys = ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "Healthcheck", "Shell", "OnBuild"] as const;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = body[k];
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v) ? v.length === 0 : typeof v === "object" && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return Object.keys(out).length ? (out) : undefined;
}

/** An upgrade on an endpoint that does not hijack: answer as HTTP on the raw socket. */
function noUpgrade(h: (call: Call) => Promise<void>): (call: Call) => Promise<void> {
  return async (call) => {
    if (call.upgrade) return writeSocketError(call.upgrade.socket, new HttpError(400, "this endpoint cannot be upgraded"));
    return h(call);
  };
}

export function containerRoutes(r: Router): void {
  const add = (m: string, p: string, h: (call: Call) => Promise<void>): void => void r.add(m, p, noUpgrade(h));
  add("GET", "/containers/json", list);
  add("POST", "/containers/create", create);
  add("POST", "/containers/prune", prune);
  add("GET", "/containers/{id}/json", inspect);
  add("GET", "/containers/{id}/top", top);
  add("GET", "/containers/{id}/logs", logs);
  add("GET", "/containers/{id}/changes", changes);
  add("GET", "/containers/{id}/export", exportFs);
  add("GET", "/containers/{id}/stats", stats);
  add("POST", "/containers/{id}/resize", resize);
  add("POST", "/containers/{id}/start", start);
  add("POST", "/containers/{id}/stop", stop);
  add("POST", "/containers/{id}/restart", restart);
  add("POST", "/containers/{id}/kill", kill);
  add("POST", "/containers/{id}/update", () => Promise.reject(new HttpError(501, "container update is not implemented in capsa yet")));
  add("POST", "/containers/{id}/rename", rename);
  add("POST", "/containers/{id}/pause", pause);
  add("POST", "/containers/{id}/unpause", unpause);
  r.add("POST", "/containers/{id}/attach", attach);
  r.add("GET", "/containers/{id}/attach/ws", () => Promise.reject(new HttpError(501, "websocket attach is not supported by capsa")));
  add("POST", "/containers/{id}/wait", wait);
  add("DELETE", "/containers/{id}", remove);
  add("HEAD", "/containers/{id}/archive", archiveHead);
  add("GET", "/containers/{id}/archive", archiveGet);
  add("PUT", "/containers/{id}/archive", archivePut);
  add("POST", "/commit", commit);
}
