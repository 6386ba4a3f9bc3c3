// The "sandbox" isolation level: the container's own image and bundle, run by
// gVisor's runsc instead of runc. The workload's system calls go to gVisor's
// user-space kernel (the Sentry), not to the host's; the verbs, the monitor
// (conmon), logs, exec, cgroup limits and the CNI network namespace are the
// container level's. runsc keeps its state in its own --root below the
// runtime root, since its state files are not runc's.
//
// Whether runsc works here is decided once per state root by running a real
// sandbox (probe.ts, with the flags and spec adjustments below) and cached
// like the container runtime's verdict. docs/isolation.md, decision 0005.
import fs from "node:fs";
import path from "node:path";
import type { Paths } from "../types/paths.ts";
import { cgroupManager } from "../cgroups/index.ts";
import { findOnPath, verdictFor } from "../runtime/probe.ts";
import { pidAlive } from "../util/process.ts";
import { OciRuntime } from "../runtime/runc.ts";
import { CapsaError } from "../util/errors.ts";
import { adjustSpecForSandbox } from "./sandbox-spec.ts";

/** gVisor's platform: how the Sentry intercepts system calls. */
export const SANDBOX_PLATFORM = "ptrace";

/**
 * runsc's global flags on every call (decision 0005). --oci-seccomp: runsc
 * applies the spec's seccomp profile to the workload inside the sandbox (it
 * ignores it otherwise), so the sandbox filters what a container filters
 * (decision 0012); the capabilities it applies without being asked.
 */
export const RUNSC_FLAGS: readonly string[] = [`--platform=${SANDBOX_PLATFORM}`, "--network=host", "--oci-seccomp"];

/** runsc's --root: its own directory below capsa's runtime root. */
export function sandboxRoot(paths: Pick<Paths, "runtimeRoot">): string {
  return path.join(paths.runtimeRoot, "runsc");
}

/** runsc names its files after the container and its sandbox: `<id>_sandbox:<sandbox id>.state` / `.lock`. */
function stateFiles(root: string, id: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(`${id}_sandbox:`)).map((n) => path.join(root, n));
}

/** Whether `pid` has exited but is not reaped yet (state Z in /proc/<pid>/stat). */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return false;
  }
}

/**
 * `runsc delete` waits, up to seconds, until the sandbox's and the gofer's
 * processes are gone, and a zombie counts as still there. The gofer outlives
 * the sandbox by a moment, after conmon (its reaper) has exited, so its
 * zombie waits for PID 1; an init that reaps late (as on some CI and VM
 * hosts) adds 1–1.5 s to every removal. A zombie has exited: its pid is
 * dropped from runsc's state (a text edit, nothing else of the file changes)
 * so that delete does not wait for it. Pids of live processes stay.
 */
function forgetZombies(root: string, id: string): void {
  for (const f of stateFiles(root, id)) {
    if (!f.endsWith(".state")) continue;
    let text: string;
    try {
      text = fs.readFileSync(f, "utf8");
    } catch {
      continue;
    }
    const edited = text.replace(/("goferPid"\s*:\s*)(\d+)/, (m: string, key: string, pid: string) => (isZombie(Number(pid)) ? `${key}0` : m));
    if (edited === text) continue;
    const tmp = `${f}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, edited);
    fs.renameSync(tmp, f);
  }
}

/** Alive and not a zombie. */
function running(pid: number): boolean {
  return pid > 0 && pidAlive(pid) && !isZombie(pid);
}

/** Whether `pid` is the gofer of a sandbox under this runsc root (its command line says so). */
function isGofer(pid: number, root: string): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv[0] === "runsc-gofer" && argv.includes(`--root=${root}`);
  } catch {
    return false;
  }
}

/**
 * `delete` of a sandbox whose sandbox process has exited, without starting
 * runsc (~30 ms here). The gofer follows the sandbox within moments; if it
 * has not yet, it is killed, as runsc's delete would, and awaited until it
 * has exited (not until it is reaped, which is what makes runsc wait).
 * What runsc's delete would still do then is remove the sandbox's cgroup
 * and its state and lock files, done here. A sandbox still running, or a
 * state this does not understand, is left to runsc. True when done.
 */
async function removeIfGone(root: string, id: string): Promise<boolean> {
  const files = stateFiles(root, id);
  const state = files.find((f) => f.endsWith(".state"));
  if (!state) return false;
  let st: { goferPid?: unknown; sandbox?: { pid?: unknown }; spec?: { linux?: { cgroupsPath?: unknown } } };
  try {
    st = JSON.parse(fs.readFileSync(state, "utf8")) as typeof st;
  } catch {
    return false;
  }
  const gofer = st.goferPid;
  const sandbox = st.sandbox?.pid;
  if (typeof gofer !== "number" || typeof sandbox !== "number") return false;
  if (running(sandbox)) return false;
  if (running(gofer)) {
    if (!isGofer(gofer, root)) return false;
    try {
      process.kill(gofer, "SIGKILL");
    } catch {
      /* gone meanwhile */
    }
    for (let i = 0; i < 100 && running(gofer); i++) await new Promise((r) => setTimeout(r, 5));
    if (running(gofer)) return false;
  }
  const cgroupsPath = st.spec?.linux?.cgroupsPath;
  try {
    if (typeof cgroupsPath === "string" && cgroupsPath) cgroupManager().cleanup(cgroupsPath);
  } catch {
    return false; // let runsc try
  }
  for (const f of files) fs.rmSync(f, { force: true });
  return true;
}

/**
 * runsc reports a workload it cannot run at `start` ("failed to load /x: no
 * such file or directory", "error finding executable \"x\" in PATH"): 127
 * and 126 as docker, like the container level's create errors.
 */
export function sandboxStartError(e: CapsaError): CapsaError {
  const m = e.message;
  let code = 125;
  if (/error finding executable|failed to load [^:]*: no such file or directory/i.test(m)) code = 127;
  else if (/failed to load [^:]*: (?:permission denied|exec format error|is a directory)/i.test(m)) code = 126;
  if (code === 125) return e;
  const out = new CapsaError("invalid", m, code);
  out.cause = e;
  return out;
}

class SandboxRuntime extends OciRuntime {
  override async start(id: string): Promise<void> {
    try {
      await super.start(id);
    } catch (e) {
      throw e instanceof CapsaError ? sandboxStartError(e) : e;
    }
  }

  override knows(id: string): boolean {
    return stateFiles(this.root, id).some((f) => f.endsWith(".state"));
  }

  /** runsc leaves the lock file of a sandbox whose processes were killed; delete drops it too. */
  override async delete(id: string, force = false): Promise<void> {
    if (await removeIfGone(this.root, id)) return;
    forgetZombies(this.root, id);
    await super.delete(id, force);
    for (const f of stateFiles(this.root, id)) if (f.endsWith(".lock")) fs.rmSync(f, { force: true });
  }
}

interface RunscFound {
  binary: string;
  version?: string;
  ok: boolean;
  reason?: string;
}

/** "0.0~20221219" from `runsc version 0.0~20221219.0`. */
function shortVersion(version: string | undefined): string | undefined {
  const m = /runsc version (\S+)/.exec(version ?? "");
  return m ? m[1]!.replace(/\.0$/, "") : undefined;
}

/** $CAPSA_RUNSC (a path) when set, else runsc on $PATH; undefined with why when there is none. */
function runscBinary(env: NodeJS.ProcessEnv = process.env): { binary: string } | { missing: string } {
  const wanted = env.CAPSA_RUNSC;
  if (wanted) {
    const p = path.resolve(wanted);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return { binary: p };
    } catch {
      /* reported below */
    }
    return { missing: `runsc not found at ${p} (CAPSA_RUNSC)` };
  }
  const found = findOnPath("runsc");
  return found ? { binary: found } : { missing: "runsc is not installed (Debian package runsc)" };
}

async function examine(paths: Pick<Paths, "root">): Promise<RunscFound | { missing: string }> {
  const b = runscBinary();
  if ("missing" in b) return b;
  const v = await verdictFor(b.binary, paths, { globalArgs: RUNSC_FLAGS, adjustSpec: adjustSpecForSandbox });
  return { binary: b.binary, ok: v.ok, ...(v.version ? { version: shortVersion(v.version) ?? v.version } : {}), ...(v.reason ? { reason: v.reason } : {}) };
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** The runtime for sandbox containers; a clear error (125) when runsc is missing or cannot run here. */
export async function sandboxRuntime(paths: Paths): Promise<OciRuntime> {
  const found = await examine(paths);
  if ("missing" in found) throw new CapsaError("system", `sandbox isolation needs gVisor's runsc: ${found.missing}`);
  if (!found.ok) throw new CapsaError("system", `sandbox isolation does not work on this host: runsc: ${oneLine(found.reason ?? "probe failed")}`);
  return new SandboxRuntime(found.binary, sandboxRoot(paths), "runsc", RUNSC_FLAGS);
}

/** For `capsa info`: "available (runsc 0.0~20221219, platform ptrace)" or why not. */
export async function sandboxStatus(paths: Paths): Promise<{ available: boolean; detail: string }> {
  const found = await examine(paths);
  if ("missing" in found) return { available: false, detail: `unavailable: ${found.missing}` };
  const what = `runsc ${found.version ?? "(unknown version)"}, platform ${SANDBOX_PLATFORM}`;
  if (!found.ok) return { available: false, detail: `unavailable (${what}): ${oneLine(found.reason ?? "probe failed")}` };
  return { available: true, detail: `available (${what})` };
}
