// Which OCI runtime runs containers on this host: crun when it works here
// (fastest), else runc. "Works" is decided by running a real container once —
// capsa's own spec for a trivial process — because runtimes fail in ways a
// version check cannot see (crun 1.8 refuses hybrid cgroup layouts). The
// verdict is cached under the state root, keyed by the binary (path, inode,
// size, mtime), the cgroup layout and the kernel, so it is re-probed only
// when one of those changes. --runtime (a name or a path) overrides the
// choice but is probed too, so a runtime that cannot work fails clearly.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Paths } from "../types/paths.ts";
import { cgroupLayout, cgroupManager } from "../cgroups/index.ts";
import { CapsaError, invalid } from "../util/errors.ts";
import { type RuntimeSpec, specToJson } from "./oci.ts";
import { runtimeMessage } from "./runc.ts";
import { buildSpec } from "./spec.ts";
import { pidAlive } from "../util/process.ts";

export interface ResolvedRuntime {
  name: string;
  path: string;
}

/** Runtimes capsa tries, in order of preference, when none is requested. */
export const RUNTIME_PREFERENCE = ["crun", "runc"];
const SEARCH_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
const PROBE_TIMEOUT_MS = 20_000;

export interface ProbeVerdict {
  ok: boolean;
  reason?: string;
  version?: string;
  checkedAt: string;
}

export function probeCacheFile(paths: Pick<Paths, "root">): string {
  return path.join(paths.root, "runtime-probe.json");
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** A runtime name looked up on $PATH and the sbin directories (runc lives in /usr/sbin). */
export function findOnPath(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), ...SEARCH_DIRS];
  for (const d of dirs) {
    const p = path.join(d, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/** The cache key: the binary's identity, the cgroup layout and the kernel (and the global args, when any). */
function cacheKey(binary: string, globalArgs: readonly string[] = []): string {
  const real = fs.realpathSync(binary);
  const st = fs.statSync(real);
  return [real, st.ino, st.size, Math.trunc(st.mtimeMs), cgroupLayout(), os.release(), ...(globalArgs.length ? [globalArgs.join(" ")] : [])].join("|");
}

function readCache(paths: Pick<Paths, "root">): Record<string, ProbeVerdict> {
  try {
    return JSON.parse(fs.readFileSync(probeCacheFile(paths), "utf8")) as Record<string, ProbeVerdict>;
  } catch {
    return {};
  }
}

function writeCache(paths: Pick<Paths, "root">, key: string, verdict: ProbeVerdict): void {
  try {
    const file = probeCacheFile(paths);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const all = { ...readCache(paths), [key]: verdict };
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(all, null, 2) + "\n");
    fs.renameSync(tmp, file);
  } catch {
    // A cache that cannot be written only costs another probe next time.
  }
}

function exec(file: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; stdout: string; stderr: string; error?: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: "utf8", timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ ok: !err, stdout, stderr, ...(err ? { error: err.killed ? `timed out after ${timeoutMs} ms` : err.message } : {}) });
    });
  });
}

/**
 * A root file system for the probe: the host's own /usr, /bin, /lib… bound
 * read-only into an empty directory, so `true` runs without any image.
 */
function probeMounts(): { rootLinks: [string, string][]; mounts: { destination: string; type: string; source: string; options: string[] }[] } {
  const rootLinks: [string, string][] = [];
  const mounts: { destination: string; type: string; source: string; options: string[] }[] = [];
  for (const d of ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"]) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(d);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) rootLinks.push([d, fs.readlinkSync(d)]);
    else if (st.isDirectory()) mounts.push({ destination: d, type: "bind", source: d, options: ["rbind", "ro", "rprivate"] });
  }
  return { rootLinks, mounts };
}

export interface ProbeOptions {
  /** Global flags after --root (runsc's --platform…). */
  globalArgs?: readonly string[];
  /** Adapts the probe's config.json as the engine does for this runtime. */
  adjustSpec?: (spec: RuntimeSpec) => RuntimeSpec;
}

/** Runs `true` in a container with `binary`; resolves to the verdict (never throws). */
export async function probeRuntime(binary: string, opts: ProbeOptions = {}): Promise<ProbeVerdict> {
  const globalArgs = opts.globalArgs ?? [];
  const checkedAt = new Date().toISOString();
  const v = await exec(binary, ["--version"], 5_000);
  const version = v.stdout.split("\n")[0]?.trim() || undefined;
  if (!v.ok) return { ok: false, reason: `${binary} --version: ${runtimeMessage(v.stderr) || v.error}`, checkedAt };
  sweepStaleProbes();
  const id = `capsa-probe-${process.pid}-${Date.now().toString(36)}`;
  // Named after the id (with this process's pid), so a probe killed midway can be swept by the next.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${id}-`));
  // Its own top-level cgroup (not the root's parent), so cleanup removes all of it.
  const cgroupsPath = `/${id}`;
  const stateRoot = path.join(tmp, "state");
  try {
    const rootfs = path.join(tmp, "rootfs");
    fs.mkdirSync(rootfs);
    const { rootLinks, mounts } = probeMounts();
    for (const [link, target] of rootLinks) fs.symlinkSync(target, path.join(rootfs, link));
    const built = buildSpec({
      id,
      rootfs,
      config: {},
      hostConfig: {},
      args: ["true"],
      env: [],
      cwd: "/",
      user: { uid: 0, gid: 0, additionalGids: [], home: "/" },
      network: { mode: "none" },
      cgroupsPath,
      extraMounts: mounts,
      volumePath: () => {
        throw new Error("the probe uses no volumes");
      },
    });
    const spec = opts.adjustSpec ? opts.adjustSpec(built) : built;
    fs.writeFileSync(path.join(tmp, "config.json"), specToJson(spec));
    const r = await exec(binary, ["--root", stateRoot, ...globalArgs, "run", "--bundle", tmp, id], PROBE_TIMEOUT_MS);
    if (r.ok) return { ok: true, ...(version ? { version } : {}), checkedAt };
    return { ok: false, reason: runtimeMessage(r.stderr) || r.error || "failed", ...(version ? { version } : {}), checkedAt };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e), ...(version ? { version } : {}), checkedAt };
  } finally {
    await exec(binary, ["--root", stateRoot, ...globalArgs, "delete", "--force", id], 10_000);
    try {
      cgroupManager().cleanup(cgroupsPath);
    } catch {
      /* best effort: the runtime normally removed it */
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const STALE_PROBE = /^(capsa-probe-(\d+)-[0-9a-z]+)-[^/]+$/;

/**
 * The bundles and cgroups of probes whose process died midway (a CLI killed
 * during its first command on a state root): the finally of probeRuntime
 * never ran for them.
 */
export function sweepStaleProbes(dir = os.tmpdir()): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = STALE_PROBE.exec(n);
    if (!m || pidAlive(Number(m[2]))) continue;
    try {
      cgroupManager().cleanup(`/${m[1]!}`);
    } catch {
      /* best effort */
    }
    fs.rmSync(path.join(dir, n), { recursive: true, force: true });
  }
}

/** The cached verdict for `binary` (with these options), probing once when there is none. */
export async function verdictFor(binary: string, paths: Pick<Paths, "root">, opts: ProbeOptions = {}): Promise<ProbeVerdict> {
  const key = cacheKey(binary, opts.globalArgs);
  const cached = readCache(paths)[key];
  if (cached) return cached;
  const verdict = await probeRuntime(binary, opts);
  writeCache(paths, key, verdict);
  return verdict;
}

/**
 * The runtime to use: `requested` (a name like "runc" or a path) when given
 * and working; otherwise the first of RUNTIME_PREFERENCE that works here.
 */
export async function resolveRuntime(paths: Pick<Paths, "root">, requested?: string): Promise<ResolvedRuntime> {
  if (requested) {
    const binary = requested.includes("/") ? path.resolve(requested) : findOnPath(requested);
    if (!binary || !isExecutable(binary)) throw invalid(`unknown or invalid runtime name: ${requested}`);
    const name = path.basename(binary);
    const verdict = await verdictFor(binary, paths);
    if (!verdict.ok) throw invalid(`runtime ${requested} does not work on this host: ${verdict.reason ?? "probe failed"}`);
    return { name, path: binary };
  }
  const failures: string[] = [];
  for (const name of RUNTIME_PREFERENCE) {
    const binary = findOnPath(name);
    if (!binary) continue;
    const verdict = await verdictFor(binary, paths);
    if (verdict.ok) return { name, path: binary };
    failures.push(`${name}: ${verdict.reason ?? "probe failed"}`);
  }
  throw new CapsaError(
    "system",
    failures.length ? `no working OCI runtime on this host (${failures.join("; ")})` : `no OCI runtime found: install ${RUNTIME_PREFERENCE.join(" or ")}`,
  );
}
