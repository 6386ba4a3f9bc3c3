// What runs under a state root, found without the database: the OCI
// runtimes' own state (`<runtime> --root … list`, one root per isolation
// level) and the monitors' pid files under the run root. `system reset`
// stops these before it unmounts anything (a rootfs unmounted under a running
// workload breaks it and leaks its monitor), also when the database is
// damaged or knows nothing of them; `system check` compares them with it.
import fs from "node:fs";
import path from "node:path";
import type { Paths } from "../types/paths.ts";
import type { ContainerRecord } from "../types/records.ts";
import type { OciRuntime } from "../runtime/runc.ts";
import { ISOLATION_LEVELS } from "../runtime/handler.ts";
import { runtimeHandler } from "../isolation/handlers.ts";
import { cgroupManager, cgroupParent } from "../cgroups/index.ts";
import { unmountBelow } from "../snapshot/overlay.ts";
import { listNetns, removeNetns } from "../network/netns.ts";
import { listServers, stopContainerServer, stopServer } from "../network/dns.ts";
import { sweepOrphanBridges, sweepOrphanDns } from "../network/orphans.ts";
import { sweepOrphanRules } from "../network/isolation.ts";
import { mountPoints } from "../util/mounts.ts";
import { type CapsaError, DamagedStateError, explainStateError, noSpaceLeft } from "../util/errors.ts";
import { pidAlive } from "../util/process.ts";
import { sleep } from "./containers/wait.ts";

export interface LiveContainer {
  id: string;
  /** conmon's pid, when its pid file names a live conmon. */
  monitorPid?: number;
  /** The workload's pid, when alive. */
  pid?: number;
  /** The runtime holding state for it (for delete --force). */
  runtime?: OciRuntime;
}

const ID_RE = /^[0-9a-f]{64}$/;

function readPid(file: string): number | undefined {
  try {
    const n = Number.parseInt(fs.readFileSync(file, "utf8").trim(), 10);
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function commandName(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** The runtimes of every level this host has, bound to this run root's state directories. */
async function runtimes(paths: Paths): Promise<OciRuntime[]> {
  const found: OciRuntime[] = [];
  for (const level of ISOLATION_LEVELS) {
    // The level's default runtime: a record is only asked for a per-container runtime name.
    const probe = { id: "", runtime: "", hostConfig: { Isolation: level } } as unknown as ContainerRecord;
    try {
      found.push(await runtimeHandler(level).runtime(paths, probe));
    } catch {
      /* the level is not available here: nothing of it can run */
    }
  }
  return found;
}

/** Every container the runtimes hold state for under this run root, or whose monitor still runs. */
export async function liveContainers(paths: Paths): Promise<LiveContainer[]> {
  const found = new Map<string, LiveContainer>();
  for (const rt of await runtimes(paths)) {
    let states: Awaited<ReturnType<OciRuntime["list"]>>;
    try {
      states = await rt.list();
    } catch {
      continue; // no state directory yet
    }
    for (const s of states) {
      if (found.has(s.id)) continue;
      found.set(s.id, { id: s.id, runtime: rt, pid: s.pid > 0 && pidAlive(s.pid) ? s.pid : undefined });
    }
  }
  let persisted: string[] = [];
  try {
    persisted = fs.readdirSync(path.join(paths.runRoot, "containers")).filter((n) => ID_RE.test(n));
  } catch {
    /* no container ever ran here */
  }
  for (const id of persisted) {
    const monitor = readPid(path.join(paths.runRoot, "containers", id, "conmon.pid"));
    if (monitor === undefined || !pidAlive(monitor) || commandName(monitor) !== "conmon") continue;
    const entry = found.get(id) ?? { id };
    entry.monitorPid = monitor;
    found.set(id, entry);
  }
  return [...found.values()];
}

/**
 * Stops them: monitors first (a monitor that saw its workload die would run
 * its exit command, which would race with what follows), then the runtime's
 * delete --force (kills and forgets the container), then waits until every
 * process is gone.
 */
export async function stopLive(live: LiveContainer[]): Promise<void> {
  for (const c of live) {
    if (c.monitorPid && pidAlive(c.monitorPid)) process.kill(c.monitorPid, "SIGKILL");
  }
  for (const c of live) await c.runtime?.delete(c.id, true).catch(() => undefined);
  const pids = live.flatMap((c) => [c.monitorPid, c.pid]).filter((p): p is number => p !== undefined);
  for (let i = 0; i < 100 && pids.some(pidAlive); i++) await sleep(100);
}

/**
 * `system reset` when the database cannot be read: stops what runs (found
 * from the runtimes' own state), removes network namespaces and DNS
 * servers, unmounts, and only then deletes the state root's contents. A
 * directory with something still mounted below it is never deleted (a bind
 * mount would take host files with it): it is reported instead.
 */
export async function resetWithoutDatabase(paths: Paths): Promise<{ stopped: string[]; kept: string[] }> {
  const live = await liveContainers(paths);
  await stopLive(live);
  for (const file of listNetns(paths.runRoot)) removeNetns(file);
  for (const prefix of listServers(paths.runRoot)) {
    if (prefix.startsWith("c-")) stopContainerServer(paths.runRoot, prefix.slice(2));
    else stopServer(paths.runRoot, prefix);
  }
  unmountBelow(paths.runRoot);
  unmountBelow(paths.root);
  cgroupManager().cleanup(cgroupParent(paths));
  const kept = [...removeContents(paths.runRoot), ...removeContents(paths.root)];
  // With the database gone, the host-wide leftovers of this root are orphans.
  sweepOrphanDns();
  sweepOrphanBridges();
  sweepOrphanRules();
  return { stopped: live.map((c) => c.id), kept };
}

/** Deletes what dir holds, except entries with a mount point at or below them (returned). */
export function removeContents(dir: string): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const mounts = mountPoints();
  const kept: string[] = [];
  for (const name of entries) {
    const p = path.join(dir, name);
    if (mounts.some((m) => m === p || m.startsWith(p + "/"))) {
      kept.push(p);
      continue;
    }
    fs.rmSync(p, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }
  return kept;
}

/**
 * A start that failed for want of space, said so with the file system to
 * free: runc reports ENOSPC while it stores its state as "unable to store
 * init state: %!w(<nil>)" (a formatting slip of its own), and Node's and
 * SQLite's words name no path.
 */
export function explainNoSpace(paths: Paths, e: CapsaError): CapsaError {
  const explained = explainStateError(e, paths.db);
  if (explained && !(explained instanceof DamagedStateError)) return explained;
  if (!/%!w\(<nil>\)|no space left|disk is full/i.test(e.message)) return e;
  for (const where of [paths.runtimeRoot, paths.runRoot, paths.root]) {
    try {
      // Below a mebibyte: what failed needed a few pages more than were left.
      const s = fs.statfsSync(where);
      if (s.bavail * s.bsize < 1024 * 1024) return noSpaceLeft(where, e);
    } catch {
      /* not there yet */
    }
  }
  return e;
}
