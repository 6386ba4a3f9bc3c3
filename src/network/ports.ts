// Published ports: docker's PortBindings and -P turned into concrete host
// ports, checked against what is already taken (this root's containers, any
// CNI port mapping on the host, any socket bound on the host) before the
// container starts.
import { execFileSync } from "node:child_process";
import dgram from "node:dgram";
import net from "node:net";
import type { ContainerConfig, HostConfig } from "../types/records.ts";
import { conflict, invalid } from "../util/errors.ts";
import type { PublishedPort } from "./store.ts";

/** docker's ephemeral range for random host ports. */
export const EPHEMERAL = { first: 32768, last: 60999 };

interface Wanted {
  HostIp: string;
  /** 0: any free port; [a, b]: a free one in that range. */
  range: [number, number] | 0;
  ContainerPort: number;
  Protocol: PublishedPort["Protocol"];
}

/** An ExposedPorts/PortBindings key with its protocol: "80" is "80/tcp". */
export const portKey = (key: string): string => (key.includes("/") ? key : `${key}/tcp`);

function parseKey(key: string): { port: number; proto: PublishedPort["Protocol"] } {
  const [p = "", proto = "tcp"] = key.split("/");
  const port = Number(p);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`invalid container port: ${key}`);
  if (proto !== "tcp" && proto !== "udp" && proto !== "sctp") throw invalid(`invalid protocol: ${proto}`);
  return { port, proto };
}

export function wantedPorts(config: ContainerConfig, h: HostConfig): Wanted[] {
  const out: Wanted[] = [];
  const bound = new Set<string>();
  for (const [key, list] of Object.entries(h.PortBindings ?? {})) {
    const { port, proto } = parseKey(key);
    bound.add(`${port}/${proto}`);
    for (const b of list ?? [{ HostIp: "", HostPort: "" }]) {
      const hp = (b.HostPort ?? "").trim();
      let range: Wanted["range"] = 0;
      if (hp && hp !== "0") {
        const m = /^(\d+)(?:-(\d+))?$/.exec(hp);
        const a = Number(m?.[1]);
        const z = Number(m?.[2] ?? m?.[1]);
        if (!m || a < 1 || z > 65535 || z < a) throw invalid(`invalid host port: ${hp}`);
        range = [a, z];
      }
      out.push({ HostIp: b.HostIp ?? "", range, ContainerPort: port, Protocol: proto });
    }
  }
  if (h.PublishAllPorts) {
    for (const key of Object.keys(config.ExposedPorts ?? {})) {
      const { port, proto } = parseKey(portKey(key));
      if (!bound.has(`${port}/${proto}`)) out.push({ HostIp: "", range: 0, ContainerPort: port, Protocol: proto });
    }
  }
  return out;
}

/** Host ports that CNI port mappings hold on this host (every state root, and peers using CNI). */
export function cniHostPorts(): Set<string> {
  const out = new Set<string>();
  let rules = "";
  try {
    rules = execFileSync("iptables", ["-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return out;
  }
  for (const line of rules.split("\n")) {
    const proto = /-p (\w+)/.exec(line)?.[1];
    const ports = /--dports? ([\d,:]+)/.exec(line)?.[1];
    if (!proto || !ports) continue;
    for (const p of ports.split(",")) {
      const [a, b] = p.split(":").map(Number);
      for (let x = a!; x <= (b ?? a!); x++) out.add(`${proto}/${x}`);
    }
  }
  return out;
}

/** Whether a socket could bind hostIp:port right now (nothing on the host listens there). */
function canBind(proto: PublishedPort["Protocol"], hostIp: string, port: number): Promise<boolean> {
  const host = hostIp || "0.0.0.0";
  return new Promise((resolve) => {
    if (proto === "udp") {
      const s = dgram.createSocket("udp4");
      s.once("error", () => resolve(false));
      s.bind({ port, address: host, exclusive: true }, () => s.close(() => resolve(true)));
      return;
    }
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

const sameIp = (a: string, b: string): boolean => !a || !b || a === "0.0.0.0" || b === "0.0.0.0" || a === b;

/**
 * Concrete host ports for what the container asks. `taken` are this state
 * root's current mappings. A requested port in use is docker's error, before
 * anything starts.
 */
export async function allocatePorts(wanted: Wanted[], taken: PublishedPort[]): Promise<PublishedPort[]> {
  if (!wanted.length) return [];
  const cni = cniHostPorts();
  const out: PublishedPort[] = [];
  const busy = (w: Wanted, port: number): boolean =>
    [...taken, ...out].some((t) => t.Protocol === w.Protocol && t.HostPort === port && sameIp(t.HostIp, w.HostIp)) || cni.has(`${w.Protocol}/${port}`);
  for (const w of wanted) {
    if (w.HostIp && !net.isIPv4(w.HostIp)) throw invalid(`invalid host IP for a published port: ${w.HostIp} (IPv4 only)`);
    const [first, last] = w.range === 0 ? [EPHEMERAL.first, EPHEMERAL.last] : w.range;
    const span = last - first + 1;
    const start = w.range === 0 ? Math.floor(Math.random() * span) : 0;
    let chosen = 0;
    for (let i = 0; i < span && !chosen; i++) {
      const port = first + ((start + i) % span);
      if (busy(w, port)) continue;
      if (await canBind(w.Protocol === "udp" ? "udp" : "tcp", w.HostIp, port)) chosen = port;
    }
    if (!chosen) {
      const where = `${w.HostIp || "0.0.0.0"}:${w.range === 0 ? "<random>" : w.range[0] === w.range[1] ? w.range[0] : `${w.range[0]}-${w.range[1]}`}`;
      throw conflict(`Bind for ${where} failed: port is already allocated (${w.Protocol})`);
    }
    out.push({ HostIp: w.HostIp, HostPort: chosen, ContainerPort: w.ContainerPort, Protocol: w.Protocol });
  }
  return out;
}
