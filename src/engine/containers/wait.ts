// Waiting for a container's process to end, without a daemon: conmon writes
// <exits>/<id> when it does; we watch that directory (inotify) and poll as a
// fallback, and give up waiting on a monitor that died without writing it.
import fs from "node:fs";
import type { ContainerRecord } from "../../types/records.ts";
import { type Ctx, exitFile, pidAlive } from "./context.ts";

export function exitFileExists(ctx: Ctx, id: string): boolean {
  return fs.existsSync(exitFile(ctx, id));
}

/** Resolves once the exit file exists or the monitor is gone (no exit file will come: cleanup.ts records why). */
export function waitForExitFile(ctx: Ctx, c: ContainerRecord, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      if (exitFileExists(ctx, c.id) || signal?.aborted) return true;
      return !!c.monitorPid && !pidAlive(c.monitorPid);
    };
    if (check()) return resolve();
    let watcher: fs.FSWatcher | undefined;
    const done = (): void => {
      watcher?.close();
      clearInterval(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    // inotify wakes us at once; the poll covers file systems where it does not.
    const timer = setInterval(() => {
      if (check()) done();
    }, 200);
    try {
      watcher = fs.watch(ctx.paths.exits, (_event, name) => {
        if (name === c.id && check()) done();
      });
      watcher.on("error", () => undefined);
    } catch {
      /* polling alone */
    }
    signal?.addEventListener("abort", done, { once: true });
    if (check()) done();
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The pause before look number `attempt` of a polling loop: 5 ms, growing to
 * 100 ms. What is awaited (a start right after a create, a removal right
 * after an exit) usually comes within milliseconds; a fixed 100 ms added a
 * tenth of a second to every `docker run`.
 */
export const pollDelay = (attempt: number): number => Math.min(100, 5 * (attempt + 1));
