// /containers/*: the route table, the lifecycle (start, stop, restart, kill,
// wait, pause, rename, delete, prune), listing and inspection, top, stats.
// Create, the streams (attach, logs) and the files (cp, export, commit) have
// their own modules.
import { PassThrough } from "node:stream";
import { CapsaError, conflict, invalid } from "../../util/errors.ts";
import { DETACH_EVENT } from "../../util/detach-keys.ts";
import { writeSocketError } from "../hijack.ts";
import type { ContainerUpdate } from "../../types/engine-api.ts";
import { HttpError, readObject, sendEmpty, sendJson } from "../http.ts";
import { type Call, response, type Router } from "../router.ts";
import { create } from "./container-create.ts";
import { archiveGet, archiveHead, archivePut, changes, commit, exportFs } from "./container-files.ts";
import { attach, logs, resize } from "./container-streams.ts";

async function start(call: Call): Promise<void> {
  const id = call.params[0]!;
  const api = call.api;
  const before = await api.engine.containers.inspect(id);
  if (before.State.Running) throw new CapsaError("not-modified", "container already started");
  const pending = api.attaches.take(before.Id);
  const [first, ...others] = pending;
  // This service watches the exit of every container it starts (the engine's exit watcher).
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
    await Promise.race([p, attached]);
  } else {
    await api.engine.containers.start(before.Id, { exitWatched: true });
  }
  // Later attach requests for the same start join through a plain attach.
  for (const o of others) api.engine.containers.attach(before.Id, o.streams).then(() => o.finish(), (e: unknown) => o.finish(e));
  sendEmpty(response(call), 204);
}

async function stop(call: Call): Promise<void> {
  const id = call.params[0]!;
  const c = await call.api.engine.containers.inspect(id);
  if (!c.State.Running) throw new CapsaError("not-modified", "container already stopped");
  await call.api.engine.containers.stop(c.Id, { timeout: call.query.int("t"), signal: call.query.str("signal") || undefined });
  sendEmpty(response(call), 204);
}

async function restart(call: Call): Promise<void> {
  await call.api.engine.containers.restart(call.params[0]!, { timeout: call.query.int("t"), exitWatched: true });
  sendEmpty(response(call), 204);
}

async function kill(call: Call): Promise<void> {
  const c = await call.api.engine.containers.inspect(call.params[0]!);
  if (!c.State.Running) throw conflict(`Cannot kill container: ${call.params[0]}: Container ${c.Id} is not running`);
  const signal = call.query.str("signal") || undefined;
  await call.api.engine.containers.kill(c.Id, signal);
  sendEmpty(response(call), 204);
}

async function pause(call: Call): Promise<void> {
  await call.api.engine.containers.pause(call.params[0]!);
  sendEmpty(response(call), 204);
}

async function unpause(call: Call): Promise<void> {
  await call.api.engine.containers.unpause(call.params[0]!);
  sendEmpty(response(call), 204);
}

async function rename(call: Call): Promise<void> {
  const name = call.query.str("name");
  if (!name) throw invalid("new name cannot be blank");
  call.api.engine.containers.rename(call.params[0]!, name);
  sendEmpty(response(call), 204);
}

const UPDATE_NUMBERS = ["CpuShares", "CpuQuota", "CpuPeriod", "NanoCpus", "Memory", "MemorySwap", "MemoryReservation", "PidsLimit", "BlkioWeight"] as const;

/** POST /containers/{id}/update: resources and restart policy; dockerd's {"Warnings":[…]}. */
async function update(call: Call): Promise<void> {
  const body = await readObject(call.req);
  const u: ContainerUpdate = {};
  for (const k of UPDATE_NUMBERS) {
    const v = body[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number") throw invalid(`json: cannot unmarshal ${typeof v} into Go struct field UpdateConfig.${k} of type int64`);
    u[k] = v;
  }
  for (const k of ["CpusetCpus", "CpusetMems"] as const) {
    const v = body[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") throw invalid(`json: cannot unmarshal ${typeof v} into Go struct field UpdateConfig.${k} of type string`);
    u[k] = v;
  }
  const rp = body.RestartPolicy as { Name?: unknown; MaximumRetryCount?: unknown } | undefined;
  if (rp && typeof rp === "object" && typeof rp.Name === "string" && rp.Name) u.RestartPolicy = { Name: rp.Name as NonNullable<ContainerUpdate["RestartPolicy"]>["Name"], MaximumRetryCount: Number(rp.MaximumRetryCount ?? 0) };
  const r = await call.api.engine.containers.update(call.params[0]!, u);
  sendJson(response(call), 200, { Warnings: r.Warnings });
}

async function remove(call: Call): Promise<void> {
  await call.api.engine.containers.remove(call.params[0]!, { force: call.query.bool("force"), volumes: call.query.bool("v") });
  sendEmpty(response(call), 204);
}

async function prune(call: Call): Promise<void> {
  const r = await call.api.engine.containers.prune();
  sendJson(response(call), 200, { ContainersDeleted: r.ContainersDeleted.length ? r.ContainersDeleted : null, SpaceReclaimed: r.SpaceReclaimed });
}

/**
 * POST /containers/{id}/wait?condition=. The status line and headers go out
 * at once (docker run waits for them before it starts the container); the
 * body follows when the engine's wait ends.
 */
async function wait(call: Call): Promise<void> {
  const api = call.api;
  const condition = call.query.str("condition") || "not-running";
  if (condition !== "not-running" && condition !== "next-exit" && condition !== "removed") throw invalid(`invalid condition: "${condition}"`);
  let c;
  try {
    c = await api.engine.containers.inspect(call.params[0]!);
  } catch (e) {
    if (!(e instanceof CapsaError && e.kind === "not-found")) throw e;
    // Removed after its exit (--rm) a moment ago: the engine still has the code, else this is the 404.
    return sendJson(response(call), 200, await api.engine.containers.wait(call.params[0]!, condition));
  }
  const r = response(call);
  r.writeHead(200, { "Content-Type": "application/json" });
  r.flushHeaders();
  const left = new AbortController();
  r.on("close", () => left.abort());
  const body: Record<string, unknown> = { StatusCode: c.State.ExitCode };
  try {
    body.StatusCode = (await api.engine.containers.wait(c.Id, condition, { signal: left.signal })).StatusCode;
  } catch (e) {
    body.Error = { Message: e instanceof Error ? e.message : String(e) };
  }
  r.end(JSON.stringify(body) + "\n");
}

// ---- reading -------------------------------------------------------------------------

async function list(call: Call): Promise<void> {
  const q = call.query;
  const limit = q.int("limit");
  const out = await call.api.engine.containers.list({ all: q.bool("all"), filters: q.filters(), limit: limit && limit > 0 ? limit : undefined, size: q.bool("size") });
  sendJson(response(call), 200, out);
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
  sendJson(response(call), 200, { ...c, HostConfig: { ...HOST_CONFIG_DEFAULTS, ...c.HostConfig }, ExecIDs: execs.length ? execs : null });
}

async function top(call: Call): Promise<void> {
  sendJson(response(call), 200, await call.api.engine.containers.top(call.params[0]!, call.query.str("ps_args") || undefined));
}

async function stats(call: Call): Promise<void> {
  const stream = call.query.bool("stream", true) && !call.query.bool("one-shot");
  const iter = call.api.engine.containers.stats(call.params[0]!, { stream });
  const r = response(call);
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
  add("POST", "/containers/{id}/update", update);
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
