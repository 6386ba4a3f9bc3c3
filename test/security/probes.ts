// What a workload tries first to get out of its box, as one busybox sh script
// that prints `name=denied` or `name=allowed` per probe, then facts about the
// process (`capeff=…`). Shared by the isolation levels' security tests.
//
// Every probe is harmless even where it succeeds — it writes back the value it
// read, makes a dummy link in the workload's own network namespace and removes
// it, sets the clock to the time it already shows, reads a byte — so a test may
// run it at any level, and in dockerd for comparison, without a confinement bug
// ever turning into a change of the host.
import assert from "node:assert/strict";

/** The probes: a shell condition that holds when the attempt succeeded. */
export const PROBES: Record<string, string> = {
  // CAP_SYS_ADMIN (and seccomp, which gates mount and unshare on it).
  mount: "mount -t tmpfs probe /tmp && umount /tmp",
  "unshare-mount": "unshare -m true",
  userns: "unshare -U true",
  hostname: 'hostname "$(hostname)"',
  // CAP_SYS_TIME: busybox date reports a refused clock_settime on stderr but exits 0.
  settime: '! date -s "$(date +%Y-%m-%d\\ %H:%M:%S)" 2>&1 | grep -q "can\'t set"',
  // CAP_NET_ADMIN, in the workload's own network namespace.
  netadmin: "ip link add probe0 type dummy && ip link del probe0",
  // CAP_SYS_NICE
  nice: "nice -n -5 true",
  // CAP_SYSLOG, and seccomp's gate on syslog(2)
  dmesg: "dmesg",
  // The device cgroup (a guest without one: nodev mounts): nodes made here must not open.
  blockdev: "mknod /tmp/.probe-blk b 7 0 && head -c 1 /tmp/.probe-blk",
  devmem: "mknod /tmp/.probe-mem c 1 1 && head -c 1 /tmp/.probe-mem",
  // Read-only /proc/sys, /proc/sysrq-trigger and /sys: what is read is written back ("h" only prints sysrq's help).
  procsys: "v=$(cat /proc/sys/vm/overcommit_ratio) && echo \"$v\" > /proc/sys/vm/overcommit_ratio",
  "modprobe-path": "v=$(cat /proc/sys/kernel/modprobe) && echo \"$v\" > /proc/sys/kernel/modprobe",
  sysrq: "echo h > /proc/sysrq-trigger",
  sysfs: "v=$(cat /sys/kernel/uevent_helper) && echo \"$v\" > /sys/kernel/uevent_helper",
  // Masked /proc files read empty, or do not exist.
  "timer-list": "[ $(head -c 64 /proc/timer_list 2>/dev/null | wc -c) -gt 0 ]",
  interrupts: "[ $(head -c 64 /proc/interrupts 2>/dev/null | wc -c) -gt 0 ]",
  kcore: "[ $(head -c 16 /proc/kcore 2>/dev/null | wc -c) -gt 0 ]",
  // The pid namespace: more than a handful of processes means the host's (or the guest agent's) are visible.
  "other-procs": "[ $(ls -d /proc/[0-9]* | wc -l) -gt 6 ]",
  // The root file system is writable by default (`--read-only` makes it not).
  "rw-root": "touch /.probe-rw && rm /.probe-rw",
};

/** The probes docker 28 denies by its defaults (caps, seccomp, masked and read-only paths, device cgroup). */
export const DENIED_BY_DOCKER = Object.keys(PROBES).filter((p) => p !== "rw-root");
/** Of those, what docker 20.10 (the dockerd Debian 12 ships) still allows: docker 28 masks /proc/interrupts. */
export const DENIED_SINCE_DOCKER_28 = ["interrupts"];

/** Every probe and fact a level must answer as a container does with the same flags. */
export const COMPARED = [...Object.keys(PROBES), "capeff", "capbnd", "capprm", "nnp", "seccomp", "ids"];

/**
 * With CAP_SYS_ADMIN and no seccomp filter, Linux lets a process read the kernel
 * log (the historical CAP_SYS_ADMIN fallback of syslog(2)); this host's kernel
 * refuses it in a container anyway. In a VM or gVisor that log is the guest's or
 * the Sentry's own, never the host's, so these comparisons leave it out.
 */
export const COMPARED_WITH_SYS_ADMIN = COMPARED.filter((k) => k !== "dmesg");

/**
 * The script for `sh -c`: a line per probe, then the facts. It also defines
 * `p NAME CMD…` (allowed when CMD succeeds) for a caller's own probes appended to it.
 */
export function probeScript(): string {
  const lines = [`p() { n=$1; shift; if "$@" >/dev/null 2>&1; then echo "$n=allowed"; else echo "$n=denied"; fi; }`];
  for (const [name, cond] of Object.entries(PROBES)) lines.push(`if ( ${cond} ) >/dev/null 2>&1; then echo ${name}=allowed; else echo ${name}=denied; fi`);
  for (const [fact, field] of [["capeff", "CapEff"], ["capbnd", "CapBnd"], ["capprm", "CapPrm"], ["nnp", "NoNewPrivs"], ["seccomp", "Seccomp"]]) {
    lines.push(`echo "${fact}=$(sed -n 's/^${field}:[[:space:]]*//p' /proc/self/status)"`);
  }
  lines.push(`echo "ids=$(id -u) $(id -G)"`);
  return lines.join("\n") + "\n";
}

/** name → value of every `name=value` line. */
export function parseProbes(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of out.split("\n")) {
    const eq = l.indexOf("=");
    if (eq > 0) m.set(l.slice(0, eq), l.slice(eq + 1));
  }
  for (const name of Object.keys(PROBES)) if (!m.has(name)) throw new Error(`probe ${name} printed nothing:\n${out}`);
  return m;
}

/** The probes, out of those given, that a result allows. */
export function allowedOf(r: Map<string, string>, names: readonly string[]): string[] {
  return names.filter((n) => r.get(n) === "allowed");
}

export function sameAsContainer(level: Map<string, string>, ctr: Map<string, string>, what: string, keys: readonly string[] = COMPARED): void {
  for (const k of keys) assert.equal(level.get(k), ctr.get(k), `${what}: ${k} at this level (${level.get(k)}) as in a container (${ctr.get(k)})`);
}
