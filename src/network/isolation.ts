// A network's own iptables rules, as docker's: isolation between networks
// (traffic a network's bridge would forward to another capsa bridge is
// dropped; an internal network forwards nowhere but to itself, so even a
// container that adds a default route itself (NET_ADMIN) stays inside), and
// for a network that reaches out, forwarding and NAT for its whole subnet.
// One set per network, made when its bridge appears, instead of the CNI
// bridge plugin's ipMasq and the firewall plugin's per-container rules: those
// cost about 28 iptables runs for every container start and stop.
//
// From outside, only published ports reach a container (docker 28 does the
// same): packets for the network's addresses that arrive on any interface but
// its bridge (a LAN peer routing the subnet through this host) are dropped in
// raw PREROUTING, and new connections forwarded into the bridge must have been
// DNAT'd by a port mapping. A mapping on 127.0.0.1 is for this host only:
// the portmap plugin sets route_localnet on the bridge, so connections whose
// original destination was 127.0.0.0/8 that come from another host
// (CVE-2020-8558) are dropped, and so is anything a container sends to
// 127.0.0.0/8 (the host's loopback services).
//
// In iptables and, for a dual-stack network, in ip6tables too. Per bridge:
// CAPSA-ISO-* (forwarded out of it), CAPSA-IN-* (forwarded into it) and, in
// the raw table, CAPSA-RAW-* (addressed to its subnet); every rule of the
// built-in chains carries a `capsa:<bridge>` comment, so all can be found and
// removed without knowing the subnet (orphaned bridges).
import { execFileSync } from "node:child_process";
import fs from "node:fs";

const suffix = (bridge: string): string => bridge.replace(/^cps-/, "");
export const isolationChain = (bridge: string): string => `CAPSA-ISO-${suffix(bridge)}`;
const inboundChain = (bridge: string): string => `CAPSA-IN-${suffix(bridge)}`;
const addressChain = (bridge: string): string => `CAPSA-RAW-${suffix(bridge)}`;

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

/** Creates the chain, or empties it. */
function chain(tool: Tool, table: string, name: string, rules: string[][]): void {
  ipt(tool, ["-t", table, "-N", name]);
  ipt(tool, ["-t", table, "-F", name]);
  for (const r of rules) ipt(tool, ["-t", table, "-A", name, ...r]);
}

/** Adds a rule unless it is there (idempotent). */
function ensure(tool: Tool, table: string, chain: string, rule: string[], insert: boolean): void {
  if (!ipt(tool, ["-t", table, "-C", chain, ...rule])) ipt(tool, ["-t", table, ...(insert ? ["-I", chain, "1"] : ["-A", chain]), ...rule]);
}

/**
 * Installs the bridge's rules (idempotent). `subnets`: the network's IPv4
 * subnet and, when dual-stack, its IPv6 one (the family picks the tool).
 */
export function isolate(bridge: string, internal: boolean, subnets: string[]): void {
  for (const subnet of subnets) {
    const tool: Tool = subnet.includes(":") ? "ip6tables" : "iptables";
    const v4 = tool === "iptables";
    chain(tool, "filter", isolationChain(bridge), [["-o", bridge, "-j", "ACCEPT"], ...(internal ? [["-j", "DROP"]] : [["-o", "cps-+", "-j", "DROP"], ["-j", "ACCEPT"]])]);
    // Into the bridge from elsewhere: replies, and connections a published port DNAT'd (not from 127.0.0.0/8).
    chain(tool, "filter", inboundChain(bridge), [
      ["-i", bridge, "-j", "RETURN"],
      ...(internal
        ? []
        : [
            ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
            ...(v4 ? [["-m", "conntrack", "--ctstate", "DNAT", "--ctorigdst", "127.0.0.0/8", "-j", "DROP"]] : []),
            ["-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"],
          ]),
      ["-j", "DROP"],
    ]);
    // The network's addresses (the gateway included) are reached through the bridge, or by the host itself.
    chain(tool, "raw", addressChain(bridge), [["-i", bridge, "-j", "RETURN"], ["-i", "lo", "-j", "RETURN"], ["-j", "DROP"]]);
    ensure(tool, "raw", "PREROUTING", ["-d", subnet, ...tag(bridge), "-j", addressChain(bridge)], true);
    if (v4) ensure(tool, "raw", "PREROUTING", ["-i", bridge, "-d", "127.0.0.0/8", ...tag(bridge), "-j", "DROP"], true);
    ensure(tool, "filter", "FORWARD", ["-o", bridge, ...tag(bridge), "-j", inboundChain(bridge)], true);
    ensure(tool, "filter", "FORWARD", ["-i", bridge, ...tag(bridge), "-j", isolationChain(bridge)], true);
    if (!internal) ensure(tool, "nat", "POSTROUTING", ["-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE", ...tag(bridge)], false);
    // Left by earlier versions on a bridge that outlived an upgrade: accepted every DNAT'd connection, 127.0.0.0/8 included.
    ipt(tool, ["-D", "FORWARD", "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "ACCEPT", ...tag(bridge)]);
    ipt(tool, ["-D", "FORWARD", "-i", bridge, "-j", isolationChain(bridge)]);
  }
}

/** Removes them (idempotent); `ipv6` false skips ip6tables when the network never had IPv6. */
export function unisolate(bridge: string, ipv6 = true): void {
  for (const tool of ipv6 ? (["iptables", "ip6tables"] as const) : (["iptables"] as const)) {
    // The untagged jump of earlier versions.
    for (let i = 0; i < 10 && ipt(tool, ["-D", "FORWARD", "-i", bridge, "-j", isolationChain(bridge)]); i++);
    for (const table of ["filter", "nat", "raw"]) {
      for (const rule of taggedRules(tool, table, bridge)) ipt(tool, ["-t", table, "-D", ...rule]);
    }
    for (const [table, name] of [["filter", isolationChain(bridge)], ["filter", inboundChain(bridge)], ["raw", addressChain(bridge)]] as const) {
      if (ipt(tool, ["-t", table, "-F", name])) ipt(tool, ["-t", table, "-X", name]);
    }
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

/**
 * Removes the rules of bridges that no longer exist: left when a bridge went
 * away without them (a crash between deleting the bridge and its rules, or a
 * capsa that knew fewer of them). Reads each table once; returns the bridges.
 */
export function sweepOrphanRules(): string[] {
  const seen = new Set<string>();
  for (const tool of ["iptables", "ip6tables"] as const) {
    for (const table of ["filter", "nat", "raw"]) {
      let text = "";
      try {
        text = execFileSync(tool, ["-w", "-t", table, "-S"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      } catch {
        continue;
      }
      for (const m of text.matchAll(/CAPSA-(?:ISO|IN|RAW)-([0-9a-f]{10})\b|capsa:cps-([0-9a-f]{10})\b/g)) seen.add(`cps-${m[1] ?? m[2]}`);
    }
  }
  const gone = [...seen].filter((b) => !fs.existsSync(`/sys/class/net/${b}`));
  for (const b of gone) unisolate(b);
  return gone;
}
