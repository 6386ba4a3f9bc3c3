// The container half of the SDK: each method finds the container, brings its
// record up to date, and calls the verb's module.
import type { AttachStreams, CommitOptions, ContainerApi, ContainerUpdate, ExecOptions, ListContainersOptions, LogsOptions, RunIo } from "../../types/engine-api.ts";
import type { ContainerRecord, CreateContainerOptions } from "../../types/records.ts";
import type { ContainerStats, LogEntry } from "../../types/views.ts";
import type { Readable } from "node:stream";
import type * as FileVerbs from "./files.ts";
import { readLogs } from "../../monitor/logs.ts";
import { attachSocket } from "../../monitor/attach.ts";
import { attachSocketPath, ctlFifoPath } from "../../monitor/conmon.ts";
import { CapsaError, conflict } from "../../util/errors.ts";
import { shortId } from "../../util/ids.ts";
import { type Ctx, containerDir, containerEvent, logPath } from "./context.ts";
import { createContainer } from "./create.ts";
import { execInContainer } from "./exec.ts";
import { filterContainers, inspectView, sizeView, summaryView } from "./inspect.ts";
import { exitRecorded, processExit, reconcile, type WaitCondition, waitContainer, watchExit } from "./exit.ts";
import { killContainer, pauseContainer, renameContainer, stopContainer, unpauseContainer } from "./lifecycle.ts";
import { statsContainer, topContainer } from "./observe.ts";
import { removeAfterFailedStart, removeContainer } from "./remove.ts";
import { runContainer } from "./run.ts";
import { type StartOptions, startContainer } from "./start.ts";
import { runHealthcheck } from "./healthcheck.ts";
import { updateContainer } from "./update.ts";
import { exitFileExists, waitForExitFile } from "./wait.ts";
import { isLive } from "../../util/container-state.ts";

/** cp, diff, export and commit need the tar code: loaded on first use, never by `run`. */
const fileVerbs = (): Promise<typeof FileVerbs> => import("./files.ts");

export class Containers implements ContainerApi {
  constructor(private readonly ctx: Ctx) {}

  private async current(idOrName: string) {
    const c = this.ctx.store.get(idOrName);
    return (await reconcile(this.ctx, c)) ?? c;
  }

  create(opts: CreateContainerOptions) {
    return createContainer(this.ctx, opts);
  }

  async start(idOrName: string, opts: { attach?: AttachStreams; onStarted?: () => void; exitWatched?: boolean } = {}): Promise<void> {
    // An exit this process is still recording (its release) must be done before the next run.
    await exitRecorded(this.ctx, this.ctx.store.get(idOrName).id);
    const c = await this.current(idOrName);
    if (c.state.Paused) throw conflict(`cannot start a paused container, try unpause instead`);
    const starting = this.startWatched(c, { exitCommand: true, attach: opts.attach, onStarted: opts.onStarted, exitWatched: opts.exitWatched });
    let attachment;
    try {
      attachment = await starting;
    } catch (e) {
      await removeAfterFailedStart(this.ctx, c.id);
      throw e;
    }
    await attachment?.done;
  }

  /** With `exitWatched`, this process watches the run's exit from the start's beginning (exit.ts), and conmon's exit command stands aside. */
  private startWatched(c: ContainerRecord, opts: StartOptions): ReturnType<typeof startContainer> {
    const starting = startContainer(this.ctx, c, opts);
    if (opts.exitWatched) void watchExit(this.ctx, c.id, starting).catch(() => undefined);
    return starting;
  }

  run(opts: CreateContainerOptions, io: RunIo) {
    return runContainer(this.ctx, opts, io);
  }

  async attach(idOrName: string, streams: AttachStreams): Promise<void> {
    const c = await this.current(idOrName);
    if (!c.state.Running) throw conflict("You cannot attach to a stopped container, start it first");
    const a = await attachSocket(attachSocketPath(this.ctx.paths.sockets, shortId(c.id)), streams, { tty: c.config.Tty ?? false, ctlPath: ctlFifoPath(containerDir(this.ctx, c.id)) });
    await a.done;
  }

  async wait(idOrName: string, condition: WaitCondition = "not-running", opts: { signal?: AbortSignal } = {}): Promise<{ StatusCode: number }> {
    return { StatusCode: await waitContainer(this.ctx, idOrName, condition, opts.signal) };
  }

  async stop(idOrName: string, opts?: { timeout?: number; signal?: string }) {
    const c = this.ctx.store.get(idOrName);
    await stopContainer(this.ctx, c, opts);
    await exitRecorded(this.ctx, c.id);
  }

  async kill(idOrName: string, signal?: string) {
    await killContainer(this.ctx, this.ctx.store.get(idOrName), signal);
  }

  async restart(idOrName: string, opts: { timeout?: number; exitWatched?: boolean } = {}) {
    const c = this.ctx.store.get(idOrName);
    await stopContainer(this.ctx, c, { timeout: opts.timeout });
    await exitRecorded(this.ctx, c.id);
    const after = this.ctx.store.get(c.id);
    await this.startWatched(after, { exitCommand: true, exitWatched: opts.exitWatched });
    containerEvent(this.ctx, after, "restart");
  }

  async pause(idOrName: string) {
    await pauseContainer(this.ctx, this.ctx.store.get(idOrName));
  }

  async unpause(idOrName: string) {
    await unpauseContainer(this.ctx, this.ctx.store.get(idOrName));
  }

  async remove(idOrName: string, opts?: { force?: boolean; volumes?: boolean }) {
    await removeContainer(this.ctx, this.ctx.store.get(idOrName), opts);
  }

  rename(idOrName: string, newName: string) {
    renameContainer(this.ctx, this.ctx.store.get(idOrName), newName);
  }

  update(idOrName: string, update: ContainerUpdate) {
    return updateContainer(this.ctx, this.ctx.store.get(idOrName), update);
  }

  async list(opts: ListContainersOptions = {}) {
    for (const c of this.ctx.store.list()) if (isLive(c.state)) await reconcile(this.ctx, c);
    return filterContainers(this.ctx, this.ctx.store.list(), opts).map((c) => ({ ...summaryView(this.ctx, c), ...(opts.size ? sizeView(this.ctx, c) : {}) }));
  }

  async inspect(idOrName: string, opts: { size?: boolean } = {}) {
    const c = await this.current(idOrName);
    return { ...inspectView(this.ctx, c), ...(opts.size ? sizeView(this.ctx, c) : {}) };
  }

  async *logs(idOrName: string, opts: LogsOptions = {}): AsyncIterable<LogEntry> {
    const c = this.ctx.store.get(idOrName);
    // dockerd's answer for a driver that keeps nothing to read.
    if (c.hostConfig.LogConfig?.Type === "none") throw new CapsaError("invalid", "configured logging driver does not support reading", 1);
    const ctx = this.ctx;
    let running = c.state.Running;
    let lastCheck = 0;
    yield* readLogs(logPath(ctx, c.id), {
      ...opts,
      stillRunning: () => {
        // Re-read the record at most every 250 ms while following.
        if (Date.now() - lastCheck > 250) {
          lastCheck = Date.now();
          const cur = ctx.store.find(c.id);
          running = !!cur && isLive(cur.state) && !(cur.state.Running && exitFileExists(ctx, cur.id));
        }
        return running;
      },
    });
  }

  async exec(idOrName: string, opts: ExecOptions, streams?: AttachStreams) {
    return execInContainer(this.ctx, this.ctx.store.get(idOrName), opts, streams);
  }

  async top(idOrName: string, psArgs?: string) {
    return topContainer(this.ctx, this.ctx.store.get(idOrName), psArgs);
  }

  stats(idOrName: string, opts?: { stream?: boolean }): AsyncIterable<ContainerStats> {
    return statsContainer(this.ctx, this.ctx.store.get(idOrName), opts);
  }

  async copyFrom(idOrName: string, path: string) {
    return (await fileVerbs()).copyFrom(this.ctx, await this.current(idOrName), path);
  }

  async copyTo(idOrName: string, path: string, tar: Readable, opts?: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean }) {
    return (await fileVerbs()).copyTo(this.ctx, await this.current(idOrName), path, tar, opts);
  }

  async statPath(idOrName: string, path: string) {
    return (await fileVerbs()).statPath(this.ctx, await this.current(idOrName), path);
  }

  async port(idOrName: string) {
    return (await this.inspect(idOrName)).NetworkSettings.Ports;
  }

  async changes(idOrName: string) {
    return (await fileVerbs()).containerChanges(this.ctx, this.ctx.store.get(idOrName));
  }

  async export(idOrName: string) {
    return (await fileVerbs()).exportContainer(this.ctx, await this.current(idOrName));
  }

  async commit(idOrName: string, opts?: CommitOptions) {
    return (await fileVerbs()).commitContainer(this.ctx, await this.current(idOrName), opts);
  }

  async prune(): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    for (const c0 of this.ctx.store.list()) {
      const c = await reconcile(this.ctx, c0);
      if (!c || isLive(c.state)) continue;
      await removeContainer(this.ctx, c);
      deleted.push(c.id);
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: 0 };
  }

  async healthcheck(idOrName: string) {
    return runHealthcheck(this.ctx, await this.current(idOrName));
  }

  /** Called by conmon's exit command: record the exit, restart or remove per policy. */
  async cleanup(idOrName: string): Promise<void> {
    const c = this.ctx.store.find(idOrName);
    if (!c) return;
    await waitForExitFile(this.ctx, c, AbortSignal.timeout(5000));
    await processExit(this.ctx, c.id);
  }
}

