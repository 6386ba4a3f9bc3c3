// Networking helpers: subnets no route of this host covers, bridges the
// engines leave behind, and iperf3 (from the Debian package) in an image.
import fs from "node:fs";
import path from "node:path";
import { run, runOk } from "./proc.ts";

const toInt = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);

/** Every IPv4 prefix routed on this host (all tables), as [first, last] address. */
function routedRanges(): [number, number][] {
  const out: [number, number][] = [];
  const text = run({ argv: ["ip", "-4", "route", "show", "table", "all"] }).stdout;
  for (const m of text.matchAll(/(?:^|\s)(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?\s/gm)) {
    const bits = m[2] === undefined ? 32 : Number(m[2]);
    if (bits === 0) continue; // default routes cover everything
    const first = toInt(m[1]!) - (toInt(m[1]!) % 2 ** (32 - bits));
    out.push([first, first + 2 ** (32 - bits) - 1]);
  }
  return out;
}

/** Subnets given out by this process: not routed until an engine makes its bridge, but taken. */
const handedOut = new Set<string>();

/**
 * `count` distinct /24 subnets from 10.200.0.0–10.249.255.0 that no route of
 * this host touches (nor capsa's 10.77/16 or podman's 10.88/16 defaults), picked at random.
 */
export function freeSubnets(count: number): string[] {
  const taken = routedRanges();
  const out: string[] = [];
  const fresh = (net: string) => !out.includes(net) && !handedOut.has(net);
  for (let tries = 0; out.length < count && tries < 10_000; tries++) {
    const a = 200 + Math.floor(Math.random() * 50);
    const b = Math.floor(Math.random() * 256);
    const net = `10.${a}.${b}.0/24`;
    const first = toInt(`10.${a}.${b}.0`);
    if (!fresh(net) || taken.some(([lo, hi]) => lo <= first + 255 && first <= hi)) continue;
    out.push(net);
  }
  if (out.length < count) throw new Error("no free /24 in 10.200.0.0/16–10.249.0.0/16");
  for (const n of out) handedOut.add(n);
  return out;
}

/** The address `host` (1 = the gateway) of a /24 written a.b.c.0/24. */
export function hostAddress(subnet: string, host: number): string {
  return subnet.replace(/\.0\/24$/, `.${host}`);
}

function bridges(pattern: RegExp): string[] {
  if (!fs.existsSync("/sys/class/net")) return [];
  return fs.readdirSync("/sys/class/net").filter((n) => pattern.test(n) && fs.existsSync(`/sys/class/net/${n}/bridge`));
}

/**
 * Bridges an engine makes and does not delete (CNI's bridge plugin never
 * does): those matching `pattern` that appear after construction are deleted
 * by remove() when nothing is attached to them any more.
 */
export class BridgeLeftovers {
  private readonly before: Set<string>;
  constructor(private readonly pattern: RegExp) {
    this.before = new Set(bridges(pattern));
  }
  remove(): void {
    for (const b of bridges(this.pattern)) {
      if (this.before.has(b)) continue;
      const ports = fs.existsSync(`/sys/class/net/${b}/brif`) ? fs.readdirSync(`/sys/class/net/${b}/brif`) : [];
      if (ports.length === 0) run({ argv: ["ip", "link", "del", b] });
    }
  }
}

/**
 * A root file system tarball: the busybox one plus /usr/bin/iperf3 and the
 * shared libraries it links (per ldd, copied to the same paths), written to
 * `out`. Needs iperf3 installed on the host (Debian package iperf3).
 */
export function iperfRootfsTar(busyboxTar: string, work: string, out: string): void {
  const bin = "/usr/bin/iperf3";
  if (!fs.existsSync(bin)) throw new Error("iperf3 is not installed (Debian package iperf3)");
  const dir = path.join(work, "iperf-rootfs");
  fs.mkdirSync(dir, { recursive: true });
  try {
    runOk({ argv: ["tar", "--numeric-owner", "-xf", busyboxTar, "-C", dir] });
    const libs = [...runOk({ argv: ["ldd", bin] }).matchAll(/(\/\S+)\s+\(0x/g)].map((m) => m[1]!);
    for (const f of [bin, ...libs]) {
      const dest = path.join(dir, f);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(fs.realpathSync(f), dest);
      fs.chmodSync(dest, 0o755);
    }
    runOk({ argv: ["tar", "--numeric-owner", "-C", dir, "-cf", out, "."] });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
