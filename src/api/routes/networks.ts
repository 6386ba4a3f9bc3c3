// /networks: create, list, inspect, connect, disconnect, delete, prune.
import type { NetworkCreateOptions } from "../../types/network.ts";
import { invalid } from "../../util/errors.ts";
import { readObject, sendJson } from "../http.ts";
import { compareVersions } from "../version.ts";
import type { Call, Router } from "../router.ts";

async function create(call: Call): Promise<void> {
  const body = await readObject(call.req);
  if (typeof body.Name !== "string" || !body.Name) throw invalid("network name is required");
  checkCreateBody(body);
  // API 1.44 made CheckDuplicate always on; before, a duplicate name is refused only when it is true.
  const CheckDuplicate = body.CheckDuplicate === true || compareVersions(call.version, "1.44") >= 0;
  const r = call.api.engine.networks.create({ ...(body as unknown as NetworkCreateOptions), CheckDuplicate });
  call.api.events.emit("network", "create", r.Id, { name: body.Name, type: typeof body.Driver === "string" && body.Driver ? body.Driver : "bridge" });
  sendJson(call.res!, 201, r);
}

const unmarshal = (v: unknown, field: string, type: string): Error =>
  invalid(`json: cannot unmarshal ${v === null ? "null" : Array.isArray(v) ? "array" : typeof v} into Go struct field ${field} of type ${type}`);

/** dockerd decodes the body into typed structs: a wrong JSON type is a 400 before anything is made. */
function checkCreateBody(body: Record<string, unknown>): void {
  for (const k of ["Driver", "Scope"] as const) if (body[k] != null && typeof body[k] !== "string") throw unmarshal(body[k], `NetworkCreateRequest.${k}`, "string");
  for (const k of ["Internal", "Attachable", "EnableIPv6", "CheckDuplicate"] as const) if (body[k] != null && typeof body[k] !== "boolean") throw unmarshal(body[k], `NetworkCreateRequest.${k}`, "bool");
  for (const k of ["Options", "Labels"] as const) {
    const v = body[k];
    if (v == null) continue;
    if (typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")) throw unmarshal(v, `NetworkCreateRequest.${k}`, "map[string]string");
  }
  const ipam = body.IPAM;
  if (ipam == null) return;
  if (typeof ipam !== "object" || Array.isArray(ipam)) throw unmarshal(ipam, "NetworkCreateRequest.IPAM", "network.IPAM");
  const { Driver, Config, Options } = ipam as Record<string, unknown>;
  if (Driver != null && typeof Driver !== "string") throw unmarshal(Driver, "IPAM.Driver", "string");
  if (Options != null && (typeof Options !== "object" || Array.isArray(Options))) throw unmarshal(Options, "IPAM.Options", "map[string]string");
  if (Config == null) return;
  if (!Array.isArray(Config)) throw unmarshal(Config, "IPAM.Config", "[]network.IPAMConfig");
  for (const c of Config as unknown[]) {
    if (typeof c !== "object" || c === null || Array.isArray(c)) throw unmarshal(c, "IPAM.Config", "network.IPAMConfig");
    for (const [k, v] of Object.entries(c)) {
      if (k === "AuxiliaryAddresses") {
        if (v != null && (typeof v !== "object" || Array.isArray(v) || Object.values(v as object).some((x) => typeof x !== "string"))) throw unmarshal(v, "IPAMConfig.AuxiliaryAddresses", "map[string]string");
      } else if (["Subnet", "IPRange", "Gateway"].includes(k) && v != null && typeof v !== "string") throw unmarshal(v, `IPAMConfig.${k}`, "string");
    }
  }
}

async function list(call: Call): Promise<void> {
  sendJson(call.res!, 200, await call.api.engine.networks.list({ filters: call.query.filters() }));
}

async function inspect(call: Call): Promise<void> {
  sendJson(call.res!, 200, await call.api.engine.networks.inspect(call.params[0]!));
}

async function remove(call: Call): Promise<void> {
  const n = await call.api.engine.networks.inspect(call.params[0]!);
  await call.api.engine.networks.remove(n.Id);
  call.api.events.emit("network", "destroy", n.Id, { name: n.Name, type: n.Driver });
  call.res!.writeHead(204);
  call.res!.end();
}

async function prune(call: Call): Promise<void> {
  const r = await call.api.engine.networks.prune();
  sendJson(call.res!, 200, { NetworksDeleted: r.NetworksDeleted.length ? r.NetworksDeleted : null });
}

interface ConnectBody {
  Container?: string;
  Force?: boolean;
  EndpointConfig?: { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null };
}

async function connect(call: Call): Promise<void> {
  const body = (await readObject(call.req)) as ConnectBody;
  if (!body.Container) throw invalid("container is required");
  const ep = body.EndpointConfig;
  await call.api.engine.networks.connect(call.params[0]!, body.Container, {
    aliases: ep?.Aliases ?? undefined,
    ipv4Address: ep?.IPAMConfig?.IPv4Address || undefined,
    ipv6Address: ep?.IPAMConfig?.IPv6Address || undefined,
    linkLocalIPs: ep?.IPAMConfig?.LinkLocalIPs ?? undefined,
  });
  call.api.events.emit("network", "connect", call.params[0]!, { container: body.Container });
  call.res!.writeHead(200);
  call.res!.end();
}

async function disconnect(call: Call): Promise<void> {
  const body = (await readObject(call.req)) as ConnectBody;
  if (!body.Container) throw invalid("container is required");
  await call.api.engine.networks.disconnect(call.params[0]!, body.Container, { force: body.Force === true });
  call.api.events.emit("network", "disconnect", call.params[0]!, { container: body.Container });
  call.res!.writeHead(200);
  call.res!.end();
}

export function networkRoutes(r: Router): void {
  r.add("GET", "/networks", list);
  r.add("POST", "/networks/create", create);
  r.add("POST", "/networks/prune", prune);
  r.add("GET", "/networks/{id}", inspect);
  r.add("DELETE", "/networks/{id}", remove);
  r.add("POST", "/networks/{id}/connect", connect);
  r.add("POST", "/networks/{id}/disconnect", disconnect);
}
