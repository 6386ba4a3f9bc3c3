// Isolation between networks, as docker's: traffic a network's bridge would
// forward to another capsa bridge is dropped (containers on different networks
// do not reach each other; traffic within a network, to the outside and from
// published ports is untouched). One chain per bridge, jumped to first in FORWARD.
// An internal network's chain drops everything that would leave the bridge, so
// even a container that adds a default route itself (NET_ADMIN) stays inside.
import { execFileSync } from "node:child_process";

export const isolationChain = (bridge: string): string => `CAPSA-ISO-${bridge.replace(/^cps-/, "")}`;

function ipt(args: string[]): boolean {
  try {
    execFileSync("iptables", ["-w", ...args], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Installs the bridge's isolation rules (idempotent). An internal network forwards nowhere but to itself. */
export function isolate(bridge: string, internal = false): void {
  const chain = isolationChain(bridge);
  ipt(["-N", chain]);
  ipt(["-F", chain]);
  ipt(["-A", chain, "-o", bridge, "-j", "RETURN"]);
  ipt(internal ? ["-A", chain, "-j", "DROP"] : ["-A", chain, "-o", "cps-+", "-j", "DROP"]);
  if (!ipt(["-C", "FORWARD", "-i", bridge, "-j", chain])) ipt(["-I", "FORWARD", "1", "-i", bridge, "-j", chain]);
}

/** Removes them (idempotent). */
export function unisolate(bridge: string): void {
  const chain = isolationChain(bridge);
  for (let i = 0; i < 10 && ipt(["-D", "FORWARD", "-i", bridge, "-j", chain]); i++);
  ipt(["-F", chain]);
  ipt(["-X", chain]);
}
