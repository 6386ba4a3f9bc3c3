// `rm`: removing a container, running or not (with force), and what goes with
// it: its files, its anonymous volumes, and the exit code kept for a late wait.
import type { ContainerRecord } from "../../types/records.ts";
import { conflict, isNoSpace } from "../../util/errors.ts";
import { isLive } from "../../util/container-state.ts";
import { type Ctx, containerEvent } from "./context.ts";
import { recordExit, releaseResources, rememberExitCode, removeContainerFiles, waitForRelease } from "./cleanup.ts";
import { ANONYMOUS_LABEL } from "./create.ts";
import { runtimeFor } from "./runtime.ts";
import { markSettledByCaller } from "./exit-command.ts";
import { waitForExitFile } from "./wait.ts";

/** `released`: the caller has just run releaseResources (AutoRemove after an exit): skip doing it twice. */
export async function removeContainer(ctx: Ctx, c: ContainerRecord, opts: { force?: boolean; volumes?: boolean; released?: boolean } = {}): Promise<void> {
  let cur = c;
  let released = opts.released ?? false;
  if (isLive(cur.state)) {
    const r = await reconcileNoRemove(ctx, cur);
    if (r?.state.Running) {
      if (!opts.force) {
        throw conflict(`You cannot remove a ${r.state.Paused ? "paused" : "running"} container ${r.id}. Stop the container before attempting removal or force remove`);
      }
      ctx.store.mutate(r.id, (x) => (x.stoppedByUser = true));
      const rt = await runtimeFor(ctx, r);
      markSettledByCaller(ctx, r.id);
      containerEvent(ctx, r, "kill", { signal: "9" });
      await rt.kill(r.id, "SIGKILL", true).catch(() => undefined);
      if (r.state.Paused) await rt.resume(r.id).catch(() => undefined);
      await waitForExitFile(ctx, r, AbortSignal.timeout(10_000));
      // Record the exit here (its die event; the exit command leaves it to us) and release what the run held.
      const settled = await reconcileNoRemove(ctx, r);
      if (settled && !settled.state.Running) {
        await waitForRelease(ctx, r.id);
        released = true;
      }
      cur = settled ?? r;
    } else if (r) cur = r;
  }
  if (!released) await releaseResources(ctx, cur);
  const anonymous = opts.volumes ? anonymousVolumes(cur) : [];
  if (cur.state.Status === "exited") rememberExitCode(ctx, cur);
  // The record goes last: a removal interrupted while the files go (a big rw
  // layer takes a while) leaves a "removing" record, which the next rm or
  // prune finishes, instead of a directory no command knows about.
  try {
    ctx.store.mutate(cur.id, (x) => (x.state.Status = "removing"));
  } catch (e) {
    // No room even to mark it (a full disk): the files go first and free the room the deletion needs.
    if (!isNoSpace(e)) throw e;
  }
  removeContainerFiles(ctx, cur.id);
  ctx.store.delete(cur.id);
  ctx.networks.forget(cur.id);
  containerEvent(ctx, cur, "destroy");
  for (const v of anonymous) {
    try {
      ctx.volumes.remove(v);
    } catch {
      /* still used elsewhere: docker keeps it too */
    }
  }
}

/** Records an exit without applying AutoRemove or restarts (we are removing anyway). */
async function reconcileNoRemove(ctx: Ctx, c: ContainerRecord): Promise<ContainerRecord | undefined> {
  ctx.store.mutate(c.id, (r) => (r.stoppedByUser = true));
  await recordExit(ctx, c.id);
  return ctx.store.find(c.id);
}

export function anonymousVolumes(c: ContainerRecord): string[] {
  return (c.hostConfig.Mounts ?? []).filter((m) => m.Type === "volume" && m.Source && m.VolumeOptions?.Labels?.[ANONYMOUS_LABEL] === "true").map((m) => m.Source!);
}

/** As dockerd: an AutoRemove (--rm) container whose start failed is removed; `docker run --rm` waits for that. */
export async function removeAfterFailedStart(ctx: Ctx, id: string): Promise<void> {
  const c = ctx.store.find(id);
  if (c?.hostConfig.AutoRemove) await removeContainer(ctx, c, { force: true }).catch(() => undefined);
}
