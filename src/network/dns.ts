// Names by DNS on user-defined networks: one dnsmasq (Debian's dnsmasq-base)
// per network with running containers, listening only on the bridge's gateway
// address, answering the network's names from a hosts file the engine
// rewrites (SIGHUP reloads it) and forwarding the rest to the host's
// resolvers. Absent dnsmasq, names still resolve through /etc/hosts.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { systemError } from "../util/errors.ts";

export const DNSMASQ = process.env.CAPSA_DNSMASQ ?? "/usr/sbin/dnsmasq";

export function dnsAvailable(): boolean {
  try {
    fs.accessSync(DNSMASQ, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const dnsDir = (runRoot: string): string => path.join(runRoot, "dns");
const base = (runRoot: string, networkId: string): string => path.join(dnsDir(runRoot), networkId.slice(0, 16));
export const dnsHostsPath = (runRoot: string, networkId: string): string => base(runRoot, networkId) + ".hosts";
const pidPath = (runRoot: string, networkId: string): string => base(runRoot, networkId) + ".pid";

/** The server's pid, when one runs for this network (checked against its command line, not only the pid file). */
export function serverPid(runRoot: string, networkId: string): number | undefined {
  return pidOf(pidPath(runRoot, networkId));
}

/** Writes the network's names and makes sure a server answers them (started, or told to reload). */
export function syncServer(runRoot: string, n: { Id: string; Gateway: string; Internal: boolean }, lines: string[]): void {
  fs.mkdirSync(dnsDir(runRoot), { recursive: true, mode: 0o700 });
  const hosts = dnsHostsPath(runRoot, n.Id);
  fs.writeFileSync(hosts + ".tmp", lines.join("\n") + "\n");
  fs.renameSync(hosts + ".tmp", hosts);
  const pid = serverPid(runRoot, n.Id);
  if (pid) {
    process.kill(pid, "SIGHUP");
    return;
  }
  const args = [
    "--conf-file=/dev/null",
    `--pid-file=${pidPath(runRoot, n.Id)}`,
    `--listen-address=${n.Gateway}`,
    "--bind-interfaces",
    "--except-interface=lo",
    `--addn-hosts=${hosts}`,
    // The state root is private (0700): the server keeps root to re-read the hosts file on SIGHUP.
    "--user=root",
    "--group=root",
    `--log-facility=${base(runRoot, n.Id)}.log`,
    "--cache-size=0",
    // An internal network answers its own names only.
    ...(n.Internal ? ["--no-resolv", "--no-hosts"] : []),
  ];
  try {
    execFileSync(DNSMASQ, args, { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
  } catch (e) {
    // Another process started it first (the address is taken): that one reloads instead.
    for (let i = 0; i < 20; i++) {
      const other = serverPid(runRoot, n.Id);
      if (other) {
        process.kill(other, "SIGHUP");
        return;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
    throw systemError(`start dnsmasq on ${n.Gateway}`, (e as { stderr?: Buffer }).stderr?.toString().trim() || e);
  }
}

/** Stops the network's server and removes its files. Idempotent. */
export function stopServer(runRoot: string, networkId: string): void {
  const pid = serverPid(runRoot, networkId);
  if (pid) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      /* already gone */
    }
  }
  for (const ext of [".pid", ".hosts", ".log"]) fs.rmSync(base(runRoot, networkId) + ext, { force: true });
}

/** Network id prefixes that have server files (for reconcile and reset); container resolvers are listed as "c-<id prefix>". */
export function listServers(runRoot: string): string[] {
  try {
    return fs
      .readdirSync(dnsDir(runRoot))
      .filter((f) => f.endsWith(".pid"))
      .map((f) => f.slice(0, -4));
  } catch {
    return [];
  }
}

// A container on two or more user-defined networks resolves the names of all
// of them (as docker's embedded DNS does): it gets a resolver of its own,
// dnsmasq run inside its network namespace on 127.0.0.11, reading the hosts
// files of its networks' servers and forwarding the rest to the host's
// (non-loopback) resolvers. One network's server cannot do it: it answers
// every client the same, and the other containers on that network must not
// see the second network's names.
export const CONTAINER_RESOLVER = "127.0.0.11";
const cbase = (runRoot: string, containerId: string): string => path.join(dnsDir(runRoot), `c-${containerId.slice(0, 16)}`);

export function containerServerPid(runRoot: string, containerId: string): number | undefined {
  return pidOf(cbase(runRoot, containerId) + ".pid");
}

/** The pid in a pid file, when that process still runs with the file on its command line. */
function pidOf(pf: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(fs.readFileSync(pf, "utf8").trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(pf) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The host's resolvers a namespace can reach (loopback ones cannot be). */
function upstreams(): string[] {
  try {
    return [...fs.readFileSync("/etc/resolv.conf", "utf8").matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!).filter((a) => !/^(127\.|::1$)/.test(a));
  } catch {
    return [];
  }
}

/** (Re)starts the container's resolver on these networks' hosts files; `forward`: other names go to the host's resolvers. */
export function startContainerServer(runRoot: string, containerId: string, netns: string, hostsFiles: string[], forward: boolean): void {
  stopContainerServer(runRoot, containerId);
  fs.mkdirSync(dnsDir(runRoot), { recursive: true, mode: 0o700 });
  const b = cbase(runRoot, containerId);
  const args = [
    `--net=${netns}`,
    DNSMASQ,
    "--conf-file=/dev/null",
    `--pid-file=${b}.pid`,
    `--listen-address=${CONTAINER_RESOLVER}`,
    "--bind-interfaces",
    "--no-hosts",
    "--no-resolv",
    ...hostsFiles.map((h) => `--addn-hosts=${h}`),
    ...(forward ? upstreams().map((s) => `--server=${s}`) : []),
    "--user=root",
    "--group=root",
    `--log-facility=${b}.log`,
    "--cache-size=0",
  ];
  try {
    execFileSync("nsenter", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
  } catch (e) {
    throw systemError(`start dnsmasq on ${CONTAINER_RESOLVER} in ${netns}`, (e as { stderr?: Buffer }).stderr?.toString().trim() || e);
  }
}

/** Tells the container's resolver (if it has one) to re-read the hosts files. */
export function reloadContainerServer(runRoot: string, containerId: string): void {
  const pid = containerServerPid(runRoot, containerId);
  if (pid) process.kill(pid, "SIGHUP");
}

/** Stops the container's resolver and removes its files. Idempotent. */
export function stopContainerServer(runRoot: string, containerId: string): void {
  const pid = containerServerPid(runRoot, containerId);
  if (pid) {
    try {
      process.kill(pid, "SIGTERM");
      // A successor binds the same address: wait (bounded) for this one to let go of it.
      for (let i = 0; i < 40 && fs.existsSync(`/proc/${pid}`); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
    } catch {
      /* already gone */
    }
  }
  for (const ext of [".pid", ".log"]) fs.rmSync(cbase(runRoot, containerId) + ext, { force: true });
}
