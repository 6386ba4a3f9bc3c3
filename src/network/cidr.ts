// IPv4 subnets: parsing, overlap, and picking a free one that avoids what the
// host already routes (its interfaces, its routes, its resolvers).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { invalid } from "../util/errors.ts";

export interface Cidr {
  base: number;
  prefix: number;
}

export function parseIp(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

const mask = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** "10.1.2.0/24" → the network; a host address with a prefix is reduced to its network. */
export function parseCidr(s: string): Cidr | undefined {
  const [ip, len, extra] = s.trim().split("/");
  if (extra !== undefined || ip === undefined) return undefined;
  const base = parseIp(ip);
  const prefix = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (base === undefined || !(prefix >= 0 && prefix <= 32)) return undefined;
  return { base: (base & mask(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** The first usable address (docker's default gateway). */
export function firstHost(c: Cidr): number {
  return c.base + 1;
}

/** Subnets the host already uses: routes (except the default route), interface addresses, resolvers. */
export function hostSubnets(): Cidr[] {
  const out: Cidr[] = [];
  const run = (args: string[]): string => {
    try {
      return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      return "";
    }
  };
  for (const line of run(["-4", "route", "show", "table", "all"]).split("\n")) {
    const dst = line.trim().split(/\s+/)[0];
    if (!dst || dst === "default" || ["broadcast", "local", "unreachable", "prohibit", "blackhole", "multicast"].includes(dst)) continue;
    const c = parseCidr(dst);
    if (c && c.prefix > 0) out.push(c);
  }
  for (const m of run(["-4", "-o", "addr"]).matchAll(/inet (\d+\.\d+\.\d+\.\d+\/\d+)/g)) {
    const c = parseCidr(m[1]!);
    if (c && !contains({ base: parseIp("127.0.0.0")!, prefix: 8 }, c.base)) out.push(c);
  }
  try {
    for (const m of fs.readFileSync("/etc/resolv.conf", "utf8").matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)/gm)) out.push({ base: parseIp(m[1]!)!, prefix: 32 });
  } catch {
    /* no resolver configured */
  }
  return out;
}

/**
 * Picks a /24 from `pool` that overlaps none of `taken`, starting at an offset
 * derived from `seed` so that separate state roots rarely try the same one.
 */
export function pickSubnet(pool: Cidr, taken: Cidr[], seed: number): Cidr {
  const count = 2 ** (24 - pool.prefix);
  for (let i = 0; i < count; i++) {
    const cand: Cidr = { base: (pool.base + ((seed + i) % count) * 256) >>> 0, prefix: 24 };
    if (!taken.some((t) => overlaps(t, cand))) return cand;
  }
  throw invalid(`could not find an available, non-overlapping IPv4 address pool in ${formatCidr(pool)}`);
}

/** The MTU of the interface the default route leaves by (bridges use it, so NAT'd traffic is not fragmented or black-holed). */
export function defaultRouteMtu(): number | undefined {
  try {
    const out = execFileSync("ip", ["-4", "route", "show", "default"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const dev = /\bdev (\S+)/.exec(out)?.[1];
    if (!dev) return undefined;
    const mtu = Number(fs.readFileSync(`/sys/class/net/${dev}/mtu`, "utf8").trim());
    return Number.isInteger(mtu) && mtu >= 576 ? mtu : undefined;
  } catch {
    return undefined;
  }
}
