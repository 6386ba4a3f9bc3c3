// The verbs that move a running container between states: stop, kill,
// pause, unpause; and rename. (Exits are recorded by exit.ts, removal is remove.ts.)
import type { ContainerRecord } from "../../types/records.ts";
import { conflict, invalid } from "../../util/errors.ts";
import { type Ctx, containerEvent } from "./context.ts";
import { reconcile } from "./exit.ts";
import { NAME_RE } from "./names.ts";
import { runtimeFor } from "./runtime.ts";
import { parseSignal } from "../../runtime/signals.ts";
import { markSettledByCaller } from "./exit-command.ts";
import { sleep, waitForExitFile } from "./wait.ts";

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

export function renameContainer(ctx: Ctx, c: ContainerRecord, newName: string): void {
  const name = newName.replace(/^\//, "");
  if (!NAME_RE.test(name)) throw invalid(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  if (name === c.name) throw conflict(`Renaming a container with the same name as its current name`);
  ctx.store.rename(c.id, name);
  containerEvent(ctx, { ...c, name }, "rename", { oldName: `/${c.name}` });
}
