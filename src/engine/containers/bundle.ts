// Writes the OCI bundle for one start: the files capsa manages inside the
// container (/etc/hostname, /etc/hosts, /etc/resolv.conf) and config.json.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ContainerRecord } from "../../types/records.ts";
import { buildSpec } from "../../runtime/spec.ts";
import { resolveUser } from "../../runtime/user.ts";
import { specToJson } from "../../runtime/oci.ts";
import { containerCgroupsPath } from "../../cgroups/index.ts";
import { invalid } from "../../util/errors.ts";
import { type Ctx, containerDir } from "./context.ts";
import type { NetworkSetup } from "../../network/service.ts";
import { handlerFor } from "../../isolation/handlers.ts";

export function processArgs(c: ContainerRecord): string[] {
  const args = [...(c.config.Entrypoint ?? []), ...(c.config.Cmd ?? [])];
  if (args.length === 0) throw invalid("No command specified");
  return args;
}

/** The container's /etc/hosts base; `ownAddress` (its address on its first network) names the hostname, as docker. */
export function hostsFile(c: ContainerRecord, ownAddress?: string): string {
  const hostname = c.config.Hostname || os.hostname();
  const lines = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
    `${ownAddress ?? "127.0.1.1"}\t${hostname}`,
  ];
  for (const h of c.hostConfig.ExtraHosts ?? []) {
    const i = h.lastIndexOf(":");
    if (i > 0) lines.push(`${h.slice(i + 1)}\t${h.slice(0, i)}`);
  }
  return lines.join("\n") + "\n";
}

/** `dnsServer`: the network's own resolver (names of containers), used unless --dns is given. */
function resolvConf(c: ContainerRecord, dnsServer?: string): string {
  let host = "";
  try {
    host = fs.readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    /* no resolver on the host */
  }
  // Loopback resolvers of the host are unreachable from a separate network stack.
  const kept = host.split("\n").filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l));
  const lines: string[] = [];
  const dns = c.hostConfig.Dns ?? [];
  const search = c.hostConfig.DnsSearch ?? [];
  if (dns.length) lines.push(...dns.map((d) => `nameserver ${d}`));
  else if (dnsServer) lines.push(`nameserver ${dnsServer}`);
  else lines.push(...kept.filter((l) => /^\s*nameserver\s/.test(l)));
  if (search.length) lines.push(`search ${search.join(" ")}`);
  else lines.push(...kept.filter((l) => /^\s*(search|domain)\s/.test(l)));
  return lines.join("\n") + "\n";
}

/** Returns the bundle directory. */
export async function writeBundle(ctx: Ctx, c: ContainerRecord, rootfs: string, net?: NetworkSetup): Promise<string> {
  const dir = containerDir(ctx, c.id);
  const hostNetwork = c.hostConfig.NetworkMode === "host";
  const files = {
    hostname: path.join(dir, "hostname"),
    hosts: path.join(dir, "hosts"),
    resolv: path.join(dir, "resolv.conf"),
  };
  fs.writeFileSync(files.hostname, (c.config.Hostname || os.hostname()) + "\n");
  fs.writeFileSync(files.hosts, hostNetwork ? safeRead("/etc/hosts") : (net?.hosts ?? hostsFile(c)));
  fs.writeFileSync(files.resolv, net?.resolv ?? (hostNetwork && !(c.hostConfig.Dns ?? []).length ? safeRead("/etc/resolv.conf") : resolvConf(c, net?.dnsServer)));

  const user = resolveUser(rootfs, c.config.User || undefined, c.hostConfig.GroupAdd ?? []);
  const env = [...(c.config.Env ?? [])];
  if (!env.some((e) => e.startsWith("HOSTNAME="))) env.push(`HOSTNAME=${c.config.Hostname || os.hostname()}`);
  if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${user.home || "/"}`);
  if (c.config.Tty && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");
  const spec = buildSpec({
    id: c.id,
    rootfs,
    config: c.config,
    hostConfig: c.hostConfig,
    args: processArgs(c),
    env,
    cwd: c.config.WorkingDir || "/",
    user,
    network: net?.spec ?? (hostNetwork ? { mode: "host" } : { mode: "none" }),
    cgroupsPath: containerCgroupsPath(ctx.paths, c.id),
    extraMounts: [
      { destination: "/etc/hostname", type: "bind", source: files.hostname, options: ["rbind", "rprivate"] },
      { destination: "/etc/hosts", type: "bind", source: files.hosts, options: ["rbind", "rprivate"] },
      { destination: "/etc/resolv.conf", type: "bind", source: files.resolv, options: ["rbind", "rprivate"] },
    ],
    volumePath: (name: string) => ctx.volumes.ensure(name),
  });
  // Some levels take the same bundle with changes (runsc: less what it cannot).
  const final = handlerFor(c.hostConfig).adjustSpec?.(spec) ?? spec;
  fs.writeFileSync(path.join(dir, "config.json"), specToJson(final));
  return dir;
}

function safeRead(f: string): string {
  try {
    return fs.readFileSync(f, "utf8");
  } catch {
    return "";
  }
}
