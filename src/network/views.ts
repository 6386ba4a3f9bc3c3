// docker's shapes of the network state: a network's inspect view (and those of
// the pre-defined host and none), `network ls`'s filters, and a container's
// NetworkSettings, ps network filter and Ports column.
import crypto from "node:crypto";
import type { ContainerRecord } from "../types/records.ts";
import type { EndpointView, NetworkInspect } from "../types/network.ts";
import { addressOf, macOf } from "./cni.ts";
import { confListPath } from "./conflist.ts";
import { DEFAULT_NETWORK, type NetworkContext, networkById } from "./context.ts";
import { portKey } from "./ports.ts";
import type { EndpointRecord, NetworkRecord } from "./store.ts";
import { labelMatches } from "../util/label-filter.ts";
import { shortId } from "../util/ids.ts";

/** docker's NetworkSettings of a container (without the fields that are always empty). */
export interface NetworkSettingsView {
  SandboxKey: string;
  Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
  IPAddress: string;
  Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  IPv6Gateway: string;
  MacAddress: string;
  Networks: Record<string, EndpointView>;
}

/** One entry of ps's Ports column. */
export interface PortSummary {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

export function networkView(ctx: NetworkContext, n: NetworkRecord): NetworkInspect {
  const containers: NetworkInspect["Containers"] = {};
  for (const ep of ctx.store.endpoints({ networkId: n.Id })) {
    if (!ep.result) continue;
    const c = ctx.containers.find(ep.containerId);
    const a = addressOf(ep.result);
    const a6 = addressOf(ep.result, 6);
    containers[ep.containerId] = { Name: c?.name ?? "", EndpointID: endpointId(ep), MacAddress: macOf(ep.result, ep.ifName), IPv4Address: a?.cidr ?? "", IPv6Address: a6?.cidr ?? "" };
  }
  const aux = (six: boolean): { AuxiliaryAddresses?: Record<string, string> } => {
    const m = Object.fromEntries(Object.entries(n.AuxAddresses ?? {}).filter(([, v]) => v.includes(":") === six));
    return Object.keys(m).length ? { AuxiliaryAddresses: m } : {};
  };
  const config: NetworkInspect["IPAM"]["Config"] = [{ Subnet: n.Subnet, Gateway: n.Gateway, ...(n.IPRange ? { IPRange: n.IPRange } : {}), ...aux(false) }];
  if (n.Subnet6 && n.Gateway6) config.push({ Subnet: n.Subnet6, Gateway: n.Gateway6, ...(n.IPRange6 ? { IPRange: n.IPRange6 } : {}), ...aux(true) });
  return {
    Name: n.Name,
    Id: n.Id,
    Created: n.Created,
    Scope: "local",
    Driver: n.Driver,
    EnableIPv6: !!n.Subnet6,
    // dockerd shows IPAM.Options as created: null when none were given.
    IPAM: { Driver: n.IpamDriver ?? "default", Options: n.IpamOptions === undefined ? {} : n.IpamOptions, Config: config },
    Internal: n.Internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    Options: n.Options,
    Labels: n.Labels,
    Capsa: { ConfList: confListPath(ctx, n), Bridge: n.Bridge },
  };
}

/** docker's pre-defined "host" and "none" networks: no records, only views of the containers in those modes. */
export function modeView(ctx: NetworkContext, name: "host" | "none"): NetworkInspect {
  const containers: NetworkInspect["Containers"] = {};
  for (const c of ctx.containers.list()) {
    if (c.hostConfig.NetworkMode === name && c.state.Running) containers[c.id] = { Name: c.name, EndpointID: "", MacAddress: "", IPv4Address: "", IPv6Address: "" };
  }
  return {
    Name: name,
    Id: crypto.createHash("sha256").update(ctx.paths.root + "\0" + name).digest("hex"),
    Created: "0001-01-01T00:00:00Z",
    Scope: "local",
    Driver: name === "host" ? "host" : "null",
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: null, Config: [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    Options: {},
    Labels: {},
    Capsa: { ConfList: "", Bridge: "" },
  };
}

/** `network ls` filters: name (substring), id (prefix), driver, type (builtin/custom), label (key or key=value). */
export function filterNetworks(views: NetworkInspect[], f: Record<string, string[]>): NetworkInspect[] {
  return views
    .filter((n) => !f.name?.length || f.name.some((x) => n.Name.includes(x)))
    .filter((n) => !f.id?.length || f.id.some((x) => n.Id.startsWith(x)))
    .filter((n) => !f.driver?.length || f.driver.includes(n.Driver))
    .filter((n) => !f.type?.length || f.type.includes(["bridge", "host", "none"].includes(n.Name) ? "builtin" : "custom"))
    .filter((n) => !f.label?.length || f.label.every((l) => labelMatches(n.Labels, l)));
}

/** docker's NetworkSettings for a container. */
export function containerSettings(ctx: NetworkContext, c: ContainerRecord): NetworkSettingsView {
  const mode = c.hostConfig.NetworkMode || DEFAULT_NETWORK;
  const eps = ctx.store.endpoints({ containerId: c.id });
  const networks: Record<string, EndpointView> = {};
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  if (c.state.Running) {
    for (const key of Object.keys(c.config.ExposedPorts ?? {})) ports[portKey(key)] = null;
  }
  for (const ep of eps) {
    const n = networkById(ctx, ep.networkId);
    if (!n) continue;
    const a = ep.result ? addressOf(ep.result) : undefined;
    const a6 = ep.result ? addressOf(ep.result, 6) : undefined;
    const fixed = ep.config.IPAMConfig;
    networks[n.Name] = {
      IPAMConfig:
        fixed?.IPv4Address || fixed?.IPv6Address || fixed?.LinkLocalIPs?.length
          ? {
              ...(fixed.IPv4Address ? { IPv4Address: fixed.IPv4Address } : {}),
              ...(fixed.IPv6Address ? { IPv6Address: fixed.IPv6Address } : {}),
              ...(fixed.LinkLocalIPs?.length ? { LinkLocalIPs: fixed.LinkLocalIPs } : {}),
            }
          : null,
      Links: null,
      Aliases: ep.config.Aliases?.length ? ep.config.Aliases : null,
      MacAddress: ep.result ? macOf(ep.result, ep.ifName) : "",
      NetworkID: n.Id,
      EndpointID: ep.result ? endpointId(ep) : "",
      Gateway: a?.gateway ?? "",
      IPAddress: a?.ip ?? "",
      IPPrefixLen: a?.prefix ?? 0,
      IPv6Gateway: a6?.gateway ?? "",
      GlobalIPv6Address: a6?.ip ?? "",
      GlobalIPv6PrefixLen: a6?.prefix ?? 0,
      DriverOpts: null,
      DNSNames: n.Name === DEFAULT_NETWORK ? null : [c.name, ...(ep.config.Aliases ?? []), shortId(c.id)],
    };
    for (const p of ep.ports) (ports[`${p.ContainerPort}/${p.Protocol}`] ??= []).push({ HostIp: p.HostIp || "0.0.0.0", HostPort: String(p.HostPort) });
  }
  if (mode === "host" || mode === "none") networks[mode] = emptyEndpoint(mode);
  const first = eps[0];
  const fa = first?.result ? addressOf(first.result) : undefined;
  const fa6 = first?.result ? addressOf(first.result, 6) : undefined;
  return {
    SandboxKey: first?.netns ?? "",
    Ports: ports,
    IPAddress: fa?.ip ?? "",
    Gateway: fa?.gateway ?? "",
    GlobalIPv6Address: fa6?.ip ?? "",
    GlobalIPv6PrefixLen: fa6?.prefix ?? 0,
    IPv6Gateway: fa6?.gateway ?? "",
    MacAddress: first?.result ? macOf(first.result, first.ifName) : "",
    Networks: networks,
  };
}

/** ps's network filter: by network name or id (prefix), or the special modes. */
export function isOnNetwork(ctx: NetworkContext, c: ContainerRecord, ref: string): boolean {
  const mode = c.hostConfig.NetworkMode || DEFAULT_NETWORK;
  if (mode === ref) return true;
  // Every network of that name (names need not be unique) or id prefix.
  const ids = new Set(ctx.store.list().filter((n) => n.Name === ref || n.Id.startsWith(ref)).map((n) => n.Id));
  return ctx.store.endpoints({ containerId: c.id }).some((e) => ids.has(e.networkId));
}

/** ps's Ports column: published ports, then exposed ones nobody published. */
export function summaryPorts(ctx: NetworkContext, c: ContainerRecord): PortSummary[] {
  if (!c.state.Running) return [];
  const out: PortSummary[] = [];
  const published = new Set<string>();
  for (const ep of ctx.store.endpoints({ containerId: c.id })) {
    for (const p of ep.ports) {
      published.add(`${p.ContainerPort}/${p.Protocol}`);
      out.push({ IP: p.HostIp || "0.0.0.0", PrivatePort: p.ContainerPort, PublicPort: p.HostPort, Type: p.Protocol });
    }
  }
  for (const key of Object.keys(c.config.ExposedPorts ?? {})) {
    const [port = "", proto = "tcp"] = key.split("/");
    if (!published.has(`${port}/${proto}`)) out.push({ PrivatePort: Number(port), Type: proto });
  }
  return out;
}

function endpointId(ep: EndpointRecord): string {
  return crypto.createHash("sha256").update(`${ep.containerId}/${ep.networkId}`).digest("hex");
}

function emptyEndpoint(name: string): EndpointView {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    MacAddress: "",
    NetworkID: name,
    EndpointID: "",
    Gateway: "",
    IPAddress: "",
    IPPrefixLen: 0,
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    DriverOpts: null,
    DNSNames: null,
  };
}
