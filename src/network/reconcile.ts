// The orphan sweep: undoes attachments a crashed process left half-done
// (endpoints held for a container that is not running by a process that is
// gone, endpoints of containers that no longer exist, namespace files nobody
// owns, DNS servers nobody needs), and what vanished state roots left
// host-wide (orphans.ts). Every start runs it, so it reads little.
import path from "node:path";
import { pidAlive } from "../util/process.ts";
import { tearDown } from "./attach.ts";
import { isActive, type NetworkContext } from "./context.ts";
import { listServers, stopContainerServer, stopServer } from "./dns.ts";
import { listNetns } from "./netns.ts";
import { sweepOrphanBridges, sweepOrphanDns } from "./orphans.ts";

export async function reconcile(ctx: NetworkContext): Promise<void> {
  const stale = new Set<string>();
  const owned = new Set<string>();
  for (const ep of ctx.store.endpoints()) {
    const c = ctx.containers.find(ep.containerId);
    if (!c) {
      stale.add(ep.containerId);
      continue;
    }
    if (!ep.netns) continue;
    const live = isActive(c) || (ep.ownerPid !== 0 && pidAlive(ep.ownerPid));
    if (live) owned.add(c.id);
    else stale.add(c.id);
  }
  for (const file of listNetns(ctx.paths.runRoot)) {
    const id = path.basename(file);
    const c = ctx.containers.find(id);
    if (!owned.has(id) && !(c && isActive(c))) stale.add(id);
  }
  // Left host-wide by state roots removed without a reset.
  sweepOrphanBridges();
  sweepOrphanDns();
  // DNS servers of networks that are gone or have nobody attached.
  const nets = ctx.store.list();
  for (const prefix of listServers(ctx.paths.runRoot)) {
    if (prefix.startsWith("c-")) {
      const c = ctx.containers.list().find((x) => x.id.startsWith(prefix.slice(2)));
      if (!c || !isActive(c)) stopContainerServer(ctx.paths.runRoot, prefix.slice(2));
      continue;
    }
    const n = nets.find((x) => x.Id.startsWith(prefix));
    if (!n || !ctx.store.endpoints({ networkId: n.Id }).some((e) => e.result)) stopServer(ctx.paths.runRoot, prefix);
  }
  for (const id of stale) {
    // Decide again on fresh rows: another process may have claimed the container since the lists were read.
    if (owned.has(id) || inUse(ctx, id)) continue;
    await tearDown(ctx, { id }).catch(() => undefined);
    if (!ctx.containers.find(id)) ctx.store.removeContainer(id);
  }
}

/** Running, or being attached by a live process. */
function inUse(ctx: NetworkContext, id: string): boolean {
  const c = ctx.containers.find(id);
  if (c && isActive(c)) return true;
  return ctx.store.endpoints({ containerId: id }).some((e) => e.ownerPid !== 0 && pidAlive(e.ownerPid));
}
