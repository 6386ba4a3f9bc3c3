// network create, ls, inspect, rm, prune, connect, disconnect.
import { parseIp, parseIp6 } from "../engine/index.ts";
import type { IpamConfig, NetworkCreateOptions, NetworkInspect } from "../types/network.ts";
import { CapsaError } from "../util/errors.ts";
import { shortId } from "../util/ids.ts";
import { collect, newCommand, repeatable, UsageError } from "./command.ts";
import { renderRows } from "./format.ts";
import { confirm, eachTarget, parseFilters, type VerbTable } from "./verb.ts";

const NETWORKS_DEFAULT = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
const NETWORKS_HEADERS: Record<string, string> = { ID: "NETWORK ID", Name: "NAME", Driver: "DRIVER", Scope: "SCOPE", IPv6: "IPV6", Internal: "INTERNAL", Labels: "LABELS", CreatedAt: "CREATED AT", Subnet: "SUBNET" };

function networkContext(n: NetworkInspect): Record<string, string> {
  return {
    ID: shortId(n.Id),
    Name: n.Name,
    Driver: n.Driver,
    Scope: n.Scope,
    IPv6: String(n.EnableIPv6),
    Internal: String(n.Internal),
    Labels: Object.entries(n.Labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    CreatedAt: n.Created,
    Subnet: n.IPAM.Config.map((c) => c.Subnet).join(","),
  };
}

function keyValues(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const eq = kv.indexOf("=");
    if (eq < 0) out[kv] = "";
    else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** The address family and bits of an address or CIDR, for matching flags to subnets (no validation beyond that: the engine checks). */
function bits(s: string): { six: boolean; value: bigint; prefix: number } | undefined {
  const [ip = "", len] = s.split("/");
  const six = ip.includes(":");
  const value = six ? parseIp6(ip) : ((v) => (v === undefined ? undefined : BigInt(v)))(parseIp(ip));
  const prefix = len === undefined ? (six ? 128 : 32) : Number(len);
  if (value === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > (six ? 128 : 32)) return undefined;
  return { six, value, prefix };
}

function inside(subnet: string, x: string): boolean {
  const s = bits(subnet);
  const a = bits(x);
  if (!s || !a || s.six !== a.six || a.prefix < s.prefix) return false;
  const width = BigInt(s.six ? 128 : 32);
  const shift = width - BigInt(s.prefix);
  return a.value >> shift === s.value >> shift;
}

/** docker's pairing of --gateway, --ip-range and --aux-address with the --subnet that contains each. */
export function ipamConfig(subnets: string[], gateways: string[], ranges: string[], aux: string[], fail: (m: string) => Error): IpamConfig[] {
  if (gateways.length + ranges.length > 0 && !subnets.length) throw fail("every ip-range or gateway must have a corresponding subnet");
  const out: IpamConfig[] = subnets.map((s) => ({ Subnet: s }));
  const home = (what: string, v: string): IpamConfig => {
    const c = out.find((x) => inside(x.Subnet!, v));
    if (!c) throw fail(`no matching subnet for ${what} ${v}`);
    return c;
  };
  for (const r of ranges) {
    const c = home("range", r);
    if (c.IPRange) throw fail(`cannot configure multiple ranges (${c.IPRange}, ${r}) on the same subnet (${c.Subnet})`);
    c.IPRange = r;
  }
  for (const g of gateways) {
    const c = home("gateway", g);
    if (c.Gateway) throw fail(`cannot configure multiple gateways (${c.Gateway}, ${g}) for the same subnet (${c.Subnet})`);
    c.Gateway = g;
  }
  for (const kv of aux) {
    const eq = kv.indexOf("=");
    if (eq <= 0 || eq === kv.length - 1) throw fail(`invalid aux-address ${kv}: expected name=address`);
    const c = home("aux-address", kv.slice(eq + 1));
    (c.AuxiliaryAddresses ??= {})[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

export const verbs: VerbTable = {
  "network create": {
    command: (v) => {
      const c = newCommand(v, "[OPTIONS] NETWORK", "Create a network")
        .option("-d, --driver <string>", "Driver to manage the Network", "bridge")
        .option("--internal", "Restrict external access to the network")
        .option("--ipv6", "Enable IPv6 networking")
        .option("--attachable", "Enable manual container attachment (always on)");
      repeatable(c, "--subnet <strings>", "Subnet in CIDR format that represents a network segment");
      repeatable(c, "--gateway <strings>", "IPv4 or IPv6 Gateway for the master subnet");
      repeatable(c, "--ip-range <strings>", "Allocate container ip from a sub-range");
      repeatable(c, "--aux-address <map>", "Auxiliary IPv4 or IPv6 addresses used by Network driver");
      repeatable(c, "--label <list>", "Set metadata on a network");
      repeatable(c, "-o, --opt <map>", "Set driver specific options");
      return c;
    },
    args: [1, 1],
    async run(ctx, opts, args) {
      const o = opts as { driver: string; internal?: boolean; ipv6?: boolean; subnet?: string[]; gateway?: string[]; ipRange?: string[]; auxAddress?: string[]; label?: string[]; opt?: string[] };
      const create: NetworkCreateOptions = { Name: args[0]!, Driver: o.driver, Internal: !!o.internal, EnableIPv6: !!o.ipv6, Labels: keyValues(o.label), Options: keyValues(o.opt) };
      const config = ipamConfig(o.subnet ?? [], o.gateway ?? [], o.ipRange ?? [], o.auxAddress ?? [], (m) => new UsageError(ctx.verb, m, 1));
      if (config.length) create.IPAM = { Driver: "default", Config: config };
      const engine = await ctx.engine();
      ctx.out(engine.networks.create(create).Id + "\n");
      return 0;
    },
  },

  "network ls": {
    command: (v) => {
      const c = newCommand(v, "[OPTIONS]", "List networks")
        .option("-q, --quiet", "Only display network IDs")
        .option("--no-trunc", "Do not truncate the output")
        .option("--format <string>", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template");
      repeatable(c, "-f, --filter <filter>", "Provide filter values (e.g. 'driver=bridge')");
      return c;
    },
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { quiet?: boolean; trunc?: boolean; format?: string; filter?: string[] };
      const filters = parseFilters(o.filter, (m) => new UsageError(ctx.verb, m));
      const engine = await ctx.engine();
      const nets = await engine.networks.list(filters ? { filters } : {});
      const rows = nets.map((n) => ({ ...networkContext(n), ...(o.trunc === false ? { ID: n.Id } : {}) }));
      ctx.out(renderRows(rows, o.quiet ? "{{.ID}}" : o.format, NETWORKS_DEFAULT, NETWORKS_HEADERS));
      return 0;
    },
  },

  "network inspect": {
    command: (v) => newCommand(v, "[OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks").option("-f, --format <string>", "Format output using a custom template"),
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const { inspectRun } = await import("./inspect.ts");
      return inspectRun(ctx, "network", (opts as { format?: string }).format, args);
    },
  },

  "network rm": {
    command: (v) => newCommand(v, "NETWORK [NETWORK...]", "Remove one or more networks").option("-f, --force", "Do not error if the network does not exist"),
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const o = opts as { force?: boolean };
      const engine = await ctx.engine();
      return eachTarget(ctx, args, async (n) => {
        try {
          await engine.networks.remove(n);
        } catch (e) {
          if (!(o.force && e instanceof CapsaError && e.kind === "not-found")) throw e;
        }
      });
    },
  },

  "network prune": {
    command: (v) =>
      newCommand(v, "[OPTIONS]", "Remove all unused networks")
        .option("-f, --force", "Do not prompt for confirmation")
        .option("--filter <filter>", "Provide filter values (not supported yet)", collect),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { force?: boolean; filter?: string[] };
      if (o.filter?.length) throw new UsageError(ctx.verb, "network prune --filter is not supported yet", 1);
      if (!o.force && !(await confirm(ctx, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"))) return 0;
      const engine = await ctx.engine();
      const r = await engine.networks.prune();
      if (r.NetworksDeleted.length) ctx.out(`Deleted Networks:\n${r.NetworksDeleted.map((n) => n + "\n").join("")}`);
      return 0;
    },
  },

  "network connect": {
    command: (v) => {
      const c = newCommand(v, "[OPTIONS] NETWORK CONTAINER", "Connect a container to a network")
        .option("--ip <string>", "IPv4 address (e.g., \"172.30.100.104\")")
        .option("--ip6 <string>", "IPv6 address (e.g., \"2001:db8::33\")");
      repeatable(c, "--alias <strings>", "Add network-scoped alias for the container");
      return c;
    },
    args: [2, 2],
    setupErrors: true,
    async run(ctx, opts, args) {
      const o = opts as { ip?: string; ip6?: string; alias?: string[] };
      const engine = await ctx.engine();
      await engine.networks.connect(args[0]!, args[1]!, { ...(o.alias ? { aliases: o.alias } : {}), ...(o.ip ? { ipv4Address: o.ip } : {}), ...(o.ip6 ? { ipv6Address: o.ip6 } : {}) });
      return 0;
    },
  },

  "network disconnect": {
    command: (v) => newCommand(v, "[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network").option("-f, --force", "Force the container to disconnect from a network"),
    args: [2, 2],
    setupErrors: true,
    async run(ctx, opts, args) {
      const o = opts as { force?: boolean };
      const engine = await ctx.engine();
      await engine.networks.disconnect(args[0]!, args[1]!, { force: !!o.force });
      return 0;
    },
  },
};
