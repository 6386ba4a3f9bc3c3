// Isolation between networks, as docker's: traffic a network's bridge would
// forward to another capsa bridge is dropped (containers on different networks
// do not reach each other; traffic within a network, to the outside and from
// published ports is untouched). One chain per bridge, jumped to first in FORWARD.
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

/** Installs the bridge's isolation rules (idempotent). */
export function isolate(bridge: string): void {
  const chain = isolationChain(bridge);
  ipt(["-N", chain]);
  ipt(["-F", chain]);
  ipt(["-A", chain, "-o", bridge, "-j", "RETURN"]);
  ipt(["-A", chain, "-o", "cps-+", "-j", "DROP"]);
  if (!ipt(["-C", "FORWARD", "-i", bridge, "-j", chain])) ipt(["-I", "FORWARD", "1", "-i", bridge, "-j", chain]);
}

/** Removes them (idempotent). */
export function unisolate(bridge: string): void {
  const chain = isolationChain(bridge);
  for (let i = 0; i < 10 && ipt(["-D", "FORWARD", "-i", bridge, "-j", chain]); i++);
  ipt(["-F", chain]);
  ipt(["-X", chain]);
}
