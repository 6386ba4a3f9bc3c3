// Addresses: a new network's subnets, gateway, ip-range and aux addresses
// (checked against the other networks and the host's routes, or picked from
// the automatic pool), the static addresses an endpoint asks for, and the
// host-local plugin's leases (its ranges, the aux reservations, reading a
// container's leases back).
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { EndpointSettings } from "../types/records.ts";
import type { IpamConfig, NetworkCreateOptions } from "../types/network.ts";
import { CapsaError, conflict, invalid } from "../util/errors.ts";
import { type Cidr, contains, firstHost, formatCidr, formatIp, hostSubnets, overlaps, parseCidr, parseIp, pickSubnet } from "./cidr.ts";
import { type Cidr6, contains6, formatCidr6, formatIp6, hostSubnets6, ipv6Unavailable, lastAddress6, overlaps6, parseCidr6, parseIp6, pickUla64 } from "./cidr6.ts";
import { CNI_VERSION, type CniResult } from "./cni.ts";
import { cniName, DEFAULT_NETWORK } from "./context.ts";
import { bridgeOptions } from "./driver-options.ts";
import { sweepOrphanBridges } from "./orphans.ts";
import type { NetworkRecord } from "./store.ts";

/** Where automatic subnets come from (one /24 each); CAPSA_DEFAULT_BRIDGE_SUBNET fixes the default bridge's. */
export const AUTO_POOL = "10.77.0.0/16";

/** The container id of host-local leases that hold --aux-address addresses. */
const AUX_LEASE = "capsa-aux-address:";

/** A new network's record (not stored yet): its options checked, its subnets picked. `root` makes ids and bridge names differ between state roots. */
export function newNetworkRecord(root: string, opts: NetworkCreateOptions, others: NetworkRecord[]): NetworkRecord {
  const driver = opts.Driver || "bridge";
  if (driver !== "bridge") throw invalid(`network driver "${driver}" is not supported (only bridge)`);
  // CheckDuplicate: the docker CLI always sets it; without it dockerd (API < 1.44) makes a second network of the name.
  if (opts.CheckDuplicate !== false && others.find((n) => n.Name === opts.Name)) throw conflict(`network with name ${opts.Name} already exists`);
  const ipamDriver = opts.IPAM?.Driver || "default";
  if (ipamDriver !== "default") throw invalid(`IPAM driver "${ipamDriver}" is not supported (only default)`);
  bridgeOptions(opts.Options ?? {});
  const configs = opts.IPAM?.Config ?? [];
  for (const c of configs) {
    if (!c.Subnet && (c.Gateway || c.IPRange || Object.keys(c.AuxiliaryAddresses ?? {}).length)) throw invalid("an IPAM config with a gateway, ip-range or aux-address needs a subnet");
  }
  const is6 = (c: IpamConfig): boolean => !!c.Subnet?.includes(":");
  const v4 = configs.filter((c) => !is6(c));
  const v6 = configs.filter(is6);
  if (v4.length > 1 || v6.length > 1) throw invalid("only one IPv4 and one IPv6 subnet per network are supported");
  if (v6.length && !opts.EnableIPv6) throw invalid(`IPv6 subnet ${v6[0]!.Subnet} given, but IPv6 is not enabled (--ipv6)`);
  if (opts.EnableIPv6) {
    const why = ipv6Unavailable();
    if (why) throw new CapsaError("system", `cannot create IPv6 network ${opts.Name}: ${why}`);
  }
  const cfg = v4[0] ?? {};
  const mine = others.map((n) => ({ name: n.Name, cidr: parseCidr(n.Subnet)! }));
  let subnet: Cidr;
  if (cfg.Subnet) {
    const c = parseCidr(cfg.Subnet);
    if (!c || !cfg.Subnet.includes("/")) throw invalid(`invalid subnet ${cfg.Subnet}: expected an IPv4 CIDR such as 10.1.0.0/24`);
    if (c.prefix > 30) throw invalid(`subnet ${cfg.Subnet} is too small (at most /30)`);
    const other = mine.find((m) => overlaps(m.cidr, c));
    if (other) throw conflict(`invalid pool request: Pool overlaps with other one on this address space (subnet ${formatCidr(c)} overlaps network ${other.name}'s ${formatCidr(other.cidr)})`);
    const route = hostSubnets().find((h) => overlaps(h, c) && h.prefix < 32);
    if (route) throw conflict(`subnet ${formatCidr(c)} overlaps ${formatCidr(route)}, which the host already routes`);
    subnet = c;
  } else {
    sweepOrphanBridges(); // their routes would keep subnets taken
    const env = opts.Name === DEFAULT_NETWORK ? process.env.CAPSA_DEFAULT_BRIDGE_SUBNET : undefined;
    const seed = crypto.createHash("sha256").update(root + "\0" + opts.Name).digest().readUInt16BE(0);
    subnet = env ? (parseCidr(env) ?? pickSubnet(parseCidr(AUTO_POOL)!, [], seed)) : pickSubnet(parseCidr(AUTO_POOL)!, [...mine.map((m) => m.cidr), ...hostSubnets()], seed);
  }
  let gateway = firstHost(subnet);
  if (cfg.Gateway) {
    const g = parseIp(cfg.Gateway);
    if (g === undefined || !contains(subnet, g) || g === subnet.base) throw invalid(`invalid gateway ${cfg.Gateway}: not a host address in ${formatCidr(subnet)}`);
    gateway = g;
  }
  let range: Cidr | undefined;
  if (cfg.IPRange) {
    range = parseCidr(cfg.IPRange);
    if (!range || !cfg.IPRange.includes("/")) throw invalid(`invalid ip-range ${cfg.IPRange}: expected an IPv4 CIDR such as 10.1.0.128/25`);
    if (range.prefix < subnet.prefix || !contains(subnet, range.base)) throw invalid(`invalid ip-range ${cfg.IPRange}: not inside subnet ${formatCidr(subnet)}`);
    if (!rangeBounds4(subnet, range, gateway)) throw invalid(`invalid ip-range ${cfg.IPRange}: it has no address left for containers`);
  }
  const ipv6 = opts.EnableIPv6 ? pickSubnet6(v6[0] ?? {}, others) : undefined;
  const aux: Record<string, string> = {};
  for (const c of configs) {
    for (const [name, addr] of Object.entries(c.AuxiliaryAddresses ?? {})) {
      if (!name) throw invalid(`invalid aux-address ${name}=${addr}: expected name=address`);
      const a4 = parseIp(addr);
      const a6 = a4 === undefined ? parseIp6(addr) : undefined;
      const inside = a4 !== undefined ? contains(subnet, a4) && a4 !== subnet.base : a6 !== undefined && !!ipv6 && contains6(ipv6.subnet, a6) && a6 !== ipv6.subnet.base;
      if (!inside) throw invalid(`invalid aux-address ${name}=${addr}: not a host address in the network's subnets`);
      const canonical = a4 !== undefined ? formatIp(a4) : formatIp6(a6!);
      if (canonical === formatIp(gateway) || canonical === (ipv6 ? formatIp6(ipv6.gateway) : "")) throw invalid(`invalid aux-address ${name}=${addr}: it is the gateway`);
      aux[name] = canonical;
    }
  }
  const id = crypto.randomBytes(32).toString("hex");
  return {
    Id: id,
    Name: opts.Name,
    CniName: safeCniName(opts.Name, id, opts.CheckDuplicate !== false),
    IpamDriver: ipamDriver,
    IpamOptions: opts.IPAM?.Options ?? null,
    Created: new Date().toISOString(),
    Driver: "bridge",
    Internal: !!opts.Internal,
    Labels: opts.Labels ?? {},
    Options: opts.Options ?? {},
    Subnet: formatCidr(subnet),
    Gateway: formatIp(gateway),
    Bridge: "cps-" + crypto.createHash("sha256").update(root + "\0" + id).digest("hex").slice(0, 10),
    ...(range ? { IPRange: formatCidr(range) } : {}),
    ...(Object.keys(aux).length ? { AuxAddresses: aux } : {}),
    ...(ipv6 ? { EnableIPv6: true, Subnet6: formatCidr6(ipv6.subnet), Gateway6: formatIp6(ipv6.gateway), ...(ipv6.range ? { IPRange6: formatCidr6(ipv6.range) } : {}) } : {}),
  };
}

/**
 * docker takes any name that is not blank; CNI names (and so the conflist's
 * file name and host-local's lease directory) are [a-zA-Z0-9][a-zA-Z0-9_.-]*.
 * A name of that form that is unique (insert checks it) is its own CNI name
 * (as before other names were allowed); any other, or one that may be shared
 * (CheckDuplicate off), gets one made from the network's id.
 */
function safeCniName(name: string, id: string, unique: boolean): string {
  if (unique && /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,199}$/.test(name) && !name.startsWith("capsa-net-")) return name;
  return `capsa-net-${id.slice(0, 16)}`;
}

/** The IPv6 half of a dual-stack network: the subnet given (checked) or a random unique local /64. */
function pickSubnet6(cfg: IpamConfig, others: NetworkRecord[]): { subnet: Cidr6; gateway: bigint; range?: Cidr6 } {
  const mine = others.filter((n) => n.Subnet6).map((n) => ({ name: n.Name, cidr: parseCidr6(n.Subnet6!)! }));
  let subnet: Cidr6;
  if (cfg.Subnet) {
    const c = parseCidr6(cfg.Subnet);
    if (!c || !cfg.Subnet.includes("/")) throw invalid(`invalid subnet ${cfg.Subnet}: expected an IPv6 CIDR such as fd00:1:2:3::/64`);
    if (c.prefix > 124) throw invalid(`subnet ${cfg.Subnet} is too small (at most /124)`);
    if (c.prefix < 8 || parseCidr6("ff00::/8")!.base === (c.base & (0xffn << 120n)) || overlaps6(c, parseCidr6("fe80::/10")!)) {
      throw invalid(`invalid subnet ${cfg.Subnet}: not a unicast subnet for containers`);
    }
    const other = mine.find((m) => overlaps6(m.cidr, c));
    if (other) throw conflict(`invalid pool request: Pool overlaps with other one on this address space (subnet ${formatCidr6(c)} overlaps network ${other.name}'s ${formatCidr6(other.cidr)})`);
    const route = hostSubnets6().find((h) => overlaps6(h, c) && h.prefix < 128);
    if (route) throw conflict(`subnet ${formatCidr6(c)} overlaps ${formatCidr6(route)}, which the host already routes`);
    subnet = c;
  } else {
    subnet = pickUla64([...mine.map((m) => m.cidr), ...hostSubnets6()]);
  }
  let gateway = subnet.base + 1n;
  if (cfg.Gateway) {
    const g = parseIp6(cfg.Gateway);
    if (g === undefined || !contains6(subnet, g) || g === subnet.base) throw invalid(`invalid gateway ${cfg.Gateway}: not a host address in ${formatCidr6(subnet)}`);
    gateway = g;
  }
  if (!cfg.IPRange) return { subnet, gateway };
  const range = parseCidr6(cfg.IPRange);
  if (!range || !cfg.IPRange.includes("/")) throw invalid(`invalid ip-range ${cfg.IPRange}: expected an IPv6 CIDR such as fd00:1:2:3::100/120`);
  if (range.prefix < subnet.prefix || !contains6(subnet, range.base)) throw invalid(`invalid ip-range ${cfg.IPRange}: not inside subnet ${formatCidr6(subnet)}`);
  if (!rangeBounds6(subnet, range, gateway)) throw invalid(`invalid ip-range ${cfg.IPRange}: it has no address left for containers`);
  return { subnet, gateway, range };
}

/** The static addresses (--ip, --ip6) and aliases an endpoint asks for, checked against its network. */
export function validateEndpoint(n: NetworkRecord, cfg: EndpointSettings): void {
  const ip = cfg.IPAMConfig?.IPv4Address;
  if (ip) {
    if (n.Name === DEFAULT_NETWORK) throw invalid("user specified IP address is supported on user defined networks only");
    const v = parseIp(ip);
    if (v === undefined || !contains(parseCidr(n.Subnet)!, v)) throw invalid(`invalid IP address ${ip}: not in network ${n.Name}'s subnet ${n.Subnet}`);
  }
  const ip6 = cfg.IPAMConfig?.IPv6Address;
  if (ip6) {
    if (n.Name === DEFAULT_NETWORK) throw invalid("user specified IP address is supported on user defined networks only");
    if (!n.Subnet6) throw invalid(`invalid IPv6 address ${ip6}: network ${n.Name} has no IPv6 (created without --ipv6)`);
    const v = parseIp6(ip6);
    if (v === undefined || !contains6(parseCidr6(n.Subnet6)!, v)) throw invalid(`invalid IPv6 address ${ip6}: not in network ${n.Name}'s subnet ${n.Subnet6}`);
  }
  for (const a of [ip, ip6]) {
    const canonical = a === undefined ? undefined : parseIp(a) !== undefined ? formatIp(parseIp(a)!) : parseIp6(a) !== undefined ? formatIp6(parseIp6(a)!) : undefined;
    const aux = canonical ? Object.entries(n.AuxAddresses ?? {}).find(([, v]) => v === canonical) : undefined;
    if (aux) throw conflict(`invalid IP address ${a}: reserved as aux-address ${aux[0]} of network ${n.Name}`);
    if (canonical && (canonical === n.Gateway || canonical === n.Gateway6)) throw conflict(`invalid IP address ${a}: it is network ${n.Name}'s gateway`);
  }
  // As dockerd: any address (it gets a /16 or /64 on the interface), on any network, the default bridge too.
  for (const ll of cfg.IPAMConfig?.LinkLocalIPs ?? []) {
    if (typeof ll !== "string" || (parseIp(ll) === undefined && parseIp6(ll) === undefined)) throw invalid(`invalid link-local IP address: ${String(ll)}`);
  }
  if (cfg.Aliases?.length && n.Name === DEFAULT_NETWORK) throw invalid("network-scoped alias is supported only for containers in user defined networks");
}

/** The first and last address containers may get from `range` (not the network, broadcast or gateway address); undefined when none is left. */
export function rangeBounds4(subnet: Cidr, range: Cidr, gateway: number): [number, number] | undefined {
  const broadcast = subnet.base + 2 ** (32 - subnet.prefix) - 1;
  let first = Math.max(range.base, subnet.base + 1);
  let last = Math.min(range.base + 2 ** (32 - range.prefix) - 1, broadcast - 1);
  if (first === gateway) first++;
  if (last === gateway) last--;
  return first <= last ? [first, last] : undefined;
}

export function rangeBounds6(subnet: Cidr6, range: Cidr6, gateway: bigint): [bigint, bigint] | undefined {
  let first = range.base > subnet.base ? range.base : subnet.base + 1n;
  let last = lastAddress6(range);
  if (first === gateway) first++;
  if (last === gateway) last--;
  return first <= last ? [first, last] : undefined;
}

/** host-local's range sets: one per family (the length of the list is the number of addresses a container gets). `whole` drops a family's ip-range. */
export function ipamRanges(n: NetworkRecord, whole: { v4?: boolean; v6?: boolean } = {}): { subnet: string; gateway: string; rangeStart?: string; rangeEnd?: string }[][] {
  const v4: { subnet: string; gateway: string; rangeStart?: string; rangeEnd?: string } = { subnet: n.Subnet, gateway: n.Gateway };
  const b4 = n.IPRange && !whole.v4 ? rangeBounds4(parseCidr(n.Subnet)!, parseCidr(n.IPRange)!, parseIp(n.Gateway)!) : undefined;
  if (b4) Object.assign(v4, { rangeStart: formatIp(b4[0]), rangeEnd: formatIp(b4[1]) });
  if (!n.Subnet6 || !n.Gateway6) return [[v4]];
  const v6: typeof v4 = { subnet: n.Subnet6, gateway: n.Gateway6 };
  const b6 = n.IPRange6 && !whole.v6 ? rangeBounds6(parseCidr6(n.Subnet6)!, parseCidr6(n.IPRange6)!, parseIp6(n.Gateway6)!) : undefined;
  if (b6) Object.assign(v6, { rangeStart: formatIp6(b6[0]), rangeEnd: formatIp6(b6[1]) });
  return [[v4], [v6]];
}

/** Aux addresses are held as host-local leases of no container, so the plugin never hands them out. */
export function reserveAux(ipamDir: string, n: NetworkRecord): void {
  const addrs = Object.entries(n.AuxAddresses ?? {});
  if (!addrs.length) return;
  const dir = path.join(ipamDir, cniName(n));
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [name, addr] of addrs) fs.writeFileSync(path.join(dir, addr), `${AUX_LEASE}${name}\r\naux`);
}

/** A container's addresses on the network as its host-local leases say, in the shape of an ADD result. */
export function resultFromLease(ipamDir: string, n: NetworkRecord, containerId: string): CniResult | undefined {
  const dir = path.join(ipamDir, cniName(n));
  let files: string[] = [];
  try {
    files = fs.readdirSync(dir).filter((f) => parseIp(f) !== undefined || parseIp6(f) !== undefined);
  } catch {
    return undefined;
  }
  const lease = (f: string): { address: string; gateway: string } =>
    f.includes(":") ? { address: `${f}/${n.Subnet6?.split("/")[1] ?? "64"}`, gateway: n.Gateway6 ?? "" } : { address: `${f}/${n.Subnet.split("/")[1]}`, gateway: n.Gateway };
  const ips = files
    .filter((f) => {
      try {
        return fs.readFileSync(path.join(dir, f), "utf8").split(/\r?\n/)[0] === containerId;
      } catch {
        return false;
      }
    })
    .map(lease);
  return ips.length ? { cniVersion: CNI_VERSION, ips } : undefined;
}
