// The container's mounts: docker's defaults (/proc, /dev, /dev/pts, /dev/shm,
// /dev/mqueue, /sys, /sys/fs/cgroup), the engine's files (hostname, hosts,
// resolv.conf), and the user's -v Binds, --mount Mounts and --tmpfs, which
// replace a default or engine mount with the same destination.
import fs from "node:fs";
import path from "node:path";
import type { HostConfig, MountSpec } from "../types/records.ts";
import { invalid } from "../util/errors.ts";
import type { OciMount } from "./oci.ts";

export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

export function defaultMounts(opts: { privileged: boolean; shmSize?: number }): OciMount[] {
  const sysOpts = opts.privileged ? ["nosuid", "noexec", "nodev"] : ["nosuid", "noexec", "nodev", "ro"];
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: sysOpts },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: [...sysOpts, "relatime"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${opts.shmSize && opts.shmSize > 0 ? opts.shmSize : DEFAULT_SHM_SIZE}`],
    },
  ];
}

const PROPAGATIONS = new Set(["shared", "rshared", "slave", "rslave", "private", "rprivate"]);
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function checkDestination(dest: string, what: string): string {
  if (!path.isAbsolute(dest)) throw invalid(`invalid mount config for ${what}: mount path must be absolute: ${dest}`);
  const clean = path.normalize(dest).replace(/\/+$/, "") || "/";
  if (clean === "/") throw invalid(`invalid mount config for ${what}: destination can't be '/'`);
  return clean;
}

/** A user mount before translation, with what decides the root's propagation. */
interface UserMount {
  mount: OciMount;
  propagation?: string;
}

function bindOptions(readOnly: boolean, propagation: string | undefined): string[] {
  return ["rbind", propagation ?? "rprivate", ...(readOnly ? ["ro"] : [])];
}

/** One -v entry: "/host:/ctr[:opts]", "name:/ctr[:opts]" (named volume) or "/ctr" (anonymous volume). */
export function translateBind(bind: string, volumePath: (name: string) => string): UserMount {
  const parts = bind.split(":");
  if (parts.length > 3 || parts.some((p) => p === "")) throw invalid(`invalid volume specification: '${bind}'`);
  let source: string | undefined;
  let dest: string;
  let mode = "";
  if (parts.length === 1) {
    dest = parts[0] ?? "";
  } else {
    source = parts[0];
    dest = parts[1] ?? "";
    mode = parts[2] ?? "";
  }
  dest = checkDestination(dest, `-v ${bind}`);
  let readOnly = false;
  let rwSeen = false;
  let propagation: string | undefined;
  for (const opt of mode ? mode.split(",") : []) {
    if (opt === "ro" || opt === "rw") {
      if (rwSeen) throw invalid(`invalid mode: ${mode}`);
      rwSeen = true;
      readOnly = opt === "ro";
    } else if (PROPAGATIONS.has(opt)) {
      if (propagation) throw invalid(`invalid mode: ${mode}`);
      propagation = opt;
    } else if (opt === "z" || opt === "Z" || opt === "nocopy" || opt === "consistent" || opt === "cached" || opt === "delegated") {
      // SELinux relabelling (no SELinux here), copy-up (the engine's) and macOS consistency: nothing to do in the spec.
    } else {
      throw invalid(`invalid mode: ${mode}`);
    }
  }
  let hostPath: string;
  if (source === undefined) {
    hostPath = volumePath("");
  } else if (path.isAbsolute(source)) {
    hostPath = path.normalize(source);
    // docker creates a missing -v source directory (unlike --mount).
    fs.mkdirSync(hostPath, { recursive: true });
  } else {
    if (!VOLUME_NAME.test(source)) {
      throw invalid(`"${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
    }
    hostPath = volumePath(source);
  }
  const m: UserMount = { mount: { destination: dest, type: "bind", source: hostPath, options: bindOptions(readOnly, propagation) } };
  if (propagation) m.propagation = propagation;
  return m;
}

function tmpfsOptions(user: string[]): string[] {
  // docker's defaults, each replaced by its opposite when the user gives one.
  const opposites: Record<string, string> = { noexec: "exec", nosuid: "suid", nodev: "dev" };
  const out: string[] = [];
  for (const [def, opp] of Object.entries(opposites)) if (!user.includes(def) && !user.includes(opp)) out.push(def);
  for (const o of user) {
    if (!/^(ro|rw|exec|noexec|suid|nosuid|dev|nodev|sync|async|dirsync|atime|noatime|diratime|nodiratime|relatime|norelatime|strictatime|nostrictatime|size=\d+[kmgKMG%]?|mode=[0-7]{3,4}|uid=\d+|gid=\d+|nr_inodes=\d+[kmgKMG]?|nr_blocks=\d+[kmgKMG]?|huge=\w+|mpol=\S+)$/.test(o)) {
      throw invalid(`invalid tmpfs option: ${o}`);
    }
    out.push(o);
  }
  return out;
}

export function translateTmpfs(dest: string, options: string): UserMount {
  const d = checkDestination(dest, `--tmpfs ${dest}`);
  return { mount: { destination: d, type: "tmpfs", source: "tmpfs", options: tmpfsOptions(options ? options.split(",").filter(Boolean) : []) } };
}

export function translateMountSpec(m: MountSpec, volumePath: (name: string) => string): UserMount {
  const dest = checkDestination(m.Target ?? "", `type "${m.Type}"`);
  switch (m.Type) {
    case "bind": {
      if (!m.Source || !path.isAbsolute(m.Source)) throw invalid(`invalid mount config for type "bind": invalid mount path: '${m.Source ?? ""}' mount path must be absolute`);
      if (!fs.existsSync(m.Source)) throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${m.Source}`);
      const prop = m.BindOptions?.Propagation || undefined;
      if (prop && !PROPAGATIONS.has(prop)) throw invalid(`invalid propagation mode: ${prop}`);
      const out: UserMount = { mount: { destination: dest, type: "bind", source: path.normalize(m.Source), options: bindOptions(!!m.ReadOnly, prop) } };
      if (prop) out.propagation = prop;
      return out;
    }
    case "volume": {
      if (m.Source && !VOLUME_NAME.test(m.Source)) throw invalid(`invalid mount config for type "volume": invalid volume name "${m.Source}"`);
      return { mount: { destination: dest, type: "bind", source: volumePath(m.Source ?? ""), options: bindOptions(!!m.ReadOnly, undefined) } };
    }
    case "tmpfs": {
      if (m.Source) throw invalid(`invalid mount config for type "tmpfs": source must not be specified`);
      const opts: string[] = [];
      if (m.ReadOnly) opts.push("ro");
      if (m.TmpfsOptions?.SizeBytes) opts.push(`size=${m.TmpfsOptions.SizeBytes}`);
      if (m.TmpfsOptions?.Mode !== undefined) opts.push(`mode=${m.TmpfsOptions.Mode.toString(8).padStart(4, "0")}`);
      return { mount: { destination: dest, type: "tmpfs", source: "tmpfs", options: tmpfsOptions(opts) } };
    }
    default:
      throw invalid(`invalid mount config: mount type unknown: "${(m as { Type: string }).Type}"`);
  }
}

const depth = (p: string): number => p.split("/").filter(Boolean).length;

/**
 * All mounts in the order to mount them, and the root propagation the user's
 * shared/slave binds need (docker sets the rootfs to rshared/rslave for them).
 */
export function assembleMounts(opts: {
  hostConfig: HostConfig;
  privileged: boolean;
  extraMounts: OciMount[];
  volumePath: (name: string) => string;
}): { mounts: OciMount[]; rootfsPropagation?: string } {
  const hc = opts.hostConfig;
  const user: UserMount[] = [
    ...(hc.Binds ?? []).map((b) => translateBind(b, opts.volumePath)),
    ...(hc.Mounts ?? []).map((m) => translateMountSpec(m, opts.volumePath)),
    ...Object.entries(hc.Tmpfs ?? {}).map(([d, o]) => translateTmpfs(d, o)),
  ];
  const userDests = new Set<string>();
  for (const u of user) {
    if (userDests.has(u.mount.destination)) throw invalid(`Duplicate mount point: ${u.mount.destination}`);
    userDests.add(u.mount.destination);
  }
  const userDev = userDests.has("/dev");
  const kept = [...defaultMounts({ privileged: opts.privileged, shmSize: hc.ShmSize }), ...opts.extraMounts].filter(
    (m) => !userDests.has(m.destination) && !(userDev && m.destination.startsWith("/dev/")),
  );
  const sortedUser = user.map((u) => u.mount).sort((a, b) => depth(a.destination) - depth(b.destination));
  let rootfsPropagation: string | undefined;
  for (const u of user) {
    if (u.propagation === "shared" || u.propagation === "rshared") rootfsPropagation = "rshared";
    else if ((u.propagation === "slave" || u.propagation === "rslave") && rootfsPropagation !== "rshared") rootfsPropagation = "rslave";
  }
  const out: { mounts: OciMount[]; rootfsPropagation?: string } = { mounts: [...kept, ...sortedUser] };
  if (rootfsPropagation) out.rootfsPropagation = rootfsPropagation;
  return out;
}
