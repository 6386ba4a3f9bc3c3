// `capsa info`'s line for the vm level: whether VMs can run here, and how.
import type { Paths } from "../../engine/paths.ts";
import { checkVmAssets, guestKernelRelease } from "./assets.ts";
import { probeAccel } from "./accel.ts";

export async function vmStatus(paths: Pick<Paths, "root">): Promise<{ available: boolean; detail: string }> {
  const missing = checkVmAssets();
  if (missing) return { available: false, detail: missing };
  const accel = await probeAccel(paths);
  const kernel = guestKernelRelease();
  return { available: true, detail: `available (${accel.detail}${kernel ? `; guest kernel ${kernel}` : ""})` };
}
