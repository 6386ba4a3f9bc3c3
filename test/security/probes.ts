// What a workload tries first to get out of its box, as one busybox sh script
// that prints `name=denied` or `name=allowed` per probe. Every probe is harmless
// even where it succeeds (it writes back the value it read, creates a dummy
// device in the workload's own network namespace, sets the clock to the time it
// already shows, ...), so a test may run it against any isolation level, and
// against dockerd for comparison.

/** The probes, each a shell condition that holds when the attempt succeeded. */
export const PROBES: Record<string, string> = {
  // CAP_SYS_ADMIN: mounting, namespaces, the host name.
  mount_tmpfs: "mount -t tmpfs probe /mnt",
  unshare_mount: "unshare -m true",
  unshare_user: "unshare -U true",
  sethostname: 'hostname "$(hostname)"',
  // CAP_SYS_TIME: the clock is set to what it shows already.
  // (busybox date reports a refused clock_settime on stderr but exits 0)
  settime: '! date -s "$(date +%Y-%m-%d\\ %H:%M:%S)" 2>&1 | grep -q "can\'t set"',
  // CAP_NET_ADMIN: a dummy link in the workload's own network namespace.
  ip_link_add: "ip link add probe0 type dummy",
  // CAP_SYS_NICE
  raise_priority: "nice -n -5 true",
  // CAP_SYSLOG / seccomp: the kernel's log.
  read_kernel_log: "dmesg",
  // The device cgroup: a block device node made here must not open.
  open_block_device: "mknod /tmp/probe-blk b 7 0 && head -c 1 /tmp/probe-blk",
  // Read-only /proc/sys (the value read is written back), /proc/sysrq-trigger and /sys
  // (their mount options: busybox's `test -w` answers yes for root on a read-only mount).
  write_proc_sys: "v=$(cat /proc/sys/vm/overcommit_ratio) && echo $v > /proc/sys/vm/overcommit_ratio",
  write_sysrq_trigger: "mounted_rw /proc/sysrq-trigger",
  write_sys: "mounted_rw /sys",
  // Masked /proc files read empty (or do not exist).
  read_timer_list: "[ $(head -c 64 /proc/timer_list 2>/dev/null | wc -c) -gt 0 ]",
  read_interrupts: "[ $(head -c 64 /proc/interrupts 2>/dev/null | wc -c) -gt 0 ]",
  // Host memory and ports as device files.
  open_dev_mem: "head -c 1 /dev/mem",
  open_dev_port: "head -c 1 /dev/port",
  // The pid namespace: more than a handful of processes means the host's (or the guest agent's) are visible.
  see_other_processes: "[ $(ls -d /proc/[0-9]* | wc -l) -gt 6 ]",
};

/** The probes docker 28 denies by its defaults (caps, seccomp, masked and read-only paths, device cgroup). */
export const DENIED_BY_DOCKER = Object.keys(PROBES);
/** Of those, the ones docker 20.10 (the dockerd Debian 12 ships) still allows: docker 28 masks /proc/interrupts. */
export const DENIED_SINCE_DOCKER_28 = ["read_interrupts"];

/** One script for `sh -c`: a line per probe, then the effective capabilities and the seccomp mode. */
export function probeScript(): string {
  // The last options of the last mount on a path (later mounts hide earlier ones).
  const lines = [`mounted_rw() { awk -v m="$1" '$2 == m { o = $4 } END { exit !(o ~ /(^|,)rw(,|$)/) }' /proc/mounts; }`];
  lines.push(...Object.entries(PROBES).map(([name, cond]) => `if ( ${cond} ) >/dev/null 2>&1; then echo ${name}=allowed; else echo ${name}=denied; fi`));
  lines.push(`echo "CapEff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)"`);
  lines.push(`echo "Seccomp=$(sed -n 's/^Seccomp:[[:space:]]*//p' /proc/self/status)"`);
  return lines.join("\n");
}

export interface ProbeResult {
  outcome: Map<string, "denied" | "allowed">;
  capEff: bigint;
  seccomp: string;
}

export function parseProbeOutput(out: string): ProbeResult {
  const outcome = new Map<string, "denied" | "allowed">();
  let capEff = -1n;
  let seccomp = "";
  for (const line of out.split("\n")) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, k, v] = m as unknown as [string, string, string];
    if (k === "CapEff") capEff = BigInt("0x" + (v || "ffffffffffffffff"));
    else if (k === "Seccomp") seccomp = v;
    else if (v === "denied" || v === "allowed") outcome.set(k, v);
  }
  for (const name of Object.keys(PROBES)) if (!outcome.has(name)) throw new Error(`probe ${name} printed nothing:\n${out}`);
  return { outcome, capEff, seccomp };
}

/** The probes a result allows, out of those given. */
export function allowedOf(r: ProbeResult, names: string[]): string[] {
  return names.filter((n) => r.outcome.get(n) === "allowed");
}
