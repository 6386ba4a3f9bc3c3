// Networks: the SDK verbs (create, ls, inspect, rm, prune, connect,
// disconnect) and the hooks the container lifecycle calls: setUp before the
// bundle is written, tearDown when the container's resources are released.
// Each network is a CNI conflist (bridge + host-local, portmap; NAT and
// forwarding are its own rules, isolation.ts)
// under <root>/networks; each container gets a namespace file under
// <runRoot>/netns; names resolve through the /etc/hosts capsa keeps for every
// running container on a user-defined network.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import type { NetworkApi } from "../types/engine-api.ts";
import type { ContainerRecord, EndpointSettings, HostConfig } from "../types/records.ts";
import type { Ctx } from "../engine/containers/context.ts";
import type { SpecNetwork } from "../runtime/spec.ts";
import { CapsaError, conflict, errorMessage, invalid, notFound } from "../util/errors.ts";
import { labelMatches } from "../util/label-filter.ts";
import { type Cidr, contains, defaultRouteMtu, firstHost, formatCidr, formatIp, hostSubnets, overlaps, parseCidr, parseIp, pickSubnet } from "./cidr.ts";
import { type Cidr6, contains6, formatCidr6, formatIp6, hostSubnets6, ipv6Unavailable, lastAddress6, overlaps6, parseCidr6, parseIp6, pickUla64 } from "./cidr6.ts";
import { addNetwork, CNI_VERSION, type CniResult, type ConfList, delNetwork } from "./cni.ts";
import { CONTAINER_RESOLVER, dnsAvailable, dnsHostsPath, listServers, reloadContainerServer, startContainerServer, stopContainerServer, stopServer, syncServer } from "./dns.ts";
import { createNetns, listNetns, netnsPath, removeNetns } from "./netns.ts";
import { isolate, sweepOrphanRules, unisolate } from "./isolation.ts";
import { labelBridge, sweepOrphanBridges, sweepOrphanDns } from "./orphans.ts";
import { allocatePorts, wantedPorts } from "./ports.ts";
import { type EndpointRecord, type NetworkRecord, NetworkStore, type PublishedPort } from "./store.ts";
import type { EndpointView, IpamConfig, NetworkCreateOptions, NetworkInspect } from "../types/network.ts";
import { pidAlive } from "../util/process.ts";

export const DEFAULT_NETWORK = "bridge";
/** Where automatic subnets come from (one /24 each); CAPSA_DEFAULT_BRIDGE_SUBNET fixes the default bridge's. */
export const AUTO_POOL = "10.77.0.0/16";
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The container id of host-local leases that hold --aux-address addresses. */
const AUX_LEASE = "capsa-aux-address:";

const LOOPBACK: ConfList = { cniVersion: CNI_VERSION, name: "capsa-loopback", plugins: [{ type: "loopback" }] };

/** What start needs from the network: how runc joins it, the container's own address, the hosts file. */
export interface NetworkSetup {
  spec: SpecNetwork;
  /** /etc/hosts content, when the network decides it. */
  hosts?: string;
  /** /etc/resolv.conf content, when the network decides it (container:<x> copies x's). */
  resolv?: string;
  /** The network's DNS server (names of its containers), for resolv.conf. */
  dnsServer?: string;
}

export type HostsRenderer = (c: ContainerRecord, ownAddress?: string) => string;

const isSpecial = (mode: string): boolean => mode === "none" || mode === "host" || mode.startsWith("container:");

export class Networks implements NetworkApi {
  readonly store: NetworkStore;
  /** bundle.ts's /etc/hosts base (set by the engine, to keep this module free of an import cycle). */
  baseHosts: HostsRenderer = () => "127.0.0.1\tlocalhost\n";

  constructor(private readonly ctx: Ctx) {
    this.store = new NetworkStore(ctx.db);
  }

  private get dir(): string {
    return path.join(this.ctx.paths.root, "networks");
  }

  confListPath(n: NetworkRecord): string {
    return path.join(this.dir, `${n.Name}.conflist`);
  }

  private ipamDir(): string {
    return path.join(this.dir, "ipam");
  }

  // ---------- the SDK verbs ----------

  create(opts: NetworkCreateOptions): { Id: string; Warning: string } {
    if (!NAME_RE.test(opts.Name ?? "")) throw invalid(`invalid network name "${opts.Name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (["none", "host", "default", DEFAULT_NETWORK].includes(opts.Name)) throw conflict(`${opts.Name} is a pre-defined network and cannot be created`);
    return { Id: this.createRecord(opts).Id, Warning: "" };
  }

  private createRecord(opts: NetworkCreateOptions): NetworkRecord {
    const driver = opts.Driver || "bridge";
    if (driver !== "bridge") throw invalid(`network driver "${driver}" is not supported (only bridge)`);
    if (this.store.find(opts.Name)?.Name === opts.Name) throw conflict(`network with name ${opts.Name} already exists`);
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
    const others = this.store.list();
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
      const seed = crypto.createHash("sha256").update(this.ctx.paths.root + "\0" + opts.Name).digest().readUInt16BE(0);
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
    const ipv6 = opts.EnableIPv6 ? this.pickSubnet6(v6[0] ?? {}, others) : undefined;
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
    const n: NetworkRecord = {
      Id: id,
      Name: opts.Name,
      Created: new Date().toISOString(),
      Driver: "bridge",
      Internal: !!opts.Internal,
      Labels: opts.Labels ?? {},
      Options: opts.Options ?? {},
      Subnet: formatCidr(subnet),
      Gateway: formatIp(gateway),
      Bridge: "cps-" + crypto.createHash("sha256").update(this.ctx.paths.root + "\0" + id).digest("hex").slice(0, 10),
      ...(range ? { IPRange: formatCidr(range) } : {}),
      ...(Object.keys(aux).length ? { AuxAddresses: aux } : {}),
      ...(ipv6
        ? { EnableIPv6: true, Subnet6: formatCidr6(ipv6.subnet), Gateway6: formatIp6(ipv6.gateway), ...(ipv6.range ? { IPRange6: formatCidr6(ipv6.range) } : {}) }
        : {}),
    };
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    this.writeConfList(n);
    try {
      this.reserveAux(n);
      this.store.insert(n);
    } catch (e) {
      fs.rmSync(this.confListPath(n), { force: true });
      fs.rmSync(path.join(this.ipamDir(), n.Name), { recursive: true, force: true });
      throw e;
    }
    return n;
  }

  /** The IPv6 half of a dual-stack network: the subnet given (checked) or a random unique local /64. */
  private pickSubnet6(cfg: IpamConfig, others: NetworkRecord[]): { subnet: Cidr6; gateway: bigint; range?: Cidr6 } {
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

  /** Aux addresses are held as host-local leases of no container, so the plugin never hands them out. */
  private reserveAux(n: NetworkRecord): void {
    const addrs = Object.entries(n.AuxAddresses ?? {});
    if (!addrs.length) return;
    const dir = path.join(this.ipamDir(), n.Name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const [name, addr] of addrs) fs.writeFileSync(path.join(dir, addr), `${AUX_LEASE}${name}\r\naux`);
  }

  /** The conflist is the network's definition for CNI: readable, and a user may add plugins to it. */
  confList(n: NetworkRecord): ConfList {
    try {
      return JSON.parse(fs.readFileSync(this.confListPath(n), "utf8")) as ConfList;
    } catch {
      return this.buildConfList(n);
    }
  }

  /**
   * The conflist for one ADD. Static addresses (--ip, --ip6) go to host-local
   * as the `args.cni.ips` convention (its CNI_ARGS IP= takes one address only).
   * A static address may lie outside --ip-range (as in docker), while
   * host-local only grants addresses inside its ranges: such an ADD gets the
   * whole subnets (host-local frees leases by container, so DEL needs no such care).
   */
  private confListFor(n: NetworkRecord, ips: string[]): ConfList {
    const list = this.confList(n);
    if (!ips.length) return list;
    // Only the family that has a static address loses its range for this ADD.
    const whole = { v4: !!n.IPRange && ips.some((a) => !a.includes(":")), v6: !!n.IPRange6 && ips.some((a) => a.includes(":")) };
    return {
      ...list,
      plugins: list.plugins.map((p) => {
        const ipam = p.ipam as { type?: string } | undefined;
        if (p.type !== "bridge" || ipam?.type !== "host-local") return p;
        return { ...p, args: { cni: { ips } }, ...(whole.v4 || whole.v6 ? { ipam: { ...ipam, ranges: ipamRanges(n, whole) } } : {}) };
      }),
    };
  }

  private buildConfList(n: NetworkRecord): ConfList {
    const mtu = defaultRouteMtu();
    const plugins: ConfList["plugins"] = [
      {
        type: "bridge",
        bridge: n.Bridge,
        isGateway: true,
        // NAT and forwarding are the network's own rules (isolation.ts), not per container.
        ipMasq: false,
        hairpinMode: true,
        ...(mtu !== undefined && mtu < 1500 ? { mtu } : {}),
        ipam: {
          type: "host-local",
          ranges: ipamRanges(n),
          routes: n.Internal ? [] : [{ dst: "0.0.0.0/0" }, ...(n.Subnet6 ? [{ dst: "::/0" }] : [])],
          dataDir: this.ipamDir(),
        },
      },
    ];
    if (!n.Internal) plugins.push({ type: "portmap", capabilities: { portMappings: true } });
    return { cniVersion: CNI_VERSION, name: n.Name, plugins };
  }

  private writeConfList(n: NetworkRecord): void {
    const file = this.confListPath(n);
    fs.writeFileSync(file + ".tmp", JSON.stringify(this.buildConfList(n), null, 2) + "\n", { mode: 0o644 });
    fs.renameSync(file + ".tmp", file);
  }

  /** The default bridge network, created on first use. */
  ensureDefault(): NetworkRecord {
    const found = this.store.find(DEFAULT_NETWORK);
    if (found) return found;
    try {
      return this.createRecord({ Name: DEFAULT_NETWORK, Options: { "com.docker.network.bridge.default_bridge": "true" } });
    } catch (e) {
      const again = this.store.find(DEFAULT_NETWORK);
      if (again) return again;
      throw e;
    }
  }

  async list(opts: { filters?: Record<string, string[]> } = {}): Promise<NetworkInspect[]> {
    await this.reconcile();
    // Not in reconcile, which every start runs: it reads every table.
    sweepOrphanRules();
    this.ensureDefault();
    const f = opts.filters ?? {};
    const all: (NetworkRecord | "host" | "none")[] = [...this.store.list(), "host", "none"];
    return all
      .map((n) => (typeof n === "string" ? this.modeView(n) : this.view(n)))
      .filter((n) => !f.name?.length || f.name.some((x) => n.Name.includes(x)))
      .filter((n) => !f.id?.length || f.id.some((x) => n.Id.startsWith(x)))
      .filter((n) => !f.driver?.length || f.driver.includes(n.Driver))
      .filter((n) => !f.type?.length || f.type.includes(["bridge", "host", "none"].includes(n.Name) ? "builtin" : "custom"))
      .filter((n) => !f.label?.length || f.label.every((l) => labelMatches(n.Labels, l)));
  }

  /** docker's pre-defined "host" and "none" networks: no records, only views of the containers in those modes. */
  private modeView(name: "host" | "none"): NetworkInspect {
    const containers: NetworkInspect["Containers"] = {};
    for (const c of this.ctx.store.list()) {
      if (c.hostConfig.NetworkMode === name && c.state.Running) containers[c.id] = { Name: c.name, EndpointID: "", MacAddress: "", IPv4Address: "", IPv6Address: "" };
    }
    return {
      Name: name,
      Id: crypto.createHash("sha256").update(this.ctx.paths.root + "\0" + name).digest("hex"),
      Created: "0001-01-01T00:00:00Z",
      Scope: "local",
      Driver: name === "host" ? "host" : "null",
      EnableIPv6: false,
      IPAM: { Driver: "default", Options: {}, Config: [] },
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

  async inspect(ref: string): Promise<NetworkInspect> {
    await this.reconcile();
    if (ref === "host" || ref === "none") return this.modeView(ref);
    if (ref === DEFAULT_NETWORK) this.ensureDefault();
    return this.view(this.store.get(ref));
  }

  private view(n: NetworkRecord): NetworkInspect {
    const containers: NetworkInspect["Containers"] = {};
    for (const ep of this.store.endpoints({ networkId: n.Id })) {
      if (!ep.result) continue;
      const c = this.ctx.store.find(ep.containerId);
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
      IPAM: { Driver: "default", Options: {}, Config: config },
      Internal: n.Internal,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: "" },
      ConfigOnly: false,
      Containers: containers,
      Options: n.Options,
      Labels: n.Labels,
      Capsa: { ConfList: this.confListPath(n), Bridge: n.Bridge },
    };
  }

  async remove(ref: string): Promise<void> {
    await this.reconcile();
    if (["none", "host"].includes(ref)) throw conflict(`${ref} is a pre-defined network and cannot be removed`);
    const n = this.store.get(ref);
    if (n.Name === DEFAULT_NETWORK) throw conflict(`${n.Name} is a pre-defined network and cannot be removed`);
    const users = this.store.endpoints({ networkId: n.Id });
    if (users.length) {
      const names = users.map((u) => this.ctx.store.find(u.containerId)?.name ?? u.containerId.slice(0, 12));
      throw conflict(`error while removing network: network ${n.Name} id ${n.Id} has active endpoints (${names.join(", ")})`);
    }
    this.destroy(n);
  }

  /** Deletes the bridge device, the conflist, the IPAM state and the record. */
  private destroy(n: NetworkRecord): void {
    stopServer(this.ctx.paths.runRoot, n.Id);
    unisolate(n.Bridge, !!n.Subnet6);
    try {
      execFileSync("ip", ["link", "del", n.Bridge], { stdio: "ignore" });
    } catch {
      /* never created (no container ran on it) or already gone */
    }
    fs.rmSync(this.confListPath(n), { force: true });
    fs.rmSync(path.join(this.ipamDir(), n.Name), { recursive: true, force: true });
    this.store.delete(n.Id);
  }

  async prune(): Promise<{ NetworksDeleted: string[] }> {
    await this.reconcile();
    const deleted: string[] = [];
    for (const n of this.store.list()) {
      if (n.Name === DEFAULT_NETWORK || this.store.endpoints({ networkId: n.Id }).length) continue;
      this.destroy(n);
      deleted.push(n.Name);
    }
    return { NetworksDeleted: deleted };
  }

  async connect(ref: string, container: string, opts: { aliases?: string[]; ipv4Address?: string; ipv6Address?: string } = {}): Promise<void> {
    const n = ref === DEFAULT_NETWORK ? this.ensureDefault() : this.store.get(ref);
    const c = this.ctx.store.get(container);
    const mode = c.hostConfig.NetworkMode ?? DEFAULT_NETWORK;
    if (isSpecial(mode)) throw conflict(`container ${c.name} uses network mode "${mode}" and cannot be connected to ${n.Name}`);
    const cfg: EndpointSettings = {};
    if (opts.aliases?.length) cfg.Aliases = opts.aliases;
    if (opts.ipv4Address || opts.ipv6Address) cfg.IPAMConfig = { ...(opts.ipv4Address ? { IPv4Address: opts.ipv4Address } : {}), ...(opts.ipv6Address ? { IPv6Address: opts.ipv6Address } : {}) };
    this.validateEndpoint(n, cfg);
    if (!this.store.addEndpoint(c.id, n.Id, cfg)) throw conflict(`endpoint with name ${c.name} already exists in network ${n.Name}`);
    if (!c.state.Running) return;
    const ep = this.store.endpoints({ containerId: c.id, networkId: n.Id })[0]!;
    const file = netnsPath(this.ctx.paths.runRoot, c.id);
    if (!fs.existsSync(file)) return;
    const used = new Set(this.store.endpoints({ containerId: c.id }).map((e) => e.ifName));
    let i = 0;
    while (used.has(`eth${i}`)) i++;
    try {
      await this.attach(c, ep, file, `eth${i}`);
      this.store.clearOwner(c.id);
    } catch (e) {
      await this.detachOne(c.id, ep).catch(() => undefined);
      this.store.removeEndpoint(c.id, n.Id);
      throw e;
    }
    this.refreshHosts([n.Id]);
    this.retargetResolver(c);
  }

  async disconnect(ref: string, container: string, _opts: { force?: boolean } = {}): Promise<void> {
    const n = this.store.get(ref);
    const c = this.ctx.store.get(container);
    const ep = this.store.endpoints({ containerId: c.id, networkId: n.Id })[0];
    if (!ep) throw conflict(`container ${c.id} is not connected to network ${n.Name}`);
    await this.detachOne(c.id, ep);
    this.store.removeEndpoint(c.id, n.Id);
    this.refreshHosts([n.Id]);
    // The container's own hosts file loses that network's peers, its resolver their names.
    if (c.state.Running) {
      this.rewriteHosts(c);
      this.retargetResolver(c);
    }
  }

  /**
   * Starts, restarts or stops the container's own resolver (see dns.ts) for its
   * current user-defined networks; true when it runs. Needs two or more such
   * networks with DNS servers; never fails the caller (/etc/hosts has the names).
   */
  private syncContainerDns(c: ContainerRecord): boolean {
    const nets = this.store
      .endpoints({ containerId: c.id })
      .filter((e) => e.result)
      .map((e) => this.networkById(e.networkId))
      .filter((n): n is NetworkRecord => !!n && n.Name !== DEFAULT_NETWORK);
    const file = netnsPath(this.ctx.paths.runRoot, c.id);
    try {
      if (nets.length < 2 || !dnsAvailable() || !fs.existsSync(file)) {
        stopContainerServer(this.ctx.paths.runRoot, c.id);
        return false;
      }
      const hosts = nets.map((n) => dnsHostsPath(this.ctx.paths.runRoot, n.Id));
      startContainerServer(this.ctx.paths.runRoot, c.id, file, hosts, nets.some((n) => !n.Internal));
      return true;
    } catch {
      stopContainerServer(this.ctx.paths.runRoot, c.id);
      return false;
    }
  }

  /** After connect/disconnect of a running container: its resolver follows its networks, and resolv.conf (rewritten in place) names it. */
  private retargetResolver(c: ContainerRecord): void {
    if ((c.hostConfig.Dns ?? []).length) return;
    const file = path.join(this.ctx.paths.containers, c.id, "resolv.conf");
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      return;
    }
    const ours = new Set([CONTAINER_RESOLVER, ...this.store.list().map((n) => n.Gateway)]);
    const lines = text.split("\n");
    const current = lines.find((l) => /^\s*nameserver\s/.test(l))?.trim().split(/\s+/)[1];
    if (!current || !ours.has(current)) return; // not capsa's resolver: leave it
    let target: string | undefined;
    if (this.syncContainerDns(c)) target = CONTAINER_RESOLVER;
    else {
      for (const ep of this.store.endpoints({ containerId: c.id })) {
        const n = this.networkById(ep.networkId);
        if (ep.result && n && n.Name !== DEFAULT_NETWORK && this.syncDns(n)) {
          target = n.Gateway;
          break;
        }
      }
    }
    if (!target || target === current) return;
    const out = lines.filter((l) => !/^\s*nameserver\s/.test(l));
    out.unshift(`nameserver ${target}`);
    try {
      fs.writeFileSync(file, out.join("\n"));
    } catch {
      /* the container is going away */
    }
  }

  // ---------- hooks for the container lifecycle ----------

  /** At create: checks NetworkMode and the endpoints asked for, and records them. */
  register(containerId: string, h: HostConfig, endpoints: Record<string, EndpointSettings> | undefined): void {
    const mode = h.NetworkMode || DEFAULT_NETWORK;
    const eps = { ...(endpoints ?? {}) };
    if (isSpecial(mode)) {
      if (mode.startsWith("container:") && !this.ctx.store.find(mode.slice("container:".length))) throw notFound(`No such container: ${mode.slice("container:".length)}`);
      if (h.PortBindings && Object.keys(h.PortBindings).length && mode !== "none") {
        throw invalid(`conflicting options: port publishing and the network mode "${mode}"`);
      }
      return;
    }
    const nets: [NetworkRecord, EndpointSettings][] = [];
    const primary = mode === DEFAULT_NETWORK ? this.ensureDefault() : this.store.find(mode);
    if (!primary) throw notFound(`network ${mode} not found`);
    nets.push([primary, eps[mode] ?? eps[primary.Name] ?? {}]);
    for (const [name, cfg] of Object.entries(eps)) {
      if (name === mode || name === primary.Name) continue;
      const n = name === DEFAULT_NETWORK ? this.ensureDefault() : this.store.find(name);
      if (!n) throw notFound(`network ${name} not found`);
      nets.push([n, cfg]);
    }
    for (const [n, cfg] of nets) this.validateEndpoint(n, cfg);
    for (const [n, cfg] of nets) this.store.addEndpoint(containerId, n.Id, cfg);
  }

  private validateEndpoint(n: NetworkRecord, cfg: EndpointSettings): void {
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
    if (cfg.Aliases?.length && n.Name === DEFAULT_NETWORK) throw invalid("network-scoped alias is supported only for containers in user defined networks");
  }

  /** Before the bundle is written: the namespace, CNI ADD for each network, published ports. */
  async setUp(c: ContainerRecord): Promise<NetworkSetup> {
    const mode = c.hostConfig.NetworkMode || DEFAULT_NETWORK;
    if (mode === "host") return { spec: { mode: "host" } };
    if (mode === "none") return { spec: { mode: "none" } };
    if (mode.startsWith("container:")) return this.joinContainer(mode.slice("container:".length));
    await this.reconcile();
    let eps = this.store.endpoints({ containerId: c.id });
    if (!eps.length) {
      this.register(c.id, c.hostConfig, undefined);
      eps = this.store.endpoints({ containerId: c.id });
    }
    const file = netnsPath(this.ctx.paths.runRoot, c.id);
    // Claim the endpoints first: a crash from here on leaves rows that reconcile() undoes.
    for (const ep of eps) this.store.setAttached(c.id, ep.networkId, { ifName: "", netns: file, result: null, ports: [], ownerPid: process.pid });
    try {
      createNetns(this.ctx.paths.runRoot, c.id);
      await addNetwork(LOOPBACK, { containerId: c.id, netns: file, ifName: "lo" });
      for (const [i, ep] of eps.entries()) await this.attach(c, ep, file, `eth${i}`);
    } catch (e) {
      await this.tearDown(c).catch(() => undefined);
      throw e instanceof CapsaError ? e : new CapsaError("system", `network set-up for ${c.name}: ${errorMessage(e)}`);
    }
    // The first user-defined network's resolver answers for the container (names on other networks are in /etc/hosts).
    let dnsServer: string | undefined;
    for (const ep of eps) {
      const n = this.networkById(ep.networkId);
      if (n && this.syncDns(n) && !dnsServer) dnsServer = n.Gateway;
    }
    // On two or more user-defined networks: a resolver of its own that knows the names of all of them.
    if (dnsServer && !(c.hostConfig.Dns ?? []).length && this.syncContainerDns(c)) dnsServer = CONTAINER_RESOLVER;
    return { spec: { mode: "path", path: file }, hosts: this.renderHosts(c), ...(dnsServer ? { dnsServer } : {}) };
  }

  private joinContainer(ref: string): NetworkSetup {
    const x = this.ctx.store.find(ref);
    if (!x) throw notFound(`No such container: ${ref}`);
    if (!x.state.Running) throw conflict(`cannot join network of a non running container: ${x.name}`);
    const xmode = x.hostConfig.NetworkMode || DEFAULT_NETWORK;
    if (xmode === "host") return { spec: { mode: "host" } };
    if (xmode.startsWith("container:")) return this.joinContainer(xmode.slice("container:".length));
    const file = netnsPath(this.ctx.paths.runRoot, x.id);
    const p = fs.existsSync(file) ? file : `/proc/${x.state.Pid}/ns/net`;
    const read = (f: string): string | undefined => {
      try {
        return fs.readFileSync(path.join(this.ctx.paths.containers, x.id, f), "utf8");
      } catch {
        return undefined; // x's bundle is gone: the defaults will do
      }
    };
    const hosts = read("hosts");
    const resolv = read("resolv.conf");
    return { spec: { mode: "path", path: p }, ...(hosts !== undefined ? { hosts } : {}), ...(resolv !== undefined ? { resolv } : {}) };
  }

  private async attach(c: ContainerRecord, ep: EndpointRecord, file: string, ifName: string): Promise<void> {
    const n = this.networkById(ep.networkId);
    if (!n) throw notFound(`network ${ep.networkId} not found`);
    const all = this.store.endpoints({ containerId: c.id });
    const primary = all[0]?.networkId === n.Id;
    let ports: PublishedPort[] = [];
    if (primary && !n.Internal) {
      const taken = this.store.endpoints().filter((e) => e.containerId !== c.id).flatMap((e) => e.ports);
      ports = await allocatePorts(wantedPorts(c.config, c.hostConfig), taken);
    }
    this.store.setAttached(c.id, n.Id, { ifName, netns: file, result: null, ports, ownerPid: process.pid });
    const args: Record<string, string> = {};
    const fixed = [ep.config.IPAMConfig?.IPv4Address, n.Subnet6 ? ep.config.IPAMConfig?.IPv6Address : undefined].filter((x): x is string => !!x);
    const mac = ep.config.MacAddress || (primary ? c.config.MacAddress : undefined);
    if (mac) args.MAC = mac;
    const result = await addNetwork(this.confListFor(n, fixed), { containerId: c.id, netns: file, ifName, args, runtimeConfig: { portMappings: cniPorts(ports) } });
    this.store.setAttached(c.id, n.Id, { ifName, netns: file, result, ports, ownerPid: process.pid });
    // A bridge the plugin just made: label it with its root, isolate it from the other networks.
    if (labelBridge(n.Bridge, this.ctx.paths.root)) isolate(n.Bridge, n.Internal, [n.Subnet, ...(n.Subnet6 ? [n.Subnet6] : [])]);
  }

  /** After the container runs: its peers learn its name. */
  started(c: ContainerRecord): void {
    const eps = this.store.endpoints({ containerId: c.id });
    if (!eps.length) return;
    this.store.clearOwner(c.id);
    this.refreshHosts(eps.map((e) => e.networkId), c.id);
  }

  /** CNI DEL for every network (reverse order), then the namespace. Idempotent. */
  async tearDown(c: { id: string }): Promise<void> {
    const eps = this.store.endpoints({ containerId: c.id }).filter((e) => e.netns);
    stopContainerServer(this.ctx.paths.runRoot, c.id);
    for (const ep of [...eps].reverse()) await this.detachOne(c.id, ep).catch(() => undefined);
    const file = netnsPath(this.ctx.paths.runRoot, c.id);
    // Loopback needs no DEL: it goes with the namespace.
    if (fs.existsSync(file)) removeNetns(file);
    if (eps.length) this.refreshHosts(eps.map((e) => e.networkId), c.id);
  }

  private async detachOne(containerId: string, ep: EndpointRecord): Promise<void> {
    const n = this.networkById(ep.networkId);
    try {
      if (n && ep.netns) {
        const netns = fs.existsSync(ep.netns) ? ep.netns : "";
        const ifName = ep.ifName || `eth${ep.position}`;
        // A crash between ADD and storing its result: rebuild what DEL needs (firewall rules are per address) from the IPAM lease.
        const result = ep.result ?? this.resultFromLease(n, containerId);
        await delNetwork(this.confList(n), { containerId, netns, ifName, runtimeConfig: { portMappings: cniPorts(ep.ports) } }, result);
      }
    } finally {
      this.store.setAttached(containerId, ep.networkId, { ifName: "", netns: "", result: null, ports: [], ownerPid: 0 });
    }
  }

  private resultFromLease(n: NetworkRecord, containerId: string): CniResult | undefined {
    const dir = path.join(this.ipamDir(), n.Name);
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

  /**
   * When the container record goes away. Endpoints still attached (a removal
   * that did not pass through tearDown) are kept: the next reconcile sees a
   * container that no longer exists, runs CNI DEL for them and drops them, so
   * their veths, rules and leases do not outlive the container.
   */
  forget(containerId: string): void {
    this.store.removeDetached(containerId);
  }

  private networkById(id: string): NetworkRecord | undefined {
    return this.store.list().find((n) => n.Id === id);
  }

  /**
   * Undoes attachments that a crashed process left half-done: endpoints held
   * for a container that is not running by a process that is gone, endpoints
   * of containers that no longer exist, namespace files nobody owns.
   */
  async reconcile(): Promise<void> {
    const stale = new Set<string>();
    const owned = new Set<string>();
    for (const ep of this.store.endpoints()) {
      const c = this.ctx.store.find(ep.containerId);
      if (!c) {
        stale.add(ep.containerId);
        continue;
      }
      if (!ep.netns) continue;
      const live = c.state.Running || c.state.Status === "restarting" || (ep.ownerPid !== 0 && pidAlive(ep.ownerPid));
      if (live) owned.add(c.id);
      else stale.add(c.id);
    }
    for (const file of listNetns(this.ctx.paths.runRoot)) {
      const id = path.basename(file);
      const c = this.ctx.store.find(id);
      if (!owned.has(id) && !(c && (c.state.Running || c.state.Status === "restarting"))) stale.add(id);
    }
    // Left host-wide by state roots removed without a reset.
    sweepOrphanBridges();
    sweepOrphanDns();
    // DNS servers of networks that are gone or have nobody attached.
    const nets = this.store.list();
    for (const prefix of listServers(this.ctx.paths.runRoot)) {
      if (prefix.startsWith("c-")) {
        const c = this.ctx.store.list().find((x) => x.id.startsWith(prefix.slice(2)));
        if (!c || !(c.state.Running || c.state.Status === "restarting")) stopContainerServer(this.ctx.paths.runRoot, prefix.slice(2));
        continue;
      }
      const n = nets.find((x) => x.Id.startsWith(prefix));
      if (!n || !this.store.endpoints({ networkId: n.Id }).some((e) => e.result)) stopServer(this.ctx.paths.runRoot, prefix);
    }
    for (const id of stale) {
      // Decide again on fresh rows: another process may have claimed the container since the lists were read.
      if (owned.has(id) || this.inUse(id)) continue;
      await this.tearDown({ id }).catch(() => undefined);
      if (!this.ctx.store.find(id)) this.store.removeContainer(id);
    }
  }

  /** Running, or being attached by a live process. */
  private inUse(id: string): boolean {
    const c = this.ctx.store.find(id);
    if (c && (c.state.Running || c.state.Status === "restarting")) return true;
    return this.store.endpoints({ containerId: id }).some((e) => e.ownerPid !== 0 && pidAlive(e.ownerPid));
  }

  /** `system reset`: every endpoint torn down, every network (bridges, conflists, IPAM state) removed. */
  async reset(): Promise<void> {
    await this.reconcile();
    for (const ep of this.store.endpoints()) await this.tearDown({ id: ep.containerId }).catch(() => undefined);
    for (const file of listNetns(this.ctx.paths.runRoot)) removeNetns(file);
    for (const prefix of listServers(this.ctx.paths.runRoot)) {
      if (prefix.startsWith("c-")) stopContainerServer(this.ctx.paths.runRoot, prefix.slice(2));
      else stopServer(this.ctx.paths.runRoot, prefix);
    }
    for (const ep of this.store.endpoints()) this.store.removeContainer(ep.containerId);
    for (const n of this.store.list()) this.destroy(n);
    sweepOrphanRules();
  }

  // ---------- views for inspect and ps ----------

  /** docker's NetworkSettings for a container. */
  settings(c: ContainerRecord): {
    SandboxKey: string;
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
    IPAddress: string;
    Gateway: string;
    GlobalIPv6Address: string;
    GlobalIPv6PrefixLen: number;
    IPv6Gateway: string;
    MacAddress: string;
    Networks: Record<string, EndpointView>;
  } {
    const mode = c.hostConfig.NetworkMode || DEFAULT_NETWORK;
    const eps = this.store.endpoints({ containerId: c.id });
    const networks: Record<string, EndpointView> = {};
    const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
    if (c.state.Running) {
      for (const key of Object.keys(c.config.ExposedPorts ?? {})) ports[key.includes("/") ? key : `${key}/tcp`] = null;
    }
    for (const ep of eps) {
      const n = this.networkById(ep.networkId);
      if (!n) continue;
      const a = ep.result ? addressOf(ep.result) : undefined;
      const a6 = ep.result ? addressOf(ep.result, 6) : undefined;
      const fixed = ep.config.IPAMConfig;
      networks[n.Name] = {
        IPAMConfig: fixed?.IPv4Address || fixed?.IPv6Address ? { ...(fixed.IPv4Address ? { IPv4Address: fixed.IPv4Address } : {}), ...(fixed.IPv6Address ? { IPv6Address: fixed.IPv6Address } : {}) } : null,
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
        DNSNames: n.Name === DEFAULT_NETWORK ? null : [c.name, ...(ep.config.Aliases ?? []), c.id.slice(0, 12)],
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
  isOn(c: ContainerRecord, ref: string): boolean {
    const mode = c.hostConfig.NetworkMode || DEFAULT_NETWORK;
    if (mode === ref) return true;
    const n = this.store.find(ref);
    return !!n && this.store.endpoints({ containerId: c.id, networkId: n.Id }).length > 0;
  }

  /** ps's Ports column. */
  summaryPorts(c: ContainerRecord): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] {
    if (!c.state.Running) return [];
    const out: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = [];
    const published = new Set<string>();
    for (const ep of this.store.endpoints({ containerId: c.id })) {
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

  // ---------- names: /etc/hosts ----------

  /** The container's /etc/hosts: the base, its own address, then its peers on user-defined networks. */
  renderHosts(c: ContainerRecord): string {
    const eps = this.store.endpoints({ containerId: c.id });
    const own = eps.map((e) => (e.result ? addressOf(e.result)?.ip : undefined)).find((x) => x);
    let text = this.baseHosts(c, own);
    // docker names the container's own IPv6 address too.
    const own6 = eps.map((e) => (e.result ? addressOf(e.result, 6)?.ip : undefined)).find((x) => x);
    if (own6) text += `${own6}\t${c.config.Hostname || os.hostname()}\n`;
    for (const ep of eps) {
      const n = this.networkById(ep.networkId);
      if (!n || n.Name === DEFAULT_NETWORK || !ep.result) continue;
      const lines = this.nameLines(n);
      if (lines.length) text += `# capsa network ${n.Name}\n${lines.join("\n")}\n`;
    }
    return text;
  }

  /** The network's names: one line per attached container (address, name, aliases, short id). */
  private nameLines(n: NetworkRecord): string[] {
    const lines: string[] = [];
    for (const ep of this.store.endpoints({ networkId: n.Id })) {
      const ip = ep.result ? addressOf(ep.result)?.ip : undefined;
      const c = ip ? this.ctx.store.find(ep.containerId) : undefined;
      if (!ip || !c) continue;
      const names = [...new Set([c.name, ...(ep.config.Aliases ?? []), c.id.slice(0, 12)])].join(" ");
      lines.push(`${ip}\t${names}`);
      const ip6 = addressOf(ep.result!, 6)?.ip;
      if (ip6) lines.push(`${ip6}\t${names}`);
    }
    return lines;
  }

  /** Brings the network's DNS server in line with its attached containers; true when one answers. Never fails a start: /etc/hosts still has the names. */
  private syncDns(n: NetworkRecord): boolean {
    if (n.Name === DEFAULT_NETWORK || !dnsAvailable()) return false;
    const lines = this.nameLines(n);
    try {
      if (!lines.length) {
        stopServer(this.ctx.paths.runRoot, n.Id);
        return false;
      }
      syncServer(this.ctx.paths.runRoot, n, lines);
      return true;
    } catch {
      return false;
    }
  }

  /** Rewrites (in place: the bind mount follows the inode) the hosts file of every running container on these networks, and their DNS names. */
  refreshHosts(networkIds: string[], except?: string): void {
    const ids = new Set<string>();
    for (const nid of new Set(networkIds)) {
      const n = this.networkById(nid);
      if (n) this.syncDns(n);
      for (const ep of this.store.endpoints({ networkId: nid })) if (ep.result && ep.containerId !== except) ids.add(ep.containerId);
    }
    for (const id of ids) {
      const c = this.ctx.store.find(id);
      if (c?.state.Running) this.rewriteHosts(c);
      // Its own resolver (on two networks or more) reads the networks' hosts files just rewritten.
      try {
        reloadContainerServer(this.ctx.paths.runRoot, id);
      } catch {
        /* gone meanwhile */
      }
    }
  }

  private rewriteHosts(c: ContainerRecord): void {
    const file = path.join(this.ctx.paths.containers, c.id, "hosts");
    if (!fs.existsSync(file)) return;
    try {
      fs.writeFileSync(file, this.renderHosts(c));
    } catch {
      /* the container is going away */
    }
  }
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

/** host-local's range sets: one per family (the length of the list is the number of addresses a container gets). */
function ipamRanges(n: NetworkRecord, whole: { v4?: boolean; v6?: boolean } = {}): { subnet: string; gateway: string; rangeStart?: string; rangeEnd?: string }[][] {
  const v4: { subnet: string; gateway: string; rangeStart?: string; rangeEnd?: string } = { subnet: n.Subnet, gateway: n.Gateway };
  const b4 = n.IPRange && !whole.v4 ? rangeBounds4(parseCidr(n.Subnet)!, parseCidr(n.IPRange)!, parseIp(n.Gateway)!) : undefined;
  if (b4) Object.assign(v4, { rangeStart: formatIp(b4[0]), rangeEnd: formatIp(b4[1]) });
  if (!n.Subnet6 || !n.Gateway6) return [[v4]];
  const v6: typeof v4 = { subnet: n.Subnet6, gateway: n.Gateway6 };
  const b6 = n.IPRange6 && !whole.v6 ? rangeBounds6(parseCidr6(n.Subnet6)!, parseCidr6(n.IPRange6)!, parseIp6(n.Gateway6)!) : undefined;
  if (b6) Object.assign(v6, { rangeStart: formatIp6(b6[0]), rangeEnd: formatIp6(b6[1]) });
  return [[v4], [v6]];
}

function cniPorts(ports: PublishedPort[]): { hostPort: number; containerPort: number; protocol: string; hostIP?: string }[] {
  return ports.map((p) => ({ hostPort: p.HostPort, containerPort: p.ContainerPort, protocol: p.Protocol, ...(p.HostIp ? { hostIP: p.HostIp } : {}) }));
}

function addressOf(r: CniResult, family: 4 | 6 = 4): { ip: string; prefix: number; cidr: string; gateway: string } | undefined {
  const a = (r.ips ?? []).find((x) => (family === 4 ? net4(x.address) : x.address.includes(":")));
  if (!a) return undefined;
  const [ip = "", prefix = "32"] = a.address.split("/");
  return { ip, prefix: Number(prefix), cidr: a.address, gateway: a.gateway ?? "" };
}

const net4 = (cidr: string): boolean => parseIp(cidr.split("/")[0] ?? "") !== undefined;

function macOf(r: CniResult, ifName: string): string {
  return r.interfaces?.find((i) => i.name === ifName && i.sandbox)?.mac ?? r.interfaces?.find((i) => i.sandbox)?.mac ?? "";
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

