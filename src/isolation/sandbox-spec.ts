// The sandbox level's changes to a container's config.json before runsc sees
// it. buildSpec stays runtime-neutral; everything runsc needs differently is
// here, in one place (decision 0005).
import type { OciCapabilities, RuntimeSpec } from "../runtime/oci.ts";
import { invalid } from "../util/errors.ts";

/**
 * The smallest --pids-limit a sandbox gets. The limit holds the whole sandbox
 * in its cgroup, gVisor's own ~40 host threads (Sentry, gofer) included:
 * below this the sandbox cannot start, or its workload cannot fork.
 */
export const SANDBOX_MIN_PIDS = 64;

/**
 * The capabilities runsc 2022 knows (Linux's first 38, CAP_CHOWN … CAP_AUDIT_READ).
 * It refuses to start a sandbox whose spec names a later one (CAP_PERFMON,
 * CAP_BPF, CAP_CHECKPOINT_RESTORE: --privileged has them), and gVisor's kernel
 * implements none of those anyway.
 */
export const RUNSC_CAPABILITIES: ReadonlySet<string> = new Set([
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
  "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
]);

function knownCaps(caps: OciCapabilities): OciCapabilities {
  const out: OciCapabilities = { ...caps };
  for (const k of ["bounding", "effective", "permitted", "inheritable", "ambient"] as const) {
    const set = caps[k];
    if (set) out[k] = set.filter((c) => RUNSC_CAPABILITIES.has(c));
  }
  return out;
}

/** config.json for runsc: the same container, minus what runsc cannot take. Pure: returns a new spec. */
export function adjustSpecForSandbox(spec: RuntimeSpec): RuntimeSpec {
  const pids = spec.linux.resources?.pids?.limit;
  if (pids !== undefined && pids > 0 && pids < SANDBOX_MIN_PIDS) {
    throw invalid(`--pids-limit ${pids} is too low for --isolation sandbox: gVisor's own threads count too, use at least ${SANDBOX_MIN_PIDS}`);
  }
  return { ...spec, process: { ...spec.process, capabilities: knownCaps(spec.process.capabilities) } };
}
