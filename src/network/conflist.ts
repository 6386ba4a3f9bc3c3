// A network's definition for CNI: the conflist under <root>/networks (bridge
// with host-local addresses, then portmap), written at create. It is readable,
// and a user may add plugins to it: what is on disk is what ADD and DEL run.
import fs from "node:fs";
import path from "node:path";
import { defaultRouteMtu } from "./cidr.ts";
import { CNI_VERSION, type ConfList } from "./cni.ts";
import { cniName, ipamDir, type NetworkContext, networksDir } from "./context.ts";
import { bridgeOptions } from "./driver-options.ts";
import { ipamRanges } from "./ipam.ts";
import type { NetworkRecord } from "./store.ts";

/** Brings up a container's loopback; it needs no DEL (it goes with the namespace). */
export const LOOPBACK: ConfList = { cniVersion: CNI_VERSION, name: "capsa-loopback", plugins: [{ type: "loopback" }] };

export function confListPath(ctx: NetworkContext, n: NetworkRecord): string {
  return path.join(networksDir(ctx), `${cniName(n)}.conflist`);
}

/** The conflist on disk, or the one capsa writes when the file is gone. */
export function confList(ctx: NetworkContext, n: NetworkRecord): ConfList {
  try {
    return JSON.parse(fs.readFileSync(confListPath(ctx, n), "utf8")) as ConfList;
  } catch {
    return buildConfList(ctx, n);
  }
}

/**
 * The conflist for one ADD. Static addresses (--ip, --ip6) go to host-local
 * as the `args.cni.ips` convention (its CNI_ARGS IP= takes one address only).
 * A static address may lie outside --ip-range (as in docker), while
 * host-local only grants addresses inside its ranges: such an ADD gets the
 * whole subnets (host-local frees leases by container, so DEL needs no such care).
 */
export function confListFor(ctx: NetworkContext, n: NetworkRecord, ips: string[]): ConfList {
  const list = confList(ctx, n);
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

function buildConfList(ctx: NetworkContext, n: NetworkRecord): ConfList {
  const asked = bridgeOptions(n.Options).mtu;
  const route = defaultRouteMtu();
  const mtu = asked ?? (route !== undefined && route < 1500 ? route : undefined);
  const plugins: ConfList["plugins"] = [
    {
      type: "bridge",
      bridge: n.Bridge,
      isGateway: true,
      // NAT and forwarding are the network's own rules (isolation.ts), not per container.
      ipMasq: false,
      hairpinMode: true,
      ...(mtu !== undefined ? { mtu } : {}),
      ipam: {
        type: "host-local",
        ranges: ipamRanges(n),
        routes: n.Internal ? [] : [{ dst: "0.0.0.0/0" }, ...(n.Subnet6 ? [{ dst: "::/0" }] : [])],
        dataDir: ipamDir(ctx),
      },
    },
  ];
  if (!n.Internal) plugins.push({ type: "portmap", capabilities: { portMappings: true } });
  return { cniVersion: CNI_VERSION, name: cniName(n), plugins };
}

export function writeConfList(ctx: NetworkContext, n: NetworkRecord): void {
  const file = confListPath(ctx, n);
  fs.writeFileSync(file + ".tmp", JSON.stringify(buildConfList(ctx, n), null, 2) + "\n", { mode: 0o644 });
  fs.renameSync(file + ".tmp", file);
}
