// Networks: the SDK verbs (create, ls, inspect, rm, prune, connect,
// disconnect) and the hooks the container lifecycle calls: register at create,
// setUp before the bundle is written, started once it runs, tearDown when the
// container's resources are released, forget when its record goes.
// Each network is a CNI conflist (bridge + host-local, portmap; NAT and
// forwarding are its own rules, isolation.ts) under <root>/networks; each
// container gets a namespace file under <runRoot>/netns; names resolve
// through the /etc/hosts capsa keeps for every running container on a
// user-defined network. The work is in the modules this one calls:
// ipam.ts (addresses), conflist.ts, attach.ts (CNI ADD/DEL), names.ts (hosts
// files, DNS), views.ts (docker's shapes), reconcile.ts (the orphan sweep).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { NetworkApi } from "../types/engine-api.ts";
import type { NetworkCreateOptions, NetworkInspect } from "../types/network.ts";
import type { Paths } from "../types/paths.ts";
import type { ContainerRecord, EndpointSettings, HostConfig } from "../types/records.ts";
import type { DB } from "../store/db.ts";
import { conflict, invalid, notFound } from "../util/errors.ts";
import { attach, attachAll, detach, joinContainer, type NetworkSetup, tearDown } from "./attach.ts";
import { confListPath, writeConfList } from "./conflist.ts";
import { cniName, type ContainerLookup, DEFAULT_NETWORK, type HostsRenderer, ipamDir, isSpecialMode, type NetworkContext, networksDir } from "./context.ts";
import { listServers, stopContainerServer, stopServer } from "./dns.ts";
import { newNetworkRecord, reserveAux, validateEndpoint } from "./ipam.ts";
import { sweepOrphanRules, unisolate } from "./isolation.ts";
import { refreshHosts, retargetResolver, rewriteHosts } from "./names.ts";
import { listNetns, netnsPath, removeNetns } from "./netns.ts";
import { reconcile } from "./reconcile.ts";
import { type NetworkRecord, NetworkStore } from "./store.ts";
import { containerSettings, filterNetworks, isOnNetwork, modeView, type NetworkSettingsView, networkView, type PortSummary, summaryPorts } from "./views.ts";
import { shortId } from "../util/ids.ts";

export { DEFAULT_NETWORK, type ContainerLookup, type HostsRenderer } from "./context.ts";
export { AUTO_POOL } from "./ipam.ts";
export type { NetworkSetup } from "./attach.ts";

/** What the network service is given: where state lives, the database, the containers to look up, and the bundle's hosts base. */
export interface NetworkDeps {
  paths: Pick<Paths, "root" | "runRoot" | "containers">;
  db: DB;
  containers: ContainerLookup;
  /** The /etc/hosts base (localhost, the hostname, --add-host); without it, localhost only. */
  baseHosts?: HostsRenderer;
}

export class Networks implements NetworkApi {
  readonly store: NetworkStore;
  private readonly ctx: NetworkContext;

  constructor(deps: NetworkDeps) {
    this.store = new NetworkStore(deps.db);
    this.ctx = { paths: deps.paths, store: this.store, containers: deps.containers, baseHosts: deps.baseHosts ?? (() => "127.0.0.1\tlocalhost\n") };
  }

  // ---------- the SDK verbs ----------

  create(opts: NetworkCreateOptions): { Id: string; Warning: string } {
    // dockerd's only rule for a name: not blank (libnetwork's IsValidName).
    if (!opts.Name?.trim()) throw invalid(`invalid name: ${opts.Name ?? ""}`);
    if (["none", "host", "default", DEFAULT_NETWORK].includes(opts.Name)) throw conflict(`${opts.Name} is a pre-defined network and cannot be created`);
    const same = this.store.list().find((n) => n.Name === opts.Name);
    const n = this.createRecord(opts);
    return { Id: n.Id, Warning: same ? `Network with name ${same.Name} (id : ${same.Id}) already exists` : "" };
  }

  /** The record, its conflist and its aux reservations; all or nothing. */
  private createRecord(opts: NetworkCreateOptions): NetworkRecord {
    const n = newNetworkRecord(this.ctx.paths.root, opts, this.store.list());
    fs.mkdirSync(networksDir(this.ctx), { recursive: true, mode: 0o755 });
    writeConfList(this.ctx, n);
    try {
      reserveAux(ipamDir(this.ctx), n);
      this.store.insert(n, { uniqueName: opts.CheckDuplicate !== false });
    } catch (e) {
      fs.rmSync(confListPath(this.ctx, n), { force: true });
      fs.rmSync(path.join(ipamDir(this.ctx), cniName(n)), { recursive: true, force: true });
      throw e;
    }
    return n;
  }

  /** The default bridge network, created on first use. */
  private ensureDefault(): NetworkRecord {
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
    const all = [...this.store.list().map((n) => networkView(this.ctx, n)), modeView(this.ctx, "host"), modeView(this.ctx, "none")];
    return filterNetworks(all, opts.filters ?? {});
  }

  async inspect(ref: string): Promise<NetworkInspect> {
    await this.reconcile();
    if (ref === "host" || ref === "none") return modeView(this.ctx, ref);
    if (ref === DEFAULT_NETWORK) this.ensureDefault();
    return networkView(this.ctx, this.store.get(ref));
  }

  async remove(ref: string): Promise<void> {
    await this.reconcile();
    if (["none", "host"].includes(ref)) throw conflict(`${ref} is a pre-defined network and cannot be removed`);
    const n = this.store.get(ref);
    if (n.Name === DEFAULT_NETWORK) throw conflict(`${n.Name} is a pre-defined network and cannot be removed`);
    const users = this.store.endpoints({ networkId: n.Id });
    if (users.length) {
      const names = users.map((u) => this.ctx.containers.find(u.containerId)?.name ?? shortId(u.containerId));
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
    fs.rmSync(confListPath(this.ctx, n), { force: true });
    fs.rmSync(path.join(ipamDir(this.ctx), cniName(n)), { recursive: true, force: true });
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

  async connect(ref: string, container: string, opts: { aliases?: string[]; ipv4Address?: string; ipv6Address?: string; linkLocalIPs?: string[] } = {}): Promise<void> {
    const n = ref === DEFAULT_NETWORK ? this.ensureDefault() : this.store.get(ref);
    const c = this.ctx.containers.get(container);
    const mode = c.hostConfig.NetworkMode ?? DEFAULT_NETWORK;
    if (isSpecialMode(mode)) throw conflict(`container ${c.name} uses network mode "${mode}" and cannot be connected to ${n.Name}`);
    const cfg: EndpointSettings = {};
    if (opts.aliases?.length) cfg.Aliases = opts.aliases;
    if (opts.ipv4Address || opts.ipv6Address || opts.linkLocalIPs?.length) {
      cfg.IPAMConfig = {
        ...(opts.ipv4Address ? { IPv4Address: opts.ipv4Address } : {}),
        ...(opts.ipv6Address ? { IPv6Address: opts.ipv6Address } : {}),
        ...(opts.linkLocalIPs?.length ? { LinkLocalIPs: opts.linkLocalIPs } : {}),
      };
    }
    validateEndpoint(n, cfg);
    if (!this.store.addEndpoint(c.id, n.Id, cfg)) throw conflict(`endpoint with name ${c.name} already exists in network ${n.Name}`);
    if (!c.state.Running) return;
    const ep = this.store.endpoints({ containerId: c.id, networkId: n.Id })[0]!;
    const file = netnsPath(this.ctx.paths.runRoot, c.id);
    if (!fs.existsSync(file)) return;
    const used = new Set(this.store.endpoints({ containerId: c.id }).map((e) => e.ifName));
    let i = 0;
    while (used.has(`eth${i}`)) i++;
    try {
      await attach(this.ctx, c, ep, file, `eth${i}`);
      this.store.clearOwner(c.id);
    } catch (e) {
      await detach(this.ctx, c.id, ep).catch(() => undefined);
      this.store.removeEndpoint(c.id, n.Id);
      throw e;
    }
    refreshHosts(this.ctx, [n.Id]);
    retargetResolver(this.ctx, c);
  }

  async disconnect(ref: string, container: string, _opts: { force?: boolean } = {}): Promise<void> {
    const n = this.store.get(ref);
    const c = this.ctx.containers.get(container);
    const ep = this.store.endpoints({ containerId: c.id, networkId: n.Id })[0];
    if (!ep) throw conflict(`container ${c.id} is not connected to network ${n.Name}`);
    await detach(this.ctx, c.id, ep);
    this.store.removeEndpoint(c.id, n.Id);
    refreshHosts(this.ctx, [n.Id]);
    // The container's own hosts file loses that network's peers, its resolver their names.
    if (c.state.Running) {
      rewriteHosts(this.ctx, c);
      retargetResolver(this.ctx, c);
    }
  }

  // ---------- hooks for the container lifecycle ----------

  /** At create: checks NetworkMode and the endpoints asked for, and records them. */
  register(containerId: string, h: HostConfig, endpoints: Record<string, EndpointSettings> | undefined): void {
    const mode = h.NetworkMode || DEFAULT_NETWORK;
    const eps = { ...(endpoints ?? {}) };
    if (isSpecialMode(mode)) {
      if (mode.startsWith("container:") && !this.ctx.containers.find(mode.slice("container:".length))) throw notFound(`No such container: ${mode.slice("container:".length)}`);
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
    for (const [n, cfg] of nets) validateEndpoint(n, cfg);
    for (const [n, cfg] of nets) this.store.addEndpoint(containerId, n.Id, cfg);
  }

  /** Before the bundle is written: the namespace, CNI ADD for each network, published ports. */
  async setUp(c: ContainerRecord): Promise<NetworkSetup> {
    const mode = c.hostConfig.NetworkMode || DEFAULT_NETWORK;
    if (mode === "host") return { spec: { mode: "host" } };
    if (mode === "none") return { spec: { mode: "none" } };
    if (mode.startsWith("container:")) return joinContainer(this.ctx, mode.slice("container:".length));
    await this.reconcile();
    let eps = this.store.endpoints({ containerId: c.id });
    if (!eps.length) {
      this.register(c.id, c.hostConfig, undefined);
      eps = this.store.endpoints({ containerId: c.id });
    }
    return attachAll(this.ctx, c, eps);
  }

  /** After the container runs: its peers learn its name. */
  started(c: ContainerRecord): void {
    const eps = this.store.endpoints({ containerId: c.id });
    if (!eps.length) return;
    this.store.clearOwner(c.id);
    refreshHosts(this.ctx, eps.map((e) => e.networkId), c.id);
  }

  /** CNI DEL for every network (reverse order), then the namespace. Idempotent. */
  tearDown(c: { id: string }): Promise<void> {
    return tearDown(this.ctx, c);
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

  /** Undoes attachments that a crashed process left half-done (reconcile.ts). */
  reconcile(): Promise<void> {
    return reconcile(this.ctx);
  }

  /** `system reset`: every endpoint torn down, every network (bridges, conflists, IPAM state) removed. */
  async reset(): Promise<void> {
    await this.reconcile();
    for (const ep of this.store.endpoints()) await tearDown(this.ctx, { id: ep.containerId }).catch(() => undefined);
    for (const file of listNetns(this.ctx.paths.runRoot)) removeNetns(file);
    for (const prefix of listServers(this.ctx.paths.runRoot)) {
      if (prefix.startsWith("c-")) stopContainerServer(this.ctx.paths.runRoot, prefix.slice(2));
      else stopServer(this.ctx.paths.runRoot, prefix);
    }
    for (const ep of this.store.endpoints()) this.store.removeContainer(ep.containerId);
    for (const n of this.store.list()) this.destroy(n);
    sweepOrphanRules();
  }

  // ---------- views for inspect and ps (views.ts) ----------

  /** docker's NetworkSettings for a container. */
  settings(c: ContainerRecord): NetworkSettingsView {
    return containerSettings(this.ctx, c);
  }

  /** ps's network filter: by network name or id (prefix), or the special modes. */
  isOn(c: ContainerRecord, ref: string): boolean {
    return isOnNetwork(this.ctx, c, ref);
  }

  /** ps's Ports column. */
  summaryPorts(c: ContainerRecord): PortSummary[] {
    return summaryPorts(this.ctx, c);
  }
}
