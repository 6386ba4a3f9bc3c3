// The verbs that move a container between states once it exists:
// stop, kill, restart, pause, unpause, remove, rename, and reconcile, which
// brings a record up to date with what the monitor left behind.
import type { ContainerRecord } from "../../types/records.ts";
import { conflict, invalid } from "../../util/errors.ts";
import { type Ctx, containerEvent } from "./context.ts";
import { handleExit, releaseResources, rememberExitCode, removeContainerFiles, waitForRelease } from "./cleanup.ts";
import { NAME_RE } from "./names.ts";
import { ANONYMOUS_LABEL } from "./create.ts";
import { runtimeFor } from "./runtime.ts";
import { parseSignal } from "../../runtime/signals.ts";
import { startContainer } from "./start.ts";
import { markSettledByCaller } from "./exit-command.ts";
import { sleep, waitForExitFile } from "./wait.ts";

/** Brings the record up to date: a container whose process ended is recorded as exited (and restarted or removed per policy). */
export async function reconcile(ctx: Ctx, c: ContainerRecord): Promise<ContainerRecord | undefined> {
  if (!c.state.Running && c.state.Status !== "restarting") return c;
  const { outcome } = await processExit(ctx, c.id);
  if (outcome === "removed") return undefined;
  return ctx.store.find(c.id);
}

/** handleExit with this module's restart and remove. */
export function processExit(ctx: Ctx, id: string): ReturnType<typeof handleExit> {
  return handleExit(ctx, id, (r) => restartAfterExit(ctx, r), (r) => removeContainer(ctx, r, { force: true, volumes: true, released: true }));
}

async function restartAfterExit(ctx: Ctx, c: ContainerRecord): Promise<void> {
  await startContainer(ctx, c, { exitCommand: true });
}

export async function stopContainer(ctx: Ctx, c: ContainerRecord, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
  const cur = await reconcile(ctx, c);
  if (!cur || !cur.state.Running) {
    if (cur) ctx.store.mutate(cur.id, (r) => (r.stoppedByUser = true));
    return;
  }
  ctx.store.mutate(cur.id, (r) => (r.stoppedByUser = true));
  const rt = await runtimeFor(ctx, cur);
  const sig = parseSignal(opts.signal ?? cur.config.StopSignal, "SIGTERM");
  const timeout = opts.timeout ?? cur.config.StopTimeout ?? 10;
  markSettledByCaller(ctx, cur.id);
  containerEvent(ctx, cur, "kill", { signal: String(sig.number) });
  await rt.kill(cur.id, sig.name).catch(() => undefined);
  if (cur.state.Paused) await rt.resume(cur.id).catch(() => undefined);
  const ac = new AbortController();
  const timer = timeout >= 0 ? setTimeout(() => ac.abort(), timeout * 1000) : undefined;
  await waitForExitFile(ctx, cur, ac.signal);
  if (timer) clearTimeout(timer);
  if (ac.signal.aborted) {
    containerEvent(ctx, cur, "kill", { signal: "9" });
    await rt.kill(cur.id, "SIGKILL", true).catch(() => undefined);
    await waitForExitFile(ctx, cur);
  }
  await settleExit(ctx, cur);
  containerEvent(ctx, cur, "stop");
}

/** After a signal: wait for the monitor's record of the exit and process it here, so the caller sees the final state. */
async function settleExit(ctx: Ctx, c: ContainerRecord): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const cur = ctx.store.find(c.id);
    if (!cur) return;
    const r = await reconcile(ctx, cur);
    if (!r || !r.state.Running) return;
    await sleep(20);
  }
}

export async function killContainer(ctx: Ctx, c: ContainerRecord, signal?: string): Promise<void> {
  const sig = parseSignal(signal, "SIGKILL");
  const cur = await reconcile(ctx, c);
  if (!cur || !cur.state.Running) throw conflict(`Cannot kill container: ${c.name}: Container ${c.id} is not running`);
  const rt = await runtimeFor(ctx, cur);
  if (sig.name === "SIGKILL" || sig.name === "SIGTERM") ctx.store.mutate(cur.id, (r) => (r.stoppedByUser = true));
  if (sig.name === "SIGKILL") markSettledByCaller(ctx, cur.id);
  await rt.kill(cur.id, sig.name, sig.name === "SIGKILL");
  containerEvent(ctx, cur, "kill", { signal: String(sig.number) });
  if (sig.name === "SIGKILL") {
    await waitForExitFile(ctx, cur);
    await settleExit(ctx, cur);
  }
}

export async function pauseContainer(ctx: Ctx, c: ContainerRecord): Promise<void> {
  const cur = await reconcile(ctx, c);
  if (!cur || !cur.state.Running) throw conflict(`Container ${c.id} is not running`);
  if (cur.state.Paused) throw conflict(`Container ${c.id} is already paused`);
  await (await runtimeFor(ctx, cur)).pause(cur.id);
  ctx.store.mutate(cur.id, (r) => (r.state = { ...r.state, Status: "paused", Paused: true }));
  containerEvent(ctx, cur, "pause");
}

export async function unpauseContainer(ctx: Ctx, c: ContainerRecord): Promise<void> {
  const cur = await reconcile(ctx, c);
  if (!cur?.state.Paused) throw conflict(`Container ${c.id} is not paused`);
  await (await runtimeFor(ctx, cur)).resume(cur.id);
  ctx.store.mutate(cur.id, (r) => (r.state = { ...r.state, Status: "running", Paused: false }));
  containerEvent(ctx, cur, "unpause");
}

/** `released`: the caller has just run releaseResources (AutoRemove after an exit): skip doing it twice. */
export async function removeContainer(ctx: Ctx, c: ContainerRecord, opts: { force?: boolean; volumes?: boolean; released?: boolean } = {}): Promise<void> {
  let cur = c;
  let released = opts.released ?? false;
  if (cur.state.Running || cur.state.Status === "restarting") {
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
  if (cur.state.Status === "exited") rememberExitCode(ctx, cur.id, cur.state.ExitCode);
  // The record goes last: a removal interrupted while the files go (a big rw
  // layer takes a while) leaves a "removing" record, which the next rm or
  // prune finishes, instead of a directory no command knows about.
  ctx.store.mutate(cur.id, (x) => (x.state.Status = "removing"));
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
  await handleExit(ctx, c.id, async () => undefined, async () => undefined);
  return ctx.store.find(c.id);
}

export function anonymousVolumes(c: ContainerRecord): string[] {
  return (c.hostConfig.Mounts ?? []).filter((m) => m.Type === "volume" && m.Source && m.VolumeOptions?.Labels?.[ANONYMOUS_LABEL] === "true").map((m) => m.Source!);
}

export function renameContainer(ctx: Ctx, c: ContainerRecord, newName: string): void {
  const name = newName.replace(/^\//, "");
  if (!NAME_RE.test(name)) throw invalid(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  if (name === c.name) throw conflict(`Renaming a container with the same name as its current name`);
  ctx.store.rename(c.id, name);
  containerEvent(ctx, { ...c, name }, "rename", { oldName: `/${c.name}` });
}
