// A network's own iptables rules, as docker's: isolation between networks
// (traffic a network's bridge would forward to another capsa bridge is
// dropped; an internal network forwards nowhere but to itself, so even a
// container that adds a default route itself (NET_ADMIN) stays inside), and
// for a network that reaches out, forwarding and NAT for its whole subnet.
// One set per network, made when its bridge appears, instead of the CNI
// bridge plugin's ipMasq and the firewall plugin's per-container rules: those
// cost about 28 iptables runs for every container start and stop.
//
// In iptables and, for a dual-stack network, in ip6tables too: one chain per
// bridge jumped to first in FORWARD for traffic from the bridge; rules in
// FORWARD (replies, published ports) and nat POSTROUTING (masquerade) carry a
// `capsa:<bridge>` comment, so they can be found and removed without knowing
// the subnet (orphaned bridges).
import { execFileSync } from "node:child_process";

export const isolationChain = (bridge: string): string => `CAPSA-ISO-${bridge.replace(/^cps-/, "")}`;

type Tool = "iptables" | "ip6tables";

function ipt(tool: Tool, args: string[]): boolean {
  try {
    execFileSync(tool, ["-w", ...args], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const tag = (bridge: string): string[] => ["-m", "comment", "--comment", `capsa:${bridge}`];

/** Adds a rule unless it is there (idempotent). */
function ensure(tool: Tool, table: string, chain: string, rule: string[], insert: boolean): void {
  if (!ipt(tool, ["-t", table, "-C", chain, ...rule])) ipt(tool, ["-t", table, ...(insert ? ["-I", chain, "1"] : ["-A", chain]), ...rule]);
}

/**
 * Installs the bridge's rules (idempotent). `subnets`: the network's IPv4
 * subnet and, when dual-stack, its IPv6 one (the family picks the tool).
 */
export function isolate(bridge: string, internal: boolean, subnets: string[]): void {
  const chain = isolationChain(bridge);
  for (const subnet of subnets) {
    const tool: Tool = subnet.includes(":") ? "ip6tables" : "iptables";
    ipt(tool, ["-N", chain]);
    ipt(tool, ["-F", chain]);
    ipt(tool, ["-A", chain, "-o", bridge, "-j", "ACCEPT"]);
    if (internal) ipt(tool, ["-A", chain, "-j", "DROP"]);
    else {
      ipt(tool, ["-A", chain, "-o", "cps-+", "-j", "DROP"]);
      ipt(tool, ["-A", chain, "-j", "ACCEPT"]);
    }
    ensure(tool, "filter", "FORWARD", ["-i", bridge, "-j", chain], true);
    if (internal) continue;
    // Replies, and new connections to published ports (portmap's DNAT), may come in.
    ensure(tool, "filter", "FORWARD", ["-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "ACCEPT", ...tag(bridge)], true);
    ensure(tool, "nat", "POSTROUTING", ["-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE", ...tag(bridge)], false);
  }
}

/** Removes them (idempotent); `ipv6` false skips ip6tables when the network never had IPv6. */
export function unisolate(bridge: string, ipv6 = true): void {
  const chain = isolationChain(bridge);
  for (const tool of ipv6 ? (["iptables", "ip6tables"] as const) : (["iptables"] as const)) {
    for (let i = 0; i < 10 && ipt(tool, ["-D", "FORWARD", "-i", bridge, "-j", chain]); i++);
    for (const table of ["filter", "nat"]) {
      for (const rule of taggedRules(tool, table, bridge)) ipt(tool, ["-t", table, "-D", ...rule]);
    }
    if (ipt(tool, ["-F", chain])) ipt(tool, ["-X", chain]);
  }
}

/** The rules of a table that carry the bridge's comment, as argument lists (chain first). */
function taggedRules(tool: Tool, table: string, bridge: string): string[][] {
  let text: string;
  try {
    text = execFileSync(tool, ["-w", "-t", table, "-S"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return [];
  }
  // iptables -S quotes the comment; our rules hold no word with a space, so unquoting and splitting gives back their arguments.
  return text
    .split("\n")
    .map((l) => l.replace(/"/g, ""))
    .filter((l) => l.startsWith("-A ") && l.includes(`--comment capsa:${bridge}`))
    .map((l) => l.slice(3).split(" "));
}
