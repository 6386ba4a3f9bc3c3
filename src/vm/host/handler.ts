// The "vm" level's handler: the workload in a QEMU micro-VM, run by capsa's VM
// runtime (src/vm/shim). Everything it does is loaded when a VM is first
// used: create's checks and start's disk and boot settings (prepare.ts), the
// runtime (runtime-handle.ts), info's line (status.ts).
import type { RuntimeHandler } from "../../runtime/handler.ts";

export const vmHandler: RuntimeHandler = {
  level: "vm",
  runtimeName: () => "capsa-vm-runtime", // the name vmRuntime() gives its handle
  validate: async (hostConfig) => (await import("./prepare.ts")).validateVmHostConfig(hostConfig),
  prepareBundle: async (input) => (await import("./prepare.ts")).prepareVm(input),
  runtime: async (paths) => (await import("./runtime-handle.ts")).vmRuntime(paths),
  status: async (paths, onSlowProbe) => (await import("./status.ts")).vmStatus(paths, process.env, () => onSlowProbe?.("whether KVM can boot a VM guest (a test boot, once)")),
};
