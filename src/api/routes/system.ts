// /_ping, /version, /info, /system/df, /events, /auth.
import os from "node:os";
import { matchesEvent, VERSION } from "../../engine/index.ts";
import type { DockerEvent } from "../events.ts";
import { invalid } from "../../util/errors.ts";
import { parseTimestamp } from "../../util/timestamp.ts";
import { HttpError, readObject, sendJson } from "../http.ts";
import type { Call, Router } from "../router.ts";
import { DEFAULT_VERSION, MIN_VERSION } from "../version.ts";
import { imageSummary } from "./images.ts";

const goArch = (): string => ({ x64: "amd64", arm64: "arm64", ia32: "386" })[process.arch as string] ?? process.arch;

function ping(call: Call): Promise<void> {
  const res = call.res;
  if (!res) throw new HttpError(400, "ping cannot be upgraded");
  res.writeHead(200, {
    "Content-Type": "text/plain; charset=utf-8",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    Pragma: "no-cache",
    "Builder-Version": "1",
    Swarm: "inactive",
  });
  res.end(call.req.method === "HEAD" ? undefined : "OK");
  return Promise.resolve();
}

async function version(call: Call): Promise<void> {
  const v = call.api.engine.system.version();
  const details = { ApiVersion: DEFAULT_VERSION, Arch: goArch(), BuildTime: "", Experimental: "false", GitCommit: "", GoVersion: process.version, KernelVersion: os.release(), MinAPIVersion: MIN_VERSION, Os: "linux" };
  sendJson(call.res!, 200, {
    Platform: { Name: `capsa ${VERSION}` },
    Components: [{ Name: "Engine", Version: VERSION, Details: details }],
    Version: VERSION,
    ApiVersion: DEFAULT_VERSION,
    MinAPIVersion: MIN_VERSION,
    GitCommit: "",
    GoVersion: process.version,
    Os: "linux",
    Arch: goArch(),
    KernelVersion: os.release(),
    BuildTime: "",
    Capsa: v,
  });
  return Promise.resolve();
}

async function info(call: Call): Promise<void> {
  const i = await call.api.engine.system.info();
  // docker's Info.Isolation is a string (Windows): capsa's map of levels moves to CapsaIsolation.
  const { Isolation: capsaIsolation, RuntimeError: runtimeError, ...rest } = i;
  const warnings = typeof runtimeError === "string" ? [`runtime: ${runtimeError}`] : [];
  sendJson(call.res!, 200, {
    Plugins: { Volume: ["local"], Network: [], Authorization: null, Log: ["k8s-file"] },
    MemoryLimit: true,
    SwapLimit: true,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: true,
    Debug: false,
    NFd: 0,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    NEventsListener: 0,
    OomKillDisable: false,
    IndexServerAddress: "https://index.docker.io/v1/",
    RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ["127.0.0.0/8"], Mirrors: [] },
    HttpProxy: "",
    HttpsProxy: "",
    NoProxy: "",
    Labels: [],
    ExperimentalBuild: false,
    Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
    LiveRestoreEnabled: true,
    Isolation: "",
    InitBinary: "",
    ContainerdCommit: { ID: "" },
    RuncCommit: { ID: "" },
    InitCommit: { ID: "" },
    ...rest,
    Warnings: warnings,
    CapsaIsolation: capsaIsolation,
  });
}

async function df(call: Call): Promise<void> {
  const engine = call.api.engine;
  const raw = await engine.system.df();
  const sizes = new Map<string, number>();
  for (const c of (raw.Containers as { Id: string; SizeRw: number }[] | undefined) ?? []) sizes.set(c.Id, c.SizeRw);
  const volUsage = new Map<string, { Size: number; RefCount: number }>();
  for (const v of (raw.Volumes as { Name: string; UsageData: { Size: number; RefCount: number } }[] | undefined) ?? []) volUsage.set(v.Name, v.UsageData);
  const containers = await engine.containers.list({ all: true });
  const images = engine.images.list();
  const shared = engine.images.sharedSizes();
  sendJson(call.res!, 200, {
    LayersSize: raw.LayersSize ?? 0,
    Images: images.map((img) => ({ ...imageSummary(img), SharedSize: shared.get(img.id) ?? 0, Containers: containers.filter((c) => c.ImageID === img.id).length })),
    Containers: containers.map((c) => ({ ...c, SizeRw: sizes.get(c.Id) ?? 0, SizeRootFs: 0 })),
    Volumes: engine.volumes.list().map((v) => ({ ...v, UsageData: volUsage.get(v.Name) ?? { Size: -1, RefCount: -1 } })),
    BuildCache: [],
  });
}

/** An events since/until value in unix seconds (docker's CLI sends unix seconds; durations and RFC 3339 are accepted too). */
function eventTime(v: string | undefined): number | undefined {
  if (!v) return undefined;
  try {
    return parseTimestamp(v);
  } catch {
    throw invalid(`invalid time: ${v}`);
  }
}

/** A stream of JSON events until `until` passes or the client goes away. */
async function events(call: Call): Promise<void> {
  const res = call.res!;
  const filters = call.query.filters();
  const since = eventTime(call.query.str("since"));
  const until = eventTime(call.query.str("until"));
  res.writeHead(200, { "Content-Type": "application/json" });
  res.flushHeaders();
  const send = (e: DockerEvent): void => {
    if (matchesEvent(e, filters)) res.write(JSON.stringify(e) + "\n");
  };
  if (since !== undefined) for (const e of call.api.events.since(since * 1e9)) if (until === undefined || e.time <= until) send(e);
  if (until !== undefined && until <= Date.now() / 1000) return void res.end();
  await new Promise<void>((resolve) => {
    const unsubscribe = call.api.events.subscribe(send);
    const done = (): void => {
      unsubscribe();
      clearTimeout(timer);
      resolve();
    };
    const timer = until !== undefined ? setTimeout(done, until * 1000 - Date.now()) : undefined;
    res.on("close", done);
  });
  res.end();
}

/**
 * POST /auth: checks the credentials with the registry and stores nothing, as
 * dockerd: the client keeps them and sends X-Registry-Auth with each pull/push
 * (stored engine-wide, one client's login would serve every client of the socket).
 */
async function auth(call: Call): Promise<void> {
  const body = await readObject(call.req, { anyContentType: true });
  const server = typeof body.serveraddress === "string" && body.serveraddress ? body.serveraddress : undefined;
  const username = typeof body.username === "string" ? body.username : "";
  const password = typeof body.password === "string" ? body.password : "";
  await call.api.engine.images.login(server, { username, password, save: false });
  sendJson(call.res!, 200, { Status: "Login Succeeded", IdentityToken: "" });
}

export function systemRoutes(r: Router): void {
  r.add("GET", "/_ping", ping).add("HEAD", "/_ping", ping);
  r.add("GET", "/version", version);
  r.add("GET", "/info", info);
  r.add("GET", "/system/df", df);
  r.add("GET", "/events", events);
  r.add("POST", "/auth", auth);
}
