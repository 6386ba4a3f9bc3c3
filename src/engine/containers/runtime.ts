// The OCI runtime as the container verbs see it: the runtime chosen for this
// container (probed once per state root, or --runtime), bound to capsa's
// runtime state directory.
import type { ContainerRecord } from "../types.ts";
import type { Ctx } from "./context.ts";
import { resolveRuntime } from "../../runtime/probe.ts";
import { OciRuntime } from "../../runtime/runc.ts";

export type RuntimeHandle = OciRuntime;

export async function runtimeFor(ctx: Ctx, c: ContainerRecord): Promise<RuntimeHandle> {
  const rt = await resolveRuntime(ctx.paths, c.runtime || c.hostConfig.Runtime || undefined);
  return new OciRuntime(rt.path, ctx.paths.runtimeRoot, rt.name);
}
