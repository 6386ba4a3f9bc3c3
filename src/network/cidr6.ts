// IPv6 addresses and subnets as 128-bit integers: parsing, the canonical text
// form (RFC 5952, as `ip` prints it), overlap, and a random unique local /64
// (RFC 4193) for `network create --ipv6` without a subnet, as docker picks one.
// Also: whether this host can give containers IPv6 at all.
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import { invalid } from "../util/errors.ts";
import { parseIp } from "./cidr.ts";

export interface Cidr6 {
  base: bigint;
  prefix: number;
}

const ALL = (1n << 128n) - 1n;
const mask6 = (prefix: number): bigint => ALL ^ ((1n << BigInt(128 - prefix)) - 1n);

export function parseIp6(s: string): bigint | undefined {
  let text = s.trim();
  if (!net.isIPv6(text) || text.includes("%")) return undefined;
  const v4tail = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const v4 = parseIp(v4tail[2]!);
    if (v4 === undefined) return undefined;
    text = `${v4tail[1]}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split("::");
  const groups = (h: string | undefined): string[] => (h ? h.split(":") : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const all = halves.length === 2 ? [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail] : head;
  if (all.length !== 8) return undefined;
  return all.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

/** The canonical form: lower case, no leading zeros, the longest run of two or more zero groups as "::". */
export function formatIp6(n: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(":");
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** "fd00:1::/64" → the network; a host address with a prefix is reduced to its network. */
export function parseCidr6(s: string): Cidr6 | undefined {
  const [ip, len, extra] = s.trim().split("/");
  if (extra !== undefined || ip === undefined) return undefined;
  const base = parseIp6(ip);
  const prefix = len === undefined ? 128 : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (base === undefined || !(prefix >= 0 && prefix <= 128)) return undefined;
  return { base: base & mask6(prefix), prefix };
}

export function formatCidr6(c: Cidr6): string {
  return `${formatIp6(c.base)}/${c.prefix}`;
}

export function contains6(c: Cidr6, ip: bigint): boolean {
  return (ip & mask6(c.prefix)) === c.base;
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const m = mask6(Math.min(a.prefix, b.prefix));
  return (a.base & m) === (b.base & m);
}

/** The last address of the subnet. */
export function lastAddress6(c: Cidr6): bigint {
  return c.base | (ALL ^ mask6(c.prefix));
}

/** IPv6 prefixes the host routes or has on its interfaces (link-local, multicast and loopback aside). */
export function hostSubnets6(): Cidr6[] {
  const out: Cidr6[] = [];
  const run = (args: string[]): string => {
    try {
      return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      return "";
    }
  };
  const skip = [parseCidr6("fe80::/10")!, parseCidr6("ff00::/8")!, parseCidr6("::1/128")!];
  for (const line of run(["-6", "route", "show", "table", "all"]).split("\n")) {
    const words = line.trim().split(/\s+/);
    const dst = ["local", "anycast", "multicast", "unreachable", "prohibit", "blackhole"].includes(words[0] ?? "") ? undefined : words[0];
    const c = dst && dst !== "default" ? parseCidr6(dst) : undefined;
    if (c && c.prefix > 0 && !skip.some((s) => overlaps6(s, c))) out.push(c);
  }
  for (const m of run(["-6", "-o", "addr"]).matchAll(/inet6 ([0-9a-f:]+\/\d+)/gi)) {
    const c = parseCidr6(m[1]!);
    if (c && !skip.some((s) => overlaps6(s, c))) out.push(c);
  }
  return out;
}

/** A random unique local /64 (fd00::/8, a random 40-bit global id, subnet 0) that overlaps none of `taken`. */
export function pickUla64(taken: Cidr6[], random: () => Buffer = () => crypto.randomBytes(5)): Cidr6 {
  for (let i = 0; i < 100; i++) {
    const id = BigInt("0x" + random().toString("hex"));
    const cand: Cidr6 = { base: (0xfdn << 120n) | (id << 80n), prefix: 64 };
    if (!taken.some((t) => overlaps6(t, cand))) return cand;
  }
  throw invalid("could not find an available, non-overlapping IPv6 address pool in fd00::/8");
}

/**
 * Why this host cannot give containers IPv6, or undefined when it can: the
 * kernel without IPv6 (`ipv6.disable=1`: no /proc/sys/net/ipv6), IPv6 switched
 * off by sysctl (new namespaces and bridges inherit it), or no working ip6tables
 * (the CNI plugins' NAT and firewall rules need it).
 */
export function ipv6Unavailable(proc = "/proc/sys/net/ipv6", ip6tables: () => boolean = ip6tablesWorks): string | undefined {
  if (!fs.existsSync(proc)) return "the kernel has IPv6 disabled (booted with ipv6.disable=1, or built without IPv6)";
  for (const scope of ["all", "default"]) {
    let v = "";
    try {
      v = fs.readFileSync(`${proc}/conf/${scope}/disable_ipv6`, "utf8").trim();
    } catch {
      /* not readable: assume enabled */
    }
    if (v === "1") return `IPv6 is disabled on this host (sysctl net.ipv6.conf.${scope}.disable_ipv6=1)`;
  }
  if (!ip6tables()) return "ip6tables does not work on this host (install iptables; the kernel needs ip6_tables or nf_tables)";
  return undefined;
}

function ip6tablesWorks(): boolean {
  try {
    execFileSync("ip6tables", ["-w", "-t", "nat", "-S", "POSTROUTING"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
