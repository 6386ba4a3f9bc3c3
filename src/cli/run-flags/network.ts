// The network flags of run/create: the network mode, exposed and published
// ports, DNS, extra hosts, and the endpoint settings of the container's
// network (--ip, --ip6, --network-alias, --mac-address).
import type { EndpointSettings, FlagParse, PortBinding } from "./types.ts";

/** Applies the flags; returns the endpoint settings keyed by network, when any were given. */
export function applyNetworkFlags(p: FlagParse): Record<string, EndpointSettings> | undefined {
  const { o, config, hostConfig, fail, bad } = p;
  if (o.network !== undefined) hostConfig.NetworkMode = o.network;
  const exposed: Record<string, object> = {};
  for (const e of o.expose ?? []) {
    const r = parsePortRange(e.includes("/") ? e : e + "/tcp");
    if (!r) throw bad("expose", e, `invalid range format for --expose: ${e}`);
    for (let port = r.start; port <= r.end; port++) exposed[`${port}/${r.proto}`] = {};
  }
  if (o.publish) {
    const bindings: Record<string, PortBinding[]> = {};
    for (const spec of o.publish) {
      const r = parsePublish(spec);
      if (typeof r === "string") throw bad("publish", spec, r);
      for (const [port, b] of r) {
        exposed[port] = {};
        (bindings[port] ??= []).push(b);
      }
    }
    hostConfig.PortBindings = bindings;
  }
  if (Object.keys(exposed).length > 0) config.ExposedPorts = exposed;
  if (o.publishAll) hostConfig.PublishAllPorts = true;
  if (o.dns) hostConfig.Dns = o.dns;
  if (o.dnsSearch) hostConfig.DnsSearch = o.dnsSearch;
  if (o.dnsOption) hostConfig.DnsOptions = o.dnsOption;
  if (o.addHost) {
    hostConfig.ExtraHosts = o.addHost.map((h) => {
      const m = /^([^:=]+)[:=](.+)$/.exec(h);
      if (!m) throw bad("add-host", h, `bad format for add-host: "${h}"`);
      return `${m[1]}:${m[2]}`;
    });
  }
  if (o.macAddress !== undefined && !/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(o.macAddress)) {
    throw fail(`${o.macAddress} is not a valid mac address`);
  }
  if (o.ip !== undefined && !/^(\d{1,3}\.){3}\d{1,3}$/.test(o.ip)) throw bad("ip", o.ip, `invalid IPv4 address: ${o.ip}`);
  if (o.ip === undefined && o.ip6 === undefined && !o.networkAlias && o.macAddress === undefined) return undefined;
  const ep: EndpointSettings = {};
  if (o.ip !== undefined || o.ip6 !== undefined) {
    ep.IPAMConfig = {};
    if (o.ip !== undefined) ep.IPAMConfig.IPv4Address = o.ip;
    if (o.ip6 !== undefined) ep.IPAMConfig.IPv6Address = o.ip6;
  }
  if (o.networkAlias) ep.Aliases = o.networkAlias;
  if (o.macAddress !== undefined) {
    ep.MacAddress = o.macAddress;
    config.MacAddress = o.macAddress;
  }
  const net = o.network ?? "bridge";
  if ((o.ip !== undefined || o.networkAlias) && (net === "host" || net === "none" || net.startsWith("container:"))) {
    throw fail(`network-scoped aliases and static IPs are only supported for user-defined networks and bridge, not "${net}"`);
  }
  return { [net]: ep };
}

function parsePortRange(s: string): { start: number; end: number; proto: string } | undefined {
  const m = /^(\d+)(?:-(\d+))?\/(tcp|udp|sctp)$/.exec(s);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] !== undefined ? Number(m[2]) : start;
  if (start < 1 || end > 65535 || end < start) return undefined;
  return { start, end, proto: m[3] ?? "tcp" };
}

/**
 * -p [ip:][hostPort:]containerPort[/proto], ranges on both sides ("8000-8001:80-81"),
 * IPv6 host addresses in brackets. Returns [containerPort/proto, binding] pairs or an error.
 */
export function parsePublish(spec: string): [string, PortBinding][] | string {
  let rest = spec;
  let proto = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    proto = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
    if (!["tcp", "udp", "sctp"].includes(proto)) return `invalid proto: ${proto}`;
  }
  let ip = "";
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(rest);
  if (v6) {
    ip = v6[1] ?? "";
    rest = v6[2] ?? "";
  }
  const parts = rest.split(":");
  let hostPart = "";
  let ctrPart: string;
  if (parts.length === 1) ctrPart = parts[0] ?? "";
  else if (parts.length === 2) [hostPart = "", ctrPart = ""] = parts;
  else if (parts.length === 3 && !v6) [ip = "", hostPart = "", ctrPart = ""] = parts;
  else return `invalid port format: ${spec}`;
  if (ip !== "" && !v6 && !/^(\d{1,3}\.){3}\d{1,3}$/.test(ip)) return `invalid IP address: ${ip}`;
  const ctr = parsePortRange(`${ctrPart}/${proto}`);
  if (!ctr) return `invalid containerPort: ${ctrPart}`;
  let host: { start: number; end: number } | undefined;
  if (hostPart !== "") {
    host = parsePortRange(`${hostPart}/${proto}`);
    if (!host) return `invalid hostPort: ${hostPart}`;
    const hostLen = host.end - host.start;
    const ctrLen = ctr.end - ctr.start;
    if (hostLen !== ctrLen && ctrLen !== 0) return `invalid ranges specified for container and host Ports: ${ctrPart} and ${hostPart}`;
  }
  const out: [string, PortBinding][] = [];
  for (let i = 0; i <= ctr.end - ctr.start; i++) {
    let hostPort = "";
    if (host) hostPort = ctr.end === ctr.start && host.end !== host.start ? `${host.start}-${host.end}` : String(host.start + i);
    out.push([`${ctr.start + i}/${proto}`, { HostIp: ip, HostPort: hostPort }]);
  }
  return out;
}
