// POST /containers/create: dockerd's checks of the body's JSON types, what
// clients send as "unset", then the engine's create.
import type { ContainerConfig, CreateContainerOptions, HostConfig } from "../../types/records.ts";
import { parseSecurityOpts } from "../../engine/index.ts";
import { invalid } from "../../util/errors.ts";
import { readObject, sendJson } from "../http.ts";
import { type Call, response } from "../router.ts";

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
  DeviceCgroupRules: "strings", MemoryReservation: "number", BlkioWeight: "number", CpuPeriod: "number", CpuQuota: "number", CpusetCpus: "string",
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

export async function create(call: Call): Promise<void> {
  const body = await readObject(call.req);
  checkCreateBody(body);
  const { HostConfig: hc, NetworkingConfig: nc, ...config } = body as Record<string, unknown> & { HostConfig?: HostConfig; NetworkingConfig?: CreateContainerOptions["networkingConfig"] };
  if (typeof config.Image !== "string" || !config.Image) throw invalid("config cannot be empty in order to create a container");
  const name = call.query.str("name") || undefined;
  const hostConfig = dropUnset(hc) ?? {};
  // A seccomp profile comes as its JSON text (the docker CLI reads the file); a path would read the engine host's files.
  parseSecurityOpts(hostConfig.SecurityOpt, { profileFiles: false });
  if (hostConfig.RestartPolicy && !hostConfig.RestartPolicy.Name) delete hostConfig.RestartPolicy;
  // The docker CLI sends Type "" with --log-opt alone: the default driver with those options.
  if (hostConfig.LogConfig && !hostConfig.LogConfig.Type && !Object.keys(hostConfig.LogConfig.Config ?? {}).length) delete hostConfig.LogConfig;
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
  sendJson(response(call), 201, { Id: r.Id, Warnings: r.Warnings ?? [] });
}
