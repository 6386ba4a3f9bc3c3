// Putting a container on its networks and taking it off again: its namespace
// file, CNI ADD for each endpoint (with its published ports and static
// addresses), CNI DEL in reverse order, and joining another container's
// namespace (container:<x>). Endpoint rows are claimed before anything is made
// on the host, so a crash part-way leaves rows the orphan sweep undoes.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ContainerRecord } from "../types/records.ts";
import type { SpecNetwork } from "../runtime/spec.ts";
import { CapsaError, conflict, errorMessage, notFound, systemError } from "../util/errors.ts";
import { addNetwork, type CniResult, delNetwork } from "./cni.ts";
import { confList, confListFor, LOOPBACK } from "./conflist.ts";
import { DEFAULT_NETWORK, ipamDir, type NetworkContext, networkById } from "./context.ts";
import { CONTAINER_RESOLVER, stopContainerServer } from "./dns.ts";
import { resultFromLease } from "./ipam.ts";
import { isolate } from "./isolation.ts";
import { refreshHosts, renderHosts, syncContainerDns, syncDns } from "./names.ts";
import { createNetns, netnsPath, removeNetns } from "./netns.ts";
import { labelBridge } from "./orphans.ts";
import { allocatePorts, wantedPorts } from "./ports.ts";
import type { EndpointRecord, PublishedPort } from "./store.ts";

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

/** A new namespace for the container, its loopback, then ADD for each endpoint; on a failure all of it is undone. */
export async function attachAll(ctx: NetworkContext, c: ContainerRecord, eps: EndpointRecord[]): Promise<NetworkSetup> {
  const file = netnsPath(ctx.paths.runRoot, c.id);
  // Claim the endpoints first: a crash from here on leaves rows that reconcile() undoes.
  for (const ep of eps) ctx.store.setAttached(c.id, ep.networkId, { ifName: "", netns: file, result: null, ports: [], ownerPid: process.pid });
  try {
    createNetns(ctx.paths.runRoot, c.id);
    await addNetwork(LOOPBACK, { containerId: c.id, netns: file, ifName: "lo" });
    for (const [i, ep] of eps.entries()) await attach(ctx, c, ep, file, `eth${i}`);
  } catch (e) {
    await tearDown(ctx, c).catch(() => undefined);
    throw e instanceof CapsaError ? e : new CapsaError("system", `network set-up for ${c.name}: ${errorMessage(e)}`);
  }
  // The first user-defined network's resolver answers for the container (names on other networks are in /etc/hosts).
  let dnsServer: string | undefined;
  for (const ep of eps) {
    const n = networkById(ctx, ep.networkId);
    if (n && syncDns(ctx, n) && !dnsServer) dnsServer = n.Gateway;
  }
  // On two or more user-defined networks: a resolver of its own that knows the names of all of them.
  if (dnsServer && !(c.hostConfig.Dns ?? []).length && syncContainerDns(ctx, c)) dnsServer = CONTAINER_RESOLVER;
  return { spec: { mode: "path", path: file }, hosts: renderHosts(ctx, c), ...(dnsServer ? { dnsServer } : {}) };
}

/** container:<ref>: the namespace of ref (followed through its own container: mode), with copies of its hosts and resolv.conf. */
export function joinContainer(ctx: NetworkContext, ref: string): NetworkSetup {
  const x = ctx.containers.find(ref);
  if (!x) throw notFound(`No such container: ${ref}`);
  if (!x.state.Running) throw conflict(`cannot join network of a non running container: ${x.name}`);
  const xmode = x.hostConfig.NetworkMode || DEFAULT_NETWORK;
  if (xmode === "host") return { spec: { mode: "host" } };
  if (xmode.startsWith("container:")) return joinContainer(ctx, xmode.slice("container:".length));
  const file = netnsPath(ctx.paths.runRoot, x.id);
  const p = fs.existsSync(file) ? file : `/proc/${x.state.Pid}/ns/net`;
  const read = (f: string): string | undefined => {
    try {
      return fs.readFileSync(path.join(ctx.paths.containers, x.id, f), "utf8");
    } catch {
      return undefined; // x's bundle is gone: the defaults will do
    }
  };
  const hosts = read("hosts");
  const resolv = read("resolv.conf");
  return { spec: { mode: "path", path: p }, ...(hosts !== undefined ? { hosts } : {}), ...(resolv !== undefined ? { resolv } : {}) };
}

/** ADD of one endpoint as `ifName` in the namespace `file`; the primary (first) network also publishes the container's ports. */
export async function attach(ctx: NetworkContext, c: ContainerRecord, ep: EndpointRecord, file: string, ifName: string): Promise<void> {
  const n = networkById(ctx, ep.networkId);
  if (!n) throw notFound(`network ${ep.networkId} not found`);
  const all = ctx.store.endpoints({ containerId: c.id });
  const primary = all[0]?.networkId === n.Id;
  let ports: PublishedPort[] = [];
  if (primary && !n.Internal) {
    const taken = ctx.store.endpoints().filter((e) => e.containerId !== c.id).flatMap((e) => e.ports);
    ports = await allocatePorts(wantedPorts(c.config, c.hostConfig), taken);
  }
  ctx.store.setAttached(c.id, n.Id, { ifName, netns: file, result: null, ports, ownerPid: process.pid });
  const args: Record<string, string> = {};
  const fixed = [ep.config.IPAMConfig?.IPv4Address, n.Subnet6 ? ep.config.IPAMConfig?.IPv6Address : undefined].filter((x): x is string => !!x);
  const mac = ep.config.MacAddress || (primary ? c.config.MacAddress : undefined);
  if (mac) args.MAC = mac;
  const result = await addNetwork(confListFor(ctx, n, fixed), { containerId: c.id, netns: file, ifName, args, runtimeConfig: { portMappings: cniPorts(ports) } });
  ctx.store.setAttached(c.id, n.Id, { ifName, netns: file, result, ports, ownerPid: process.pid });
  addLinkLocal(file, ifName, ep.config.IPAMConfig?.LinkLocalIPs ?? []);
  // A bridge the plugin just made: label it with its root, isolate it from the other networks.
  if (labelBridge(n.Bridge, ctx.paths.root)) isolate(n.Bridge, n.Internal, [n.Subnet, ...(n.Subnet6 ? [n.Subnet6] : [])]);
}

/** CNI DEL for every network (reverse order), then the namespace. Idempotent. */
export async function tearDown(ctx: NetworkContext, c: { id: string }): Promise<void> {
  const eps = ctx.store.endpoints({ containerId: c.id }).filter((e) => e.netns);
  stopContainerServer(ctx.paths.runRoot, c.id);
  for (const ep of [...eps].reverse()) await detach(ctx, c.id, ep).catch(() => undefined);
  const file = netnsPath(ctx.paths.runRoot, c.id);
  // Loopback needs no DEL: it goes with the namespace.
  if (fs.existsSync(file)) removeNetns(file);
  if (eps.length) refreshHosts(ctx, eps.map((e) => e.networkId), c.id);
}

/** DEL of one endpoint; its row is marked detached even when DEL fails. */
export async function detach(ctx: NetworkContext, containerId: string, ep: EndpointRecord): Promise<void> {
  const n = networkById(ctx, ep.networkId);
  try {
    if (n && ep.netns) {
      const netns = fs.existsSync(ep.netns) ? ep.netns : "";
      const ifName = ep.ifName || `eth${ep.position}`;
      // A crash between ADD and storing its result: rebuild what DEL needs (firewall rules are per address) from the IPAM lease.
      const result: CniResult | undefined = ep.result ?? resultFromLease(ipamDir(ctx), n, containerId);
      await delNetwork(confList(ctx, n), { containerId, netns, ifName, runtimeConfig: { portMappings: cniPorts(ep.ports) } }, result);
    }
  } finally {
    ctx.store.setAttached(containerId, ep.networkId, { ifName: "", netns: "", result: null, ports: [], ownerPid: 0 });
  }
}

function cniPorts(ports: PublishedPort[]): { hostPort: number; containerPort: number; protocol: string; hostIP?: string }[] {
  return ports.map((p) => ({ hostPort: p.HostPort, containerPort: p.ContainerPort, protocol: p.Protocol, ...(p.HostIp ? { hostIP: p.HostIp } : {}) }));
}

/** EndpointSettings.IPAMConfig.LinkLocalIPs: extra addresses on the interface, a /16 (IPv4) or /64 (IPv6) each, as dockerd gives them. */
function addLinkLocal(netns: string, ifName: string, addrs: string[]): void {
  for (const a of addrs) {
    const cidr = `${a}/${a.includes(":") ? 64 : 16}`;
    try {
      execFileSync("nsenter", [`--net=${netns}`, "ip", "addr", "add", cidr, "dev", ifName], { stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      throw systemError(`add link-local address ${cidr} to ${ifName}`, (e as { stderr?: Buffer }).stderr?.toString().trim() || e);
    }
  }
}
