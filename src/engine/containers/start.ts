// `start`: mount the root file system, write the OCI bundle, hand the
// container to its monitor (conmon runs `runtime create`), then `runtime start`.
// The path reads straight through; every failure undoes what was done.
import fs from "node:fs";
import path from "node:path";
import type { AttachStreams } from "../../types/engine-api.ts";
import type { ContainerRecord } from "../../types/records.ts";
import { attachSocket, preloadAttach, type Attachment } from "../../monitor/attach.ts";
import { attachSocketPath, createUnderMonitor, ctlFifoPath } from "../../monitor/conmon.ts";
import { overlaySnapshotter } from "../../snapshot/overlay.ts";
import { CapsaError, errorMessage } from "../../util/errors.ts";
import { explainNoSpace } from "../recovery.ts";
import { writeBundle } from "./bundle.ts";
import { shortId } from "../../util/ids.ts";
import { type Ctx, containerDir, containerEvent, ensureRunDirs, exitFile, logPath, nowIso, persistDir } from "./context.ts";
import { releaseResources, restartedExitFile, waitForRelease } from "./cleanup.ts";
import { exitCommandFor, markSettledByCaller, monitorEnv, settledMarker } from "./exit-command.ts";
import { prepareBundleFor, runtimeFor } from "./runtime.ts";
import { trace } from "../../util/trace.ts";
import { healthEnabled, startHealthLoop } from "./health.ts";
import { parseLogSize } from "./log-config.ts";
import { pidAlive } from "../../util/process.ts";
import type { RuntimeHandle } from "./runtime.ts";

export interface StartOptions {
  /** Connect these streams before the process runs, so no output is lost. */
  attach?: AttachStreams;
  /** Have conmon run `capsa container cleanup` when the container exits (detached use, restart policies). */
  exitCommand: boolean;
  /** Called once the workload runs (before its output has ended, with attach). */
  onStarted?: () => void;
  /** This (long-lived) process waits for the exit and records it: the exit command stands aside while it lives. */
  exitWatched?: boolean;
}

export async function startContainer(ctx: Ctx, c: ContainerRecord, opts: StartOptions): Promise<Attachment | undefined> {
  if (c.state.Running) return undefined;
  await waitForRelease(ctx, c.id);
  const dir = containerDir(ctx, c.id);
  const runtime = await runtimeFor(ctx, c);
  await clearInterruptedStart(ctx, c, runtime);
  ensureRunDirs(ctx, c.id);
  // Leftovers of a previous run would make the next wait return at once.
  fs.rmSync(exitFile(ctx, c.id), { force: true });
  for (const f of ["exit", "exit.restarted", "oom"]) fs.rmSync(path.join(persistDir(ctx, c.id), f), { force: true });
  fs.rmSync(settledMarker(ctx, c.id), { force: true });
  if (opts.exitWatched) markSettledByCaller(ctx, c.id);

  let attachment: Attachment | undefined;
  try {
    const rootfs = await overlaySnapshotter.prepare(dir, ctx.images.layerDirs(c.imageId));
    trace("rootfs mounted");
    const network = await ctx.networks.setUp(c);
    trace("network set up");
    const bundle = await writeBundle(ctx, c, rootfs.target, network);
    trace("bundle written");
    if (await prepareBundleFor(ctx, c, bundle)) trace("isolation level's bundle step done");
    const tty = c.config.Tty ?? false;
    const monitor = await createUnderMonitor({
      id: c.id,
      shortId: shortId(c.id),
      name: c.name,
      bundle,
      runtimePath: runtime.path,
      runtimeRoot: ctx.paths.runtimeRoot,
      runtimeArgs: runtime.globalArgs(),
      logPath: logPath(ctx, c.id),
      logDriver: c.hostConfig.LogConfig?.Type === "none" ? "none" : "k8s-file",
      exitDir: ctx.paths.exits,
      persistDir: persistDir(ctx, c.id),
      socketDir: ctx.paths.sockets,
      tty,
      stdin: c.config.OpenStdin ?? false,
      stdinOnce: c.config.StdinOnce ?? false,
      logSizeMax: logSizeMax(c),
      exitCommand: opts.exitCommand ? exitCommandFor(ctx, c.id) : undefined,
      env: monitorEnv(ctx),
      exitDelaySeconds: opts.exitCommand ? restartDelaySeconds(c) : undefined,
      whileCreating: opts.attach ? preloadAttach : undefined,
    });
    trace("monitor: runtime create done");
    if (opts.attach) {
      attachment = await attachSocket(attachSocketPath(ctx.paths.sockets, shortId(c.id)), opts.attach, { tty, ctlPath: ctlFifoPath(bundle) });
      trace("attached");
    }
    const finishedBefore = c.state.FinishedAt;
    await runtime.start(c.id);
    trace("runtime start done");
    ctx.store.mutate(c.id, (r) => {
      // A run that ended at once may have had its exit recorded already (a restarting
      // container is live, so a reconcile elsewhere can claim it): marking it running
      // now would make that exit claimable twice, and restart it twice.
      if (r.state.FinishedAt !== finishedBefore) return;
      r.state = {
        ...r.state,
        Status: "running",
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: monitor.pid,
        ExitCode: 0,
        Error: "",
        StartedAt: nowIso(),
      };
      r.monitorPid = monitor.monitorPid;
      r.stoppedByUser = false;
      if (healthEnabled(r.config.Healthcheck)) r.state.Health = { Status: "starting", FailingStreak: 0, Log: [] };
      Object.assign(c, r);
    });
    ctx.networks.started(c);
    containerEvent(ctx, c, "start");
    startHealthLoop(ctx, c);
    opts.onStarted?.();
    return attachment;
  } catch (e) {
    attachment?.detach();
    await releaseResources(ctx, c, runtime).catch(() => undefined);
    const err = explainNoSpace(ctx.paths, e instanceof CapsaError ? e : new CapsaError("system", errorMessage(e)));
    // As docker: a container that failed to start stays "created" with the error and exit code 127/126/128.
    try {
      ctx.store.mutate(c.id, (r) => {
        r.state = { ...r.state, Status: r.state.StartedAt.startsWith("0001") ? "created" : "exited", Running: false, Pid: 0, Error: err.message, ExitCode: err.exitCode === 125 ? 128 : err.exitCode };
      });
    } catch {
      /* no room to record it (a full disk): the start's own error says more */
    }
    throw err;
  }
}

/**
 * A start killed between conmon's create and the record's update (`run -d`
 * interrupted at ~200 ms) left conmon and the runtime's created container
 * behind: the next start failed with "container with given ID already exists"
 * and leaked a second conmon. A record that is not running owns no monitor, so
 * whatever is still there is stopped and released first. The pid in conmon's
 * pid file is only killed when its command line names this container (pids are
 * reused).
 */
async function clearInterruptedStart(ctx: Ctx, c: ContainerRecord, runtime: RuntimeHandle): Promise<void> {
  // A run that ended (its exit recorded) is not an interrupted start: on a
  // restart, its conmon is still alive, running the exit command that restarts it.
  if (fs.existsSync(exitFile(ctx, c.id)) || fs.existsSync(path.join(persistDir(ctx, c.id), "exit")) || fs.existsSync(restartedExitFile(ctx, c.id))) return;
  const pidFile = path.join(persistDir(ctx, c.id), "conmon.pid");
  let pid: number | undefined;
  try {
    pid = Number.parseInt(fs.readFileSync(pidFile, "utf8"), 10);
  } catch {
    pid = undefined;
  }
  const monitor = pid && pidAlive(pid) && conmonOf(pid, c.id) ? pid : undefined;
  if (!monitor && !runtime.knows(c.id)) return;
  if (!monitor && (await runtime.state(c.id).catch(() => undefined))?.status !== "created") return;
  if (monitor) {
    process.kill(monitor, "SIGKILL");
    for (let i = 0; i < 100 && pidAlive(monitor); i++) await new Promise((r) => setTimeout(r, 10));
  }
  await releaseResources(ctx, c, runtime);
  fs.rmSync(pidFile, { force: true });
  trace("leftovers of an interrupted start released");
}

function conmonOf(pid: number, id: string): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return path.basename(argv[0] ?? "") === "conmon" && argv.includes(id);
  } catch {
    return false;
  }
}

function logSizeMax(c: ContainerRecord): number | undefined {
  const v = c.hostConfig.LogConfig?.Config?.["max-size"];
  return v ? parseLogSize(v) : undefined;
}

/** docker doubles the restart delay from 100 ms; conmon's delay is in whole seconds. */
function restartDelaySeconds(c: ContainerRecord): number | undefined {
  const policy = c.hostConfig.RestartPolicy?.Name ?? "no";
  if (policy === "no" || policy === "") return undefined;
  if (c.restartCount === 0) return undefined;
  return Math.min(60, Math.floor(0.1 * 2 ** c.restartCount));
}
