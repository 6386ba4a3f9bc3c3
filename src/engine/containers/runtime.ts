// The OCI runtime as the container verbs see it, chosen by the container's
// isolation level and bound to capsa's runtime state directory:
//   container → crun or runc (probed once per state root, or --runtime)
//   sandbox   → runsc (gVisor)
//   vm        → capsa's VM runtime, which speaks the same command line and
//               runs the workload in a QEMU micro-VM (src/vm/)
// All three sit under the same monitor (conmon), so logs, exit codes, attach,
// exec and restart policies work the same at every level.
import type { ContainerRecord } from "../types.ts";
import type { Ctx } from "./context.ts";
import { resolveRuntime } from "../../runtime/probe.ts";
import { OciRuntime } from "../../runtime/runc.ts";
import { isolationOf } from "../../isolation/level.ts";

export type RuntimeHandle = OciRuntime;

export async function runtimeFor(ctx: Ctx, c: ContainerRecord): Promise<RuntimeHandle> {
  switch (isolationOf(c.hostConfig)) {
    case "sandbox": {
      const { sandboxRuntime } = await import("../../isolation/sandbox.ts");
      return sandboxRuntime(ctx.paths);
    }
    case "vm": {
      const { vmRuntime } = await import("../../vm/host/runtime-handle.ts");
      return vmRuntime(ctx.paths);
    }
    default: {
      const rt = await resolveRuntime(ctx.paths, c.runtime || c.hostConfig.Runtime || undefined);
      return new OciRuntime(rt.path, ctx.paths.runtimeRoot, rt.name);
    }
  }
}
