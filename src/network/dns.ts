// Names by DNS on user-defined networks: one dnsmasq (Debian's dnsmasq-base)
// per network with running containers, listening only on the bridge's gateway
// address, answering the network's names from a hosts file the engine
// rewrites (SIGHUP reloads it) and forwarding the rest to the host's
// resolvers. Absent dnsmasq, names still resolve through /etc/hosts.
//
// Every dnsmasq runs with the least it needs: its own mount namespace, a
// bounding set of what it uses to bind port 53 and drop root, no new
// privileges, and its own --user (nobody) once bound. The state root may be
// closed to other users (0700): in the server's own root the parents of the
// dns directory are open, so nobody still reads the hosts files on SIGHUP.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { systemError } from "../util/errors.ts";

export const DNSMASQ = process.env.CAPSA_DNSMASQ ?? "/usr/sbin/dnsmasq";

/** Blocks this thread (the callers are synchronous, and the waits short). */
const sleepSync = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

export function dnsAvailable(): boolean {
  try {
    fs.accessSync(DNSMASQ, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const dnsDir = (runRoot: string): string => path.join(runRoot, "dns");
/** The directory of server files: root's, but the unprivileged server may open its hosts files by name. */
function makeDnsDir(runRoot: string): void {
  fs.mkdirSync(dnsDir(runRoot), { recursive: true, mode: 0o711 });
  fs.chmodSync(dnsDir(runRoot), 0o711);
}
const base = (runRoot: string, networkId: string): string => path.join(dnsDir(runRoot), networkId.slice(0, 16));
export const dnsHostsPath = (runRoot: string, networkId: string): string => base(runRoot, networkId) + ".hosts";
const pidPath = (runRoot: string, networkId: string): string => base(runRoot, networkId) + ".pid";

/** The server's pid, when one runs for this network (checked against its command line, not only the pid file). */
export function serverPid(runRoot: string, networkId: string): number | undefined {
  return pidOf(pidPath(runRoot, networkId));
}

/** Writes the network's names and makes sure a server answers them (started, or told to reload). */
export function syncServer(runRoot: string, n: { Id: string; Gateway: string; Internal: boolean }, lines: string[]): void {
  makeDnsDir(runRoot);
  const hosts = dnsHostsPath(runRoot, n.Id);
  fs.writeFileSync(hosts + ".tmp", lines.join("\n") + "\n", { mode: 0o644 });
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
    ...unprivileged(),
    `--log-facility=${base(runRoot, n.Id)}.log`,
    "--cache-size=0",
    // An internal network answers its own names only.
    ...(n.Internal ? ["--no-resolv", "--no-hosts"] : []),
  ];
  const [cmd, ...rest] = confined(runRoot, args);
  try {
    execFileSync(cmd, rest, { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
  } catch (e) {
    // Another process started it first (the address is taken): that one reloads instead.
    for (let i = 0; i < 20; i++) {
      const other = serverPid(runRoot, n.Id);
      if (other) {
        process.kill(other, "SIGHUP");
        return;
      }
      sleepSync(50);
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
  makeDnsDir(runRoot);
  const b = cbase(runRoot, containerId);
  const args = [
    "--conf-file=/dev/null",
    `--pid-file=${b}.pid`,
    `--listen-address=${CONTAINER_RESOLVER}`,
    "--bind-interfaces",
    "--no-hosts",
    "--no-resolv",
    ...hostsFiles.map((h) => `--addn-hosts=${h}`),
    ...(forward ? upstreams().map((s) => `--server=${s}`) : []),
    ...unprivileged(),
    `--log-facility=${b}.log`,
    "--cache-size=0",
  ];
  const [cmd, ...rest] = confined(runRoot, args);
  try {
    execFileSync("nsenter", [`--net=${netns}`, cmd, ...rest], { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
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
      for (let i = 0; i < 40 && fs.existsSync(`/proc/${pid}`); i++) sleepSync(25);
    } catch {
      /* already gone */
    }
  }
  for (const ext of [".pid", ".log"]) fs.rmSync(cbase(runRoot, containerId) + ext, { force: true });
}

// ---------- confinement ----------

/**
 * Run by sh in the server's new mount namespace ($1: the dns directory, then
 * the command): a root of its own holding only what dnsmasq reads (read-only
 * /usr, the library and binary directories, /etc with resolv.conf and hosts
 * wherever they point (a symlink's target directory, so that a resolver
 * replacing the file is followed), /dev/null, /dev/urandom) and the dns directory at its
 * own path, whose fresh parents anyone may pass through; the host's tree is
 * detached, so the server holds none of its mounts (containers' network
 * namespaces among them).
 */
const NEW_ROOT = String.raw`set -e
dns=$1; shift
r=$dns/.root
mount -t tmpfs -o mode=0755,size=1m capsa-dns "$r"
for d in usr bin sbin lib lib32 lib64 libx32 etc; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$r/$d"
  elif [ -d "/$d" ]; then mkdir "$r/$d"; mount --bind -o ro "/$d" "$r/$d"
  fi
done
for f in /etc/resolv.conf /etc/hosts /etc/passwd /etc/group; do
  [ -e "$f" ] || continue
  t=$(realpath "$f")
  if mountpoint -q "$t"; then
    [ -e "$r$t" ] || { mkdir -p "$r$(dirname "$t")"; touch "$r$t"; }
    mount --bind -o ro "$t" "$r$t"
  elif [ ! -e "$r$t" ]; then
    d=$(dirname "$t"); mkdir -p "$r$d"; mount --bind -o ro "$d" "$r$d"
  fi
done
mkdir "$r/dev" "$r/proc" "$r/.old"
for f in null urandom; do touch "$r/dev/$f"; mount --bind "/dev/$f" "$r/dev/$f"; done
mkdir -p "$r$dns"
mount --bind "$dns" "$r$dns"
cd "$r"
pivot_root . .old
mount -t proc proc /proc
umount -l /.old
umount /proc
rmdir /.old /proc
mount -o remount,ro /
exec "$@"`;

/** dnsmasq's own privilege drop, once its socket is bound: to nobody (and its group, when the host names one). */
function unprivileged(): string[] {
  let groups = "";
  try {
    groups = fs.readFileSync("/etc/group", "utf8");
  } catch {
    /* no group file: dnsmasq's default */
  }
  const group = ["nogroup", "nobody"].find((g) => new RegExp(`^${g}:`, "m").test(groups));
  return ["--user=nobody", ...(group ? [`--group=${group}`] : [])];
}

/**
 * The command that runs dnsmasq with these arguments confined: its own mount
 * namespace and root (NEW_ROOT), then setpriv: a bounding set of what dnsmasq
 * needs to bind port 53 and become nobody (it gives up all of it then), and
 * no new privileges.
 */
function confined(runRoot: string, args: string[]): [string, ...string[]] {
  fs.mkdirSync(path.join(dnsDir(runRoot), ".root"), { mode: 0o700, recursive: true });
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    NEW_ROOT,
    "sh",
    // As given, not resolved: the arguments name files through this path.
    dnsDir(runRoot),
    "setpriv",
    "--bounding-set",
    "-all,+chown,+setuid,+setgid,+net_bind_service",
    "--no-new-privs",
    DNSMASQ,
    ...args,
  ];
}
