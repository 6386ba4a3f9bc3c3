// The OCI runtime as the container verbs see it, chosen by the container's
// isolation level through the level's runtime handler (src/runtime/handler.ts,
// src/isolation/handlers.ts) and bound to capsa's runtime state directory:
//   container → crun or runc (probed once per state root, or --runtime)
//   sandbox   → runsc (gVisor)
//   vm        → capsa's VM runtime, which speaks the same command line and
//               runs the workload in a QEMU micro-VM (src/vm/)
// All three sit under the same monitor (conmon), so logs, exit codes, attach,
// exec and restart policies work the same at every level.
import type { ContainerRecord } from "../../types/records.ts";
import type { Paths } from "../../types/paths.ts";
import type { OciRuntime } from "../../runtime/runc.ts";
import { ISOLATION_LEVELS, type IsolationLevel } from "../../runtime/handler.ts";
import { handlerFor, runtimeHandler } from "../../isolation/handlers.ts";
import { type Ctx, containerDir } from "./context.ts";

export type RuntimeHandle = OciRuntime;

export async function runtimeFor(ctx: Ctx, c: ContainerRecord): Promise<RuntimeHandle> {
  return handlerFor(c.hostConfig).runtime(ctx.paths, c);
}

/** The level's step between writing the bundle and creating under the monitor; false when the level has none. */
export async function prepareBundleFor(ctx: Ctx, c: ContainerRecord, bundle: string): Promise<boolean> {
  const handler = handlerFor(c.hostConfig);
  if (!handler.prepareBundle) return false;
  await handler.prepareBundle({ paths: ctx.paths, container: c, bundle, containerDir: containerDir(ctx, c.id), imageLayers: ctx.images.layerDirs(c.imageId) });
  return true;
}

/** `info`'s word on each level, probed side by side. */
export async function isolationStatus(paths: Paths, onSlowProbe?: (what: string) => void): Promise<Record<IsolationLevel, string>> {
  const details = await Promise.all(ISOLATION_LEVELS.map(async (level) => (await runtimeHandler(level).status(paths, onSlowProbe)).detail));
  return Object.fromEntries(ISOLATION_LEVELS.map((level, i) => [level, details[i]!])) as Record<IsolationLevel, string>;
}
