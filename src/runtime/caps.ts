// Capabilities as docker grants them: a default set, --cap-add/--cap-drop
// (names with or without CAP_, any case, ALL), and every capability for
// --privileged.
import fs from "node:fs";
import { invalid } from "../util/errors.ts";

/** Every capability Linux defines, in bit order (0 … 40, as of Linux 6.x). */
export const ALL_CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
  "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
  "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
] as const;

/**
 * docker's default set (moby oci/caps/defaults.go) less CAP_NET_RAW, as in
 * Podman: no raw sockets by default. `ping` still works through unprivileged
 * ICMP sockets (net.ipv4.ping_group_range, set in containers with their own
 * network namespace); `--cap-add NET_RAW` restores docker's set.
 */
export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

/**
 * The capabilities capsa can hand out: those this kernel knows (up to
 * /proc/sys/kernel/cap_last_cap) and that are in capsa's own bounding set
 * (inside another container some are gone; asking the runtime for them would
 * fail at start). This is what --privileged and --cap-add ALL grant.
 */
export function hostCapabilities(status: string | undefined = readProcSelfStatus()): string[] {
  let last = ALL_CAPABILITIES.length - 1;
  try {
    last = Math.min(last, Number(fs.readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim()));
  } catch {
    /* keep the full list */
  }
  const hex = status ? /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1] : undefined;
  const bounding = hex ? BigInt(`0x${hex}`) : undefined;
  return ALL_CAPABILITIES.slice(0, last + 1).filter((_c, bit) => bounding === undefined || ((bounding >> BigInt(bit)) & 1n) === 1n);
}

function readProcSelfStatus(): string | undefined {
  try {
    return fs.readFileSync("/proc/self/status", "utf8");
  } catch {
    return undefined;
  }
}

/** A capability set as the hex mask /proc/<pid>/status shows (CapEff: 00000000a80425fb). */
export function capabilityMask(caps: string[]): string {
  let mask = 0n;
  for (const c of caps) {
    const bit = (ALL_CAPABILITIES as readonly string[]).indexOf(c);
    if (bit >= 0) mask |= 1n << BigInt(bit);
  }
  return mask.toString(16).padStart(16, "0");
}

/** "net_raw", "CAP_NET_RAW", "Net_Raw" → "CAP_NET_RAW"; "all" → "ALL"; unknown names are an error. */
export function normalizeCapabilities(names: string[]): string[] {
  const out: string[] = [];
  for (const raw of names) {
    const up = raw.trim().toUpperCase();
    const name = up === "ALL" ? "ALL" : up.startsWith("CAP_") ? up : `CAP_${up}`;
    if (name !== "ALL" && !(ALL_CAPABILITIES as readonly string[]).includes(name)) throw invalid(`unknown capability: "${raw}"`);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** docker's TweakCapabilities: the effective set for a container. */
export function containerCapabilities(opts: { capAdd?: string[]; capDrop?: string[]; privileged?: boolean }): string[] {
  const all = hostCapabilities();
  if (opts.privileged) return all;
  const add = normalizeCapabilities(opts.capAdd ?? []);
  const drop = normalizeCapabilities(opts.capDrop ?? []);
  const missing = add.find((c) => c !== "ALL" && !all.includes(c));
  if (missing) throw invalid(`capability ${missing} is not available: capsa itself does not hold it (not in its bounding set)`);
  let caps: string[];
  if (add.includes("ALL")) caps = all.filter((c) => !drop.includes(c));
  else if (drop.includes("ALL")) caps = add;
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => all.includes(c) && !drop.includes(c)), ...add];
  return [...new Set(caps)];
}
