// How containers on a user-defined network find each other by name: the
// /etc/hosts capsa keeps for every running container (rewritten in place when
// a peer comes or goes), each network's DNS server, a container's own
// resolver when it is on two or more networks, and the nameserver line of its
// resolv.conf that points at them.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ContainerRecord } from "../types/records.ts";
import { addressOf } from "./cni.ts";
import { DEFAULT_NETWORK, type NetworkContext, networkById } from "./context.ts";
import { CONTAINER_RESOLVER, dnsAvailable, dnsHostsPath, reloadContainerServer, startContainerServer, stopContainerServer, stopServer, syncServer } from "./dns.ts";
import { netnsPath } from "./netns.ts";
import type { NetworkRecord } from "./store.ts";
import { shortId } from "../util/ids.ts";

/** The container's /etc/hosts: the base, its own address, then its peers on user-defined networks. */
export function renderHosts(ctx: NetworkContext, c: ContainerRecord): string {
  const eps = ctx.store.endpoints({ containerId: c.id });
  const own = eps.map((e) => (e.result ? addressOf(e.result)?.ip : undefined)).find((x) => x);
  let text = ctx.baseHosts(c, own);
  // docker names the container's own IPv6 address too.
  const own6 = eps.map((e) => (e.result ? addressOf(e.result, 6)?.ip : undefined)).find((x) => x);
  if (own6) text += `${own6}\t${c.config.Hostname || os.hostname()}\n`;
  for (const ep of eps) {
    const n = networkById(ctx, ep.networkId);
    if (!n || n.Name === DEFAULT_NETWORK || !ep.result) continue;
    const lines = nameLines(ctx, n);
    if (lines.length) text += `# capsa network ${n.Name.replace(/[\x00-\x1f\x7f]/g, "?")}\n${lines.join("\n")}\n`;
  }
  return text;
}

/** The network's names: one line per attached container (address, name, aliases, short id). */
function nameLines(ctx: NetworkContext, n: NetworkRecord): string[] {
  const lines: string[] = [];
  for (const ep of ctx.store.endpoints({ networkId: n.Id })) {
    const ip = ep.result ? addressOf(ep.result)?.ip : undefined;
    const c = ip ? ctx.containers.find(ep.containerId) : undefined;
    if (!ip || !c) continue;
    const names = [...new Set([c.name, ...(ep.config.Aliases ?? []), shortId(c.id)])].join(" ");
    lines.push(`${ip}\t${names}`);
    const ip6 = addressOf(ep.result!, 6)?.ip;
    if (ip6) lines.push(`${ip6}\t${names}`);
  }
  return lines;
}

/** Brings the network's DNS server in line with its attached containers; true when one answers. Never fails a start: /etc/hosts still has the names. */
export function syncDns(ctx: NetworkContext, n: NetworkRecord): boolean {
  if (n.Name === DEFAULT_NETWORK || !dnsAvailable()) return false;
  const lines = nameLines(ctx, n);
  try {
    if (!lines.length) {
      stopServer(ctx.paths.runRoot, n.Id);
      return false;
    }
    syncServer(ctx.paths.runRoot, n, lines);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts, restarts or stops the container's own resolver (see dns.ts) for its
 * current user-defined networks; true when it runs. Needs two or more such
 * networks with DNS servers; never fails the caller (/etc/hosts has the names).
 */
export function syncContainerDns(ctx: NetworkContext, c: ContainerRecord): boolean {
  const nets = ctx.store
    .endpoints({ containerId: c.id })
    .filter((e) => e.result)
    .map((e) => networkById(ctx, e.networkId))
    .filter((n): n is NetworkRecord => !!n && n.Name !== DEFAULT_NETWORK);
  const file = netnsPath(ctx.paths.runRoot, c.id);
  try {
    if (nets.length < 2 || !dnsAvailable() || !fs.existsSync(file)) {
      stopContainerServer(ctx.paths.runRoot, c.id);
      return false;
    }
    const hosts = nets.map((n) => dnsHostsPath(ctx.paths.runRoot, n.Id));
    startContainerServer(ctx.paths.runRoot, c.id, file, hosts, nets.some((n) => !n.Internal));
    return true;
  } catch {
    stopContainerServer(ctx.paths.runRoot, c.id);
    return false;
  }
}

/** After connect/disconnect of a running container: its resolver follows its networks, and resolv.conf (rewritten in place) names it. */
export function retargetResolver(ctx: NetworkContext, c: ContainerRecord): void {
  if ((c.hostConfig.Dns ?? []).length) return;
  const file = path.join(ctx.paths.containers, c.id, "resolv.conf");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return;
  }
  const ours = new Set([CONTAINER_RESOLVER, ...ctx.store.list().map((n) => n.Gateway)]);
  const lines = text.split("\n");
  const current = lines.find((l) => /^\s*nameserver\s/.test(l))?.trim().split(/\s+/)[1];
  if (!current || !ours.has(current)) return; // not capsa's resolver: leave it
  let target: string | undefined;
  if (syncContainerDns(ctx, c)) target = CONTAINER_RESOLVER;
  else {
    for (const ep of ctx.store.endpoints({ containerId: c.id })) {
      const n = networkById(ctx, ep.networkId);
      if (ep.result && n && n.Name !== DEFAULT_NETWORK && syncDns(ctx, n)) {
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

/** Rewrites (in place: the bind mount follows the inode) the hosts file of every running container on these networks, and their DNS names. */
export function refreshHosts(ctx: NetworkContext, networkIds: string[], except?: string): void {
  const ids = new Set<string>();
  for (const nid of new Set(networkIds)) {
    const n = networkById(ctx, nid);
    if (n) syncDns(ctx, n);
    for (const ep of ctx.store.endpoints({ networkId: nid })) if (ep.result && ep.containerId !== except) ids.add(ep.containerId);
  }
  for (const id of ids) {
    const c = ctx.containers.find(id);
    if (c?.state.Running) rewriteHosts(ctx, c);
    // Its own resolver (on two networks or more) reads the networks' hosts files just rewritten.
    try {
      reloadContainerServer(ctx.paths.runRoot, id);
    } catch {
      /* gone meanwhile */
    }
  }
}

export function rewriteHosts(ctx: NetworkContext, c: ContainerRecord): void {
  const file = path.join(ctx.paths.containers, c.id, "hosts");
  if (!fs.existsSync(file)) return;
  try {
    fs.writeFileSync(file, renderHosts(ctx, c));
  } catch {
    /* the container is going away */
  }
}
