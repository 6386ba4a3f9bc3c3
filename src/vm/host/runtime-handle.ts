// The engine's handle on capsa's VM runtime (src/vm/shim): an OCI runtime
// command line like runc's, so the container verbs drive VMs unchanged.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Paths } from "../../engine/paths.ts";
import { classifyStartError } from "../../monitor/conmon.ts";
import { OciRuntime } from "../../runtime/runc.ts";
import { CapsaError } from "../../util/errors.ts";
import { vmBootTimeoutSeconds } from "../boot-timeout.ts";

/** bin/capsa-vm-runtime of this installation, found from this module's place (src/… or dist/…). */
export function vmRuntimePath(): string {
  if (process.env.CAPSA_VM_RUNTIME) return process.env.CAPSA_VM_RUNTIME;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, "bin", "capsa-vm-runtime");
    if (fs.existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  throw new CapsaError("system", "capsa-vm-runtime not found beside this installation (bin/capsa-vm-runtime)");
}

class VmRuntime extends OciRuntime {
  /** A workload that cannot run is reported at start (the VM boots first): 127/126 as docker. */
  override async start(id: string): Promise<void> {
    try {
      // The runtime bounds the boot itself (CAPSA_VM_BOOT_TIMEOUT) and stops a VM that does not come up; wait a little longer.
      await this.run("start", id, [id], { timeoutMs: (vmBootTimeoutSeconds() + 15) * 1000 });
    } catch (e) {
      if (e instanceof CapsaError) throw classifyStartError(e.message);
      throw e;
    }
  }
}

export function vmRuntime(paths: Paths): OciRuntime {
  return new VmRuntime(vmRuntimePath(), paths.runtimeRoot, "capsa-vm-runtime");
}
