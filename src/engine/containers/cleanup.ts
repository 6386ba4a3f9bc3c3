// What happens after a container's process ends, whoever notices first: the
// exit command conmon runs, a foreground `run`, or any later command that finds
// the exit file (reconcile). Claiming the transition in one transaction means
// exactly one of them records the exit; exit.ts applies the restart policy.
import fs from "node:fs";
import path from "node:path";
import type { ContainerRecord } from "../../types/records.ts";
import { unmount } from "../../snapshot/overlay.ts";
import { type Ctx, containerDir, containerEvent, exitFile, nowIso, persistDir, pidAlive, readIntFile } from "./context.ts";
import { type RuntimeHandle, runtimeFor } from "./runtime.ts";
import { rwLayerPaths } from "../../snapshot/overlay.ts";
import { trace } from "../../util/trace.ts";
import { cgroupManager, containerCgroupsPath } from "../../cgroups/index.ts";
import { isLive } from "../../util/container-state.ts";
import { NAME_RE } from "./names.ts";

/** Tears down what a run holds: the runtime's container, the rootfs mount. Idempotent. */
export async function releaseResources(ctx: Ctx, c: ContainerRecord, runtime?: RuntimeHandle): Promise<void> {
  // No state under the runtime's root means nothing to delete (a spawn saved).
  const rt = runtime ?? (await runtimeFor(ctx, c).catch(() => undefined));
  if (rt?.knows(c.id)) await rt.delete(c.id, true).catch(() => undefined);
  trace("runtime delete done");
  unmount(rwLayerPaths(containerDir(ctx, c.id)).merged);
  trace("unmounted");
  cgroupManager().cleanup(containerCgroupsPath(ctx.paths, c.id));
  // CNI DEL (reverse order), then the namespace; peers' hosts files drop the name.
  await ctx.networks.tearDown(c);
}

export interface ExitOutcome {
  outcome: "not-exited" | "exited" | "restarting" | "removed";
  /** The exit code recorded, when the container has exited. */
  exitCode?: number;
}

/**
 * Records the exit if the container has exited and releases what the run
 * held. `recorded` is set for the one caller that claimed the transition: the
 * restart policy and --rm are its to apply (exit.ts), everyone else sees the
 * outcome as it stands.
 */
export async function recordExit(ctx: Ctx, id: string): Promise<ExitOutcome & { recorded?: ContainerRecord }> {
  const c0 = ctx.store.find(id);
  if (!c0) return { outcome: "removed", exitCode: removedExitCode(ctx, id) };
  const code = readIntFile(exitFile(ctx, id)) ?? readIntFile(path.join(persistDir(ctx, id), "exit"));
  let exitCode: number;
  let error = "";
  if (code !== undefined) exitCode = code;
  else if (monitorDied(c0)) {
    // Nothing can collect the workload's status any more: as containerd does
    // when a shim dies, the workload is killed (the runtime delete --force of
    // the release below) and the exit recorded as SIGKILL's, with the reason.
    exitCode = MONITOR_DIED_EXIT_CODE;
    error = `container monitor died (conmon pid ${c0.monitorPid}): the container was killed and its own exit code is unknown`;
  } else return c0.state.Running ? { outcome: "not-exited" } : { outcome: "exited", exitCode: c0.state.ExitCode };

  // conmon records OOM kills it saw; the cgroup's counter catches the rest (read before runtime delete removes it).
  const oom = fs.existsSync(path.join(persistDir(ctx, id), "oom")) || cgroupManager().oomKillCount(containerCgroupsPath(ctx.paths, id)) > 0;
  let finishedAt = nowIso();
  try {
    finishedAt = fs.statSync(exitFile(ctx, id)).mtime.toISOString();
  } catch {
    /* no exit file: now is the best we know */
  }
  // Claim the transition: only the first caller sees Running/Restarting and records it.
  fs.mkdirSync(persistDir(ctx, id), { recursive: true, mode: 0o700 });
  // The marker, made inside the claim, tells a concurrent start to wait until the release is done.
  const claimed = ctx.store.mutate(id, (r) => {
    if (!isLive(r.state)) return false;
    r.state = { ...r.state, Status: "exited", Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: exitCode, OOMKilled: oom, FinishedAt: finishedAt, Error: error };
    fs.writeFileSync(releasingMarker(ctx, id), String(process.pid));
    return true;
  });
  const c = ctx.store.get(id);
  trace(claimed ? "exit claimed" : "exit already recorded");
  if (claimed) {
    if (oom) containerEvent(ctx, c, "oom");
    containerEvent(ctx, c, "die", { exitCode: String(exitCode) });
  }
  if (!claimed) return { outcome: c.state.Status === "restarting" ? "restarting" : "exited", exitCode: c.state.ExitCode };
  try {
    await releaseResources(ctx, c);
  } finally {
    fs.rmSync(releasingMarker(ctx, id), { force: true });
  }
  fs.rmSync(exitFile(ctx, id), { force: true });
  return { outcome: "exited", exitCode, recorded: c };
}

/** 128 + SIGKILL: what containerd records for a task whose shim died. */
export const MONITOR_DIED_EXIT_CODE = 137;

/** The container runs (by its record) but its monitor is gone: no exit file will ever come. */
export function monitorDied(c: ContainerRecord): boolean {
  return c.state.Running && c.monitorPid > 0 && !pidAlive(c.monitorPid);
}

export function shouldRestart(c: ContainerRecord): boolean {
  if (c.stoppedByUser) return false;
  const p = c.hostConfig.RestartPolicy;
  switch (p?.Name) {
    case "always":
    case "unless-stopped":
      return true;
    case "on-failure":
      return c.state.ExitCode !== 0 && (!p.MaximumRetryCount || c.restartCount < p.MaximumRetryCount);
    default:
      return false;
  }
}

/** conmon's exit file of a run whose exit is recorded and which is being restarted (start.ts removes it). */
export function restartedExitFile(ctx: Ctx, id: string): string {
  return path.join(persistDir(ctx, id), "exit.restarted");
}

export function setAsideExitFile(ctx: Ctx, id: string): void {
  try {
    fs.renameSync(path.join(persistDir(ctx, id), "exit"), restartedExitFile(ctx, id));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

function releasingMarker(ctx: Ctx, id: string): string {
  return path.join(persistDir(ctx, id), "releasing");
}

/**
 * Waits while another process releases this container's previous run (its
 * exit was just recorded): starting now would race with that release, which
 * would tear down the new run's network and mount. A marker whose process
 * is gone is stale.
 */
export async function waitForRelease(ctx: Ctx, id: string): Promise<void> {
  const marker = releasingMarker(ctx, id);
  for (let i = 0; i < 300; i++) {
    const owner = readIntFile(marker);
    if (owner === undefined || owner === process.pid || !pidAlive(owner)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Exit codes of containers removed after they exited (--rm), kept for a
 * minute so a `wait` that lost the race with the removal still gets the code:
 * `docker run` sends its wait concurrently with start, so for a short-lived
 * container the wait can arrive after the removal. Kept by id and by name, as
 * a client may wait by either.
 */
const REMOVED_CODES_TTL_MS = 60_000;

function removedCodesDir(ctx: Ctx): string {
  return path.join(ctx.paths.runRoot, "removed");
}

/** The file names a removed container's code is kept under; none for a key that is neither an id nor a name (it may come from a client). */
function removedCodeKeys(idOrName: string): string[] {
  if (/^[0-9a-f]{64}$/.test(idOrName)) return [idOrName];
  return NAME_RE.test(idOrName) ? [`name-${idOrName.replace(/^\//, "")}`] : [];
}

export function rememberExitCode(ctx: Ctx, c: ContainerRecord): void {
  const dir = removedCodesDir(ctx);
  fs.mkdirSync(dir, { recursive: true });
  for (const key of [...removedCodeKeys(c.id), ...removedCodeKeys(c.name)]) fs.writeFileSync(path.join(dir, key), String(c.state.ExitCode));
  const now = Date.now();
  for (const f of fs.readdirSync(dir)) {
    try {
      if (now - fs.statSync(path.join(dir, f)).mtimeMs > REMOVED_CODES_TTL_MS) fs.rmSync(path.join(dir, f), { force: true });
    } catch {
      /* removed meanwhile */
    }
  }
}

export function removedExitCode(ctx: Ctx, idOrName: string): number | undefined {
  for (const key of removedCodeKeys(idOrName)) {
    const code = readIntFile(path.join(removedCodesDir(ctx), key));
    if (code !== undefined) return code;
  }
  return undefined;
}

/** Removes the container's files (rw layer, logs, run dir) once nothing is mounted. */
export function removeContainerFiles(ctx: Ctx, id: string): void {
  unmount(rwLayerPaths(containerDir(ctx, id)).merged);
  fs.rmSync(containerDir(ctx, id), { recursive: true, force: true });
  fs.rmSync(persistDir(ctx, id), { recursive: true, force: true });
  fs.rmSync(exitFile(ctx, id), { force: true });
  removeBrokenSocketLinks(ctx);
}

/**
 * conmon links `<sockets>/<short id>` to the bundle of each container and exec
 * (its attach socket lives there); the link outlives the bundle. Links whose
 * bundle is gone are removed here, so none piles up per removed container.
 */
export function removeBrokenSocketLinks(ctx: Ctx): void {
  let names: string[];
  try {
    names = fs.readdirSync(ctx.paths.sockets);
  } catch {
    return;
  }
  for (const n of names) {
    const p = path.join(ctx.paths.sockets, n);
    try {
      if (fs.lstatSync(p).isSymbolicLink() && !fs.existsSync(p)) fs.rmSync(p, { force: true });
    } catch {
      /* removed meanwhile */
    }
  }
}
