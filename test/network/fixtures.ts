// Network test fixtures: subnets no one on this host uses, free host ports,
// and a listing of everything a network leaves on the host (veths, bridges,
// namespaces, iptables rules, IPAM leases) to prove that nothing is left.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { formatCidr, hostSubnets, overlaps, parseCidr, type Cidr } from "../../src/network/cidr.ts";
import { formatCidr6, hostSubnets6, pickUla64 } from "../../src/network/cidr6.ts";

const sh = (cmd: string, args: string[]): string => {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0 ? r.stdout : "";
};

const handedOut: Cidr[] = [];

/** A /24 in 10.128.0.0/9 that neither the host nor this test run uses. */
export function freeSubnet(): string {
  const taken = [...hostSubnets(), ...handedOut, parseCidr("10.255.0.0/16")!];
  for (let i = 0; i < 1000; i++) {
    const c = parseCidr(`10.${128 + Math.floor(Math.random() * 120)}.${Math.floor(Math.random() * 256)}.0/24`)!;
    if (taken.some((t) => overlaps(t, c))) continue;
    handedOut.push(c);
    return formatCidr(c);
  }
  throw new Error("no free 10.x subnet");
}

/** "10.1.2.0/24" → "10.1.2."; "fdxx:…::/64" → "fdxx:…:" (every address a container gets there starts so). */
export const prefixOf = (subnet: string): string => (subnet.includes(":") ? subnet.replace(/:\/64$/, "") : subnet.replace(/\d+\/24$/, ""));

/** A unique local /64 (fd00::/8) with a random global id, that no host route or address overlaps. */
export function freeSubnet6(): string {
  const taken = hostSubnets6();
  for (;;) {
    const c = pickUla64(taken);
    if (!handedOut6.includes(formatCidr6(c))) {
      handedOut6.push(formatCidr6(c));
      return formatCidr6(c);
    }
  }
}
const handedOut6: string[] = [];

/** A TCP (and UDP) port nothing listens on now. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "0.0.0.0", () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

export interface Leftovers {
  /** veth ends on the test's bridges, or on none (a bridge removed under them). */
  veths: string[];
  bridges: string[];
  /** Namespace files mounted below the state root, and `ip netns` entries the test named. */
  netns: string[];
  /** iptables lines naming the test's subnets or ports. */
  rules: string[];
  /** host-local lease files under the state root. */
  leases: string[];
  /** DNS servers (dnsmasq) serving the state root's networks. */
  dns: string[];
}

/**
 * What the test's networks hold on the host. Other engineers' roots may hold
 * their own veths at the same time, so only what is attributable to this test
 * counts: its bridges, veths on them or on nothing, its subnets and ports in
 * iptables, namespaces below its root.
 */
export function leftovers(root: string, o: { bridges: string[]; subnets: string[]; ports: number[]; baselineVeths: Set<string>; netnsNames?: string[] }): Leftovers {
  const links = sh("ip", ["-o", "link"])
    .split("\n")
    .filter(Boolean)
    .map((l) => ({ name: (/^\d+: ([^:@]+)/.exec(l)?.[1] ?? "").trim(), master: /master (\S+)/.exec(l)?.[1] ?? "" }));
  const veths = links.filter((l) => l.name.startsWith("veth") && !o.baselineVeths.has(l.name) && (!l.master || o.bridges.includes(l.master))).map((l) => l.name);
  const bridges = links.filter((l) => o.bridges.includes(l.name)).map((l) => l.name);
  const mounts = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(" nsfs ") && (l.split(" ")[4] ?? "").startsWith(root + "/"))
    .map((l) => l.split(" ")[4]!);
  const named = sh("ip", ["netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => o.netnsNames?.includes(n));
  const rules = [...sh("iptables-save", []).split("\n"), ...sh("ip6tables-save", []).split("\n")]
    .filter(
      (l) =>
        o.subnets.some((s) => l.includes(prefixOf(s))) ||
        o.ports.some((p) => new RegExp(`dports? (\\S*,)?${p}\\b`).test(l)) ||
        o.bridges.some((b) => l.includes(b.replace(/^cps-/, ""))),
    );
  const ipam = path.join(root, "networks", "ipam");
  const leases: string[] = [];
  for (const d of fs.existsSync(ipam) ? fs.readdirSync(ipam) : []) {
    for (const f of fs.readdirSync(path.join(ipam, d))) if (/^\d+\.\d+\.\d+\.\d+$/.test(f) || f.includes(":")) leases.push(`${d}/${f}`);
  }
  const dns = fs
    .readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(`${root}/run/dns/`);
      } catch {
        return false;
      }
    });
  return { veths, bridges, netns: [...mounts, ...named], rules, leases, dns };
}

export function vethNames(): Set<string> {
  return new Set(
    sh("ip", ["-o", "link"])
      .split("\n")
      .map((l) => (/^\d+: ([^:@]+)/.exec(l)?.[1] ?? "").trim())
      .filter((n) => n.startsWith("veth")),
  );
}

/** The mirror's IPv4 address as the host resolves it (getent: /etc/hosts, then DNS). */
export function resolveHost(host: string): string {
  const out = execFileSync("getent", ["ahostsv4", host], { encoding: "utf8" });
  const ip = out.split(/\s+/)[0];
  if (!ip) throw new Error(`cannot resolve ${host}`);
  return ip;
}
