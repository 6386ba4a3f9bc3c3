// How long a guest may take from QEMU's start to the agent's answer before
// the VM is stopped and the start reported as failed: TCG on a loaded host is
// slow, a hung guest must never hang capsa. CAPSA_VM_BOOT_TIMEOUT, in seconds.
export function vmBootTimeoutSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.CAPSA_VM_BOOT_TIMEOUT);
  return Number.isFinite(v) && v > 0 ? v : 60;
}
