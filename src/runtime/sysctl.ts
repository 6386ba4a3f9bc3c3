// --sysctl: only namespaced kernel parameters, as docker allows them; a
// net.* parameter needs the container's own network namespace (it would
// change the host's otherwise).
import { invalid } from "../util/errors.ts";

const IPC_SYSCTLS = new Set(["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]);

export function validateSysctls(sysctls: Record<string, string> | undefined, opts: { ownNetns: boolean }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(sysctls ?? {})) {
    const k = key.replaceAll("/", ".");
    if (IPC_SYSCTLS.has(k) || k.startsWith("fs.mqueue.")) {
      out[k] = value;
    } else if (k.startsWith("net.")) {
      if (!opts.ownNetns) throw invalid(`sysctl "${key}" is not allowed in host network mode`);
      out[k] = value;
    } else {
      throw invalid(`sysctl "${key}" is not namespaced; allowed: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.* (with a private network namespace)`);
    }
  }
  return out;
}
