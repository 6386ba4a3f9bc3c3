// The one exit/wait state machine every front end goes through (CLI, API
// service, SDK). A run ends → its exit is recorded once, by whoever notices
// first (cleanup.ts claims it) → the restart policy starts it again, or --rm
// removes it → waiters get the code. docker's wait conditions (not-running,
// next-exit, removed) are answered here, from the record and from the exits
// this process watches (an API service watches every container it starts).
import type { ContainerRecord } from "../../types/records.ts";
import { isLive } from "../../util/container-state.ts";
import type { Ctx } from "./context.ts";
import { type ExitOutcome, recordExit, removedExitCode, setAsideExitFile, shouldRestart } from "./cleanup.ts";
import { removeContainer } from "./remove.ts";
import { startContainer } from "./start.ts";
import { pollDelay, sleep, waitForExitFile } from "./wait.ts";

export type WaitCondition = "not-running" | "next-exit" | "removed";

/** Records the exit if the container has exited, then restarts or removes it per its policy. */
export async function processExit(ctx: Ctx, id: string): Promise<ExitOutcome> {
  const { recorded: c, ...outcome } = await recordExit(ctx, id);
  if (!c) return outcome;
  const exitCode = outcome.exitCode;
  if (shouldRestart(c)) {
    ctx.store.mutate(id, (r) => {
      r.restartCount += 1;
      r.state = { ...r.state, Status: "restarting", Restarting: true };
      // The recorded run's exit file, set aside: a reconcile elsewhere (an inspect, conmon's
      // exit command) must not take it for the next run's exit and restart a second time.
      setAsideExitFile(ctx, id);
    });
    try {
      await startContainer(ctx, ctx.store.get(id), { exitCommand: true });
      return { outcome: "restarting", exitCode };
    } catch {
      ctx.store.mutate(id, (r) => (r.state = { ...r.state, Status: "exited", Restarting: false }));
      return { outcome: "exited", exitCode };
    }
  }
  if (c.hostConfig.AutoRemove) {
    await removeContainer(ctx, c, { force: true, volumes: true, released: true });
    return { outcome: "removed", exitCode };
  }
  return { outcome: "exited", exitCode };
}

/** Brings the record up to date: a container whose process ended is recorded as exited (and restarted or removed per policy). */
export async function reconcile(ctx: Ctx, c: ContainerRecord): Promise<ContainerRecord | undefined> {
  if (!isLive(c.state)) return c;
  const { outcome } = await processExit(ctx, c.id);
  if (outcome === "removed") return undefined;
  return ctx.store.find(c.id);
}

/** Waits for the workload to exit and returns its code; applies AutoRemove and restart policies. */
async function waitExitCode(ctx: Ctx, id: string): Promise<number> {
  for (;;) {
    const c = ctx.store.find(id);
    if (!c) return removedExitCode(ctx, id) ?? 0;
    if (!isLive(c.state)) return c.state.ExitCode;
    await waitForExitFile(ctx, c);
    const r = await processExit(ctx, id);
    if (r.outcome === "removed" || r.outcome === "exited") return r.exitCode ?? 0;
  }
}

/** Per engine: the exits this process is waiting for, by container id. */
const watchers = new WeakMap<Ctx, Map<string, Promise<number>>>();

/**
 * The exit code of the container's current run, once this process has
 * recorded the exit (and applied the restart policy or --rm). One watcher per
 * container, shared by every waiter in this process; it reads no record in
 * between that could record the exit behind its back. `starting`: the start
 * this process has under way; the watcher exists from its beginning, so a
 * wait that comes while it starts joins it (a failed start answers with the
 * code it recorded).
 */
export function watchExit(ctx: Ctx, id: string, starting?: Promise<unknown>): Promise<number> {
  let m = watchers.get(ctx);
  if (!m) watchers.set(ctx, (m = new Map<string, Promise<number>>()));
  const existing = m.get(id);
  if (existing) return existing;
  const exited = (): Promise<number> => waitExitCode(ctx, id);
  const p = (starting ? starting.then(exited, exited) : exited()).finally(() => {
    if (m.get(id) === p) m.delete(id);
  });
  m.set(id, p);
  return p;
}

/**
 * Resolves once this process's watcher, if any, has recorded the container's
 * exit and released its mounts and network: a start right after a stop must
 * not race with that release.
 */
export async function exitRecorded(ctx: Ctx, id: string): Promise<void> {
  await watchers.get(ctx)?.get(id)?.catch(() => undefined);
}

/**
 * docker's wait. A run this process watches (a start under way included)
 * answers when its exit is recorded; otherwise "not-running" answers at once
 * for a container that is not running, and "next-exit" and "removed" first
 * wait for its next start (`docker run` asks before it starts the container)
 * or its removal. "removed" then waits until the record is gone. A container
 * removed after its exit (--rm) answers with the code kept for it. `signal`
 * ends the waiting for a start or a removal (the client left).
 */
export async function waitContainer(ctx: Ctx, idOrName: string, condition: WaitCondition, signal?: AbortSignal): Promise<number> {
  const found = ctx.store.find(idOrName);
  if (!found) {
    const code = removedExitCode(ctx, idOrName);
    if (code !== undefined) return code;
  }
  const c = found ?? ctx.store.get(idOrName); // not found: docker's error
  let code = c.state.ExitCode;
  const watched = watchers.get(ctx)?.get(c.id);
  if (watched) code = await watched;
  else if (isLive(c.state)) code = await watchExit(ctx, c.id);
  else if (condition !== "not-running") {
    code = (await nextStart(ctx, c, signal)) ? await watchExit(ctx, c.id) : (removedExitCode(ctx, c.id) ?? code);
  }
  if (condition === "removed") {
    for (let i = 0; !signal?.aborted && ctx.store.find(c.id); i++) await sleep(pollDelay(i));
  }
  return code;
}

/**
 * Resolves true once the container starts again (a watcher of this process
 * appears, or the record shows a new run: a short one can start and end
 * between two looks); false when it is removed first or the waiter leaves.
 */
async function nextStart(ctx: Ctx, c: ContainerRecord, signal: AbortSignal | undefined): Promise<boolean> {
  const previous = watchers.get(ctx)?.get(c.id);
  for (let i = 0; !signal?.aborted; i++) {
    const w = watchers.get(ctx)?.get(c.id);
    if (w && w !== previous) return true;
    const cur = ctx.store.find(c.id);
    if (!cur) return false;
    if (cur.state.Running || cur.state.StartedAt !== c.state.StartedAt) return true;
    await sleep(pollDelay(i));
  }
  return false;
}
