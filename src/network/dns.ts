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
  const pf = pidPath(runRoot, networkId);
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

/** Network id prefixes that have server files (for reconcile and reset). */
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
