// `run`: create, start, and (unless detached) stay attached until the
// workload exits, then report its exit code — removing the container with --rm.
// A foreground run cleans up itself; detached ones leave that to conmon's exit
// command, so no process of ours stays behind per container.
import type { RunIo } from "../../types/engine-api.ts";
import type { CreateContainerOptions } from "../../types/records.ts";
import { type Ctx } from "./context.ts";
import { createContainer } from "./create.ts";
import { watchExit } from "./exit.ts";
import { removeAfterFailedStart } from "./remove.ts";
import { startContainer } from "./start.ts";
import { trace } from "../../util/trace.ts";

export async function runContainer(ctx: Ctx, opts: CreateContainerOptions, io: RunIo): Promise<{ Id: string; exitCode?: number }> {
  trace("run: engine open");
  const { Id, Warnings } = await createContainer(ctx, opts);
  trace("created");
  io.onCreated?.(Id, Warnings);
  const c = ctx.store.get(Id);
  const policy = c.hostConfig.RestartPolicy?.Name ?? "no";
  const needsExitCommand = io.detach || (policy !== "no" && policy !== "");
  try {
    if (io.detach || !io.streams) {
      await startContainer(ctx, c, { exitCommand: true });
      return { Id };
    }
    const attachment = await startContainer(ctx, c, { exitCommand: needsExitCommand, attach: io.streams });
    await attachment?.done;
    trace("output ended");
    const exitCode = await watchExit(ctx, Id);
    trace("exit recorded, cleaned up");
    return { Id, exitCode };
  } catch (e) {
    await removeAfterFailedStart(ctx, Id);
    throw e;
  }
}
