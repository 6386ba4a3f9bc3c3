// Isolation between networks, as docker's: traffic a network's bridge would
// forward to another capsa bridge is dropped (containers on different networks
// do not reach each other; traffic within a network, to the outside and from
// published ports is untouched). One chain per bridge, jumped to first in FORWARD,
// in iptables and, for a dual-stack network, in ip6tables too.
// An internal network's chain drops everything that would leave the bridge, so
// even a container that adds a default route itself (NET_ADMIN) stays inside.
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

/** Installs the bridge's isolation rules (idempotent). An internal network forwards nowhere but to itself. */
export function isolate(bridge: string, internal = false, ipv6 = false): void {
  const chain = isolationChain(bridge);
  for (const tool of ipv6 ? (["iptables", "ip6tables"] as const) : (["iptables"] as const)) {
    ipt(tool, ["-N", chain]);
    ipt(tool, ["-F", chain]);
    ipt(tool, ["-A", chain, "-o", bridge, "-j", "RETURN"]);
    ipt(tool, internal ? ["-A", chain, "-j", "DROP"] : ["-A", chain, "-o", "cps-+", "-j", "DROP"]);
    if (!ipt(tool, ["-C", "FORWARD", "-i", bridge, "-j", chain])) ipt(tool, ["-I", "FORWARD", "1", "-i", bridge, "-j", chain]);
  }
}

/** Removes them (idempotent); `ipv6` false skips ip6tables when the network never had IPv6. */
export function unisolate(bridge: string, ipv6 = true): void {
  const chain = isolationChain(bridge);
  for (const tool of ipv6 ? (["iptables", "ip6tables"] as const) : (["iptables"] as const)) {
    for (let i = 0; i < 10 && ipt(tool, ["-D", "FORWARD", "-i", bridge, "-j", chain]); i++);
    if (ipt(tool, ["-F", chain])) ipt(tool, ["-X", chain]);
  }
}
