// `system check [--repair]`, as podman's: is the database sound, do the
// records and the disk agree (records whose files are missing, files no
// record knows), does every running container still have its monitor. The
// check reads only; --repair fixes what it can and says what it could not.
import fs from "node:fs";
import path from "node:path";
import { resolvePaths, type Paths } from "../types/paths.ts";
import { shortId } from "../util/ids.ts";
import { errorMessage } from "../util/errors.ts";
import { pidAlive } from "../util/process.ts";
import { checkDatabaseFile, imagesUsingLayers, rebuildDatabase, recordedFiles, type RecordedFiles } from "../store/check.ts";
import { unmountBelow } from "../snapshot/overlay.ts";
import { netnsPath, removeNetns } from "../network/netns.ts";
import { stopContainerServer } from "../network/dns.ts";
import { Engine } from "./engine.ts";
import { readoptImages } from "./readopt.ts";
import { type LiveContainer, liveContainers, removeContents, stopLive } from "./recovery.ts";

export interface CheckFinding {
  problem: string;
  /** What --repair did about it. */
  repaired?: string;
  /** Why --repair could not fix it, and what the operator can do. */
  unrepaired?: string;
}

export interface CheckOptions {
  repair?: boolean;
  root?: string;
  runRoot?: string;
  /**
   * Directories younger than this may belong to a command under way (a pull
   * unpacking, a create) and are left alone. Default one minute.
   */
  minAgeMs?: number;
}

const ID_RE = /^[0-9a-f]{64}$/;

export async function checkState(opts: CheckOptions = {}): Promise<CheckFinding[]> {
  const paths = resolvePaths(opts);
  const findings: CheckFinding[] = [];
  const health = checkDatabaseFile(paths.db);
  let rebuilt: CheckFinding | undefined;
  if (!health.ok) {
    const f: CheckFinding = { problem: `database ${paths.db} is damaged (${health.problems.slice(0, 3).join("; ")})` };
    findings.push(f);
    if (!opts.repair) {
      f.unrepaired = "run 'capsa system check --repair' to rebuild it; records and files cannot be compared until then";
      // What the repair may have to stop: running containers whose records do not come back.
      for (const l of await liveContainers(paths)) {
        findings.push({ problem: `container ${shortId(l.id)} runs (the runtime's state says so)`, unrepaired: "--repair stops it if its record cannot be read back" });
      }
      return findings;
    }
    const r = rebuildDatabase(paths.db);
    const kept = Object.entries(r.salvaged).map(([t, n]) => `${t} ${n}`);
    const reasons = new Set(Object.values(r.lost));
    const lost = kept.length === 0 && reasons.size === 1 ? [`every record (${[...reasons][0]})`] : Object.entries(r.lost).map(([t, why]) => `${t} (${why})`);
    f.repaired = `set aside as ${r.setAside}; rebuilt with what could be read: ${kept.join(", ") || "nothing"}${lost.length ? `; lost: ${lost.join(", ")}` : ""}`;
    rebuilt = f;
  }
  const engine = Engine.open({ root: paths.root, runRoot: paths.runRoot });
  try {
    if (rebuilt) {
      // Before orphans are looked for: the layers of images still whole on disk are not orphans.
      const images = readoptImages(engine.db, paths);
      if (images.length) rebuilt.repaired += `; ${images.length} image(s) recorded again from the files on disk, untagged (tag them again: capsa tag <id> <name>)`;
    }
    const rec = recordedFiles(engine.db);
    const live = await liveContainers(paths);
    await checkContainers(engine, paths, rec, live, findings, opts);
    await checkImages(engine, paths, rec, findings, opts);
    checkOrphanLayers(paths, rec, findings, opts);
  } finally {
    engine.close();
  }
  return findings;
}

async function checkContainers(engine: Engine, paths: Paths, rec: RecordedFiles, live: LiveContainer[], findings: CheckFinding[], opts: CheckOptions): Promise<void> {
  const known = new Set(rec.containers.map((c) => c.id));
  for (const c of rec.containers) {
    const label = `container ${c.name} (${shortId(c.id)})`;
    if (!fs.existsSync(path.join(paths.containers, c.id))) {
      const f: CheckFinding = { problem: `${label}: its directory ${path.join(paths.containers, c.id)} is missing` };
      findings.push(f);
      if (opts.repair) await settle(f, engine.containers.remove(c.id, { force: true }), "record removed");
      continue;
    }
    if (c.running && c.monitorPid > 0 && !pidAlive(c.monitorPid)) {
      const f: CheckFinding = { problem: `${label}: its monitor (conmon pid ${c.monitorPid}) died while it ran` };
      findings.push(f);
      // Looking at it records the exit (exit.ts reconcile): killed, 137, the reason in State.Error.
      if (opts.repair) await settle(f, engine.containers.inspect(c.id), "exit recorded (killed, 137)");
    }
  }
  const liveById = new Map(live.map((l) => [l.id, l]));
  const orphanDirs = listDir(paths.containers).filter((n) => ID_RE.test(n) && !known.has(n) && oldEnough(path.join(paths.containers, n), opts));
  for (const id of orphanDirs) {
    const dir = path.join(paths.containers, id);
    const running = liveById.get(id);
    const f: CheckFinding = { problem: `${dir}: no container record${running ? " (its container still runs)" : ""}` };
    findings.push(f);
    if (opts.repair) {
      if (running) await stopLive([running]);
      removeContainerLeftovers(paths, id, f, running ? "stopped and removed" : "removed");
    }
  }
  for (const l of live) {
    if (known.has(l.id) || orphanDirs.includes(l.id)) continue;
    const f: CheckFinding = { problem: `container ${shortId(l.id)}: runtime state under ${paths.runRoot} but no record` };
    findings.push(f);
    if (opts.repair) {
      await stopLive([l]);
      removeContainerLeftovers(paths, l.id, f, "stopped and removed");
    }
  }
}

async function checkImages(engine: Engine, paths: Paths, rec: RecordedFiles, findings: CheckFinding[], opts: CheckOptions): Promise<void> {
  const missingLayers = rec.layers.filter((l) => !fs.existsSync(path.join(paths.layers, l.dir)));
  const broken = imagesUsingLayers(engine.db, missingLayers.map((l) => l.chainId));
  for (const id of broken) {
    const f: CheckFinding = { problem: `image ${shortId(id)}: a layer directory is missing (${missingLayers.map((l) => l.dir).join(", ")})` };
    findings.push(f);
    if (opts.repair) {
      const r = settleSync(() => engine.images.remove(id, { force: true }));
      if (r) f.unrepaired = r;
      else f.repaired = "image removed: pull or load it again";
    }
  }
  const seen = new Set<string>();
  for (const b of rec.imageBlobs) {
    if (broken.includes(b.imageId) || seen.has(b.digest)) continue;
    seen.add(b.digest);
    const file = path.join(paths.blobs, b.digest.replace(/^sha256:/, ""));
    if (fs.existsSync(file)) continue;
    findings.push({ problem: `image ${shortId(b.imageId)}: blob ${b.digest} is missing (save and push of it fail; run works)`, unrepaired: opts.repair ? "pull or load the image again" : undefined });
  }
}

function checkOrphanLayers(paths: Paths, rec: RecordedFiles, findings: CheckFinding[], opts: CheckOptions): void {
  const known = new Set(rec.layers.map((l) => l.dir));
  let mountinfo = "";
  try {
    mountinfo = fs.readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    /* then nothing is removed: see below */
  }
  for (const name of listDir(paths.layers)) {
    const dir = path.join(paths.layers, name);
    if (known.has(name) || !/^[0-9a-f]{24}$/.test(name) || !oldEnough(dir, opts)) continue;
    const f: CheckFinding = { problem: `${dir}: no layer record` };
    findings.push(f);
    if (!opts.repair) continue;
    // A running container's overlay names its lower layers in its mount options.
    if (!mountinfo || mountinfo.includes(dir)) f.unrepaired = "in use by a mount: stop the container using it first";
    else {
      fs.rmSync(dir, { recursive: true, force: true });
      f.repaired = "removed";
    }
  }
}

/** The container's directory (never through a mount), its monitor's files, its exit file. */
function removeContainerLeftovers(paths: Paths, id: string, f: CheckFinding, done: string): void {
  const dir = path.join(paths.containers, id);
  try {
    unmountBelow(dir);
    const kept = removeContents(dir);
    if (kept.length) {
      f.unrepaired = `still mounted: ${kept.join(", ")}`;
      return;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(path.join(paths.runRoot, "containers", id), { recursive: true, force: true });
    fs.rmSync(path.join(paths.exits, id), { force: true });
    // Its network namespace (the veth pair goes with it) and its DNS server.
    stopContainerServer(paths.runRoot, id);
    if (fs.existsSync(netnsPath(paths.runRoot, id))) removeNetns(netnsPath(paths.runRoot, id));
    f.repaired = done;
  } catch (e) {
    f.unrepaired = errorMessage(e);
  }
}

async function settle(f: CheckFinding, p: Promise<unknown>, done: string): Promise<void> {
  try {
    await p;
    f.repaired = done;
  } catch (e) {
    f.unrepaired = errorMessage(e);
  }
}

function settleSync(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return errorMessage(e);
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function oldEnough(p: string, opts: CheckOptions): boolean {
  try {
    return Date.now() - fs.statSync(p).mtimeMs >= (opts.minAgeMs ?? 60_000);
  } catch {
    return false;
  }
}
