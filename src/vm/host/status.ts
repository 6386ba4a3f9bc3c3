// `capsa info`'s line for the vm level: whether VMs can run here, and how
// ("available (TCG (software emulation): KVM present but cannot boot a guest (…); guest kernel …)").
import type { Paths } from "../../types/paths.ts";
import { checkVmAssets, guestKernelRelease } from "./assets.ts";
import { probeAccel } from "./accel.ts";

export async function vmStatus(paths: Pick<Paths, "root">, env: NodeJS.ProcessEnv = process.env, onProbe?: () => void): Promise<{ available: boolean; detail: string }> {
  const missing = checkVmAssets(env);
  if (missing) return { available: false, detail: missing };
  const accel = await probeAccel(paths, env, onProbe);
  const kernel = guestKernelRelease(env);
  return { available: true, detail: `available (${accel.detail}${kernel ? `; guest kernel ${kernel}` : ""})` };
}
