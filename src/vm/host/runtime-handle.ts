// The engine's handle on capsa's VM runtime (src/vm/shim): an OCI runtime
// command line like runc's, so the container verbs drive VMs unchanged.
// conmon runs the binary (create, exec); the verbs the engine calls itself
// and that need nothing but the runtime's state and sockets — start, state
// and delete — run here, in the engine's own process, with the same code
// the binary uses (src/vm/shim/start.ts, state.ts): each would otherwise
// cost a Node start-up (~80 ms here) on the path of every run.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Paths } from "../../engine/paths.ts";
import { classifyStartError } from "../../monitor/conmon.ts";
import { OciRuntime, shortId, type RuntimeState } from "../../runtime/runc.ts";
import { CapsaError } from "../../util/errors.ts";
import { startVm } from "../shim/start.ts";
import { deleteVm, ociState, readState } from "../shim/state.ts";

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
  /** A workload that cannot run is reported at start (the VM boots first): 127/126 as docker. The boot is bounded by CAPSA_VM_BOOT_TIMEOUT. */
  override async start(id: string): Promise<void> {
    try {
      await startVm(this.root, id);
    } catch (e) {
      throw classifyStartError(`${this.name} start ${shortId(id)}: ${(e as Error).message}`);
    }
  }

  override state(id: string): Promise<RuntimeState | undefined> {
    const s = readState(this.root, id);
    return Promise.resolve(s ? ociState(s) : undefined);
  }

  override async delete(id: string, force = false): Promise<void> {
    if (!readState(this.root, id)) return; // not known: already deleted
    try {
      await deleteVm(this.root, id, force);
    } catch (e) {
      throw new CapsaError("conflict", `${this.name} delete ${shortId(id)}: ${(e as Error).message}`);
    }
  }
}

export function vmRuntime(paths: Paths): OciRuntime {
  return new VmRuntime(vmRuntimePath(), paths.runtimeRoot, "capsa-vm-runtime");
}
