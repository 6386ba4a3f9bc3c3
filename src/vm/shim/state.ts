// What capsa-vm-runtime keeps per VM under its --root, and the verbs that need
// nothing but that: state and delete. The runtime binary (main.ts) uses them,
// and so does the engine's handle on the runtime (src/vm/host/runtime-handle.ts),
// which runs them in its own process instead of starting the binary for them:
// one Node start-up less on the path of every `run --rm`.
import fs from "node:fs";
import path from "node:path";
import { cgroupManager } from "../../cgroups/index.ts";
import type { RuntimeSpec } from "../../runtime/oci.ts";
import { pidAlive } from "../../util/process.ts";
import { runFiles } from "./qemu.ts";

export interface VmState {
  id: string;
  bundle: string;
  pid: number;
  runDir: string;
  created: string;
  started: boolean;
  paused: boolean;
}

export type VmStatus = "created" | "running" | "paused" | "stopped";

/** The state's file name in <root>/<id>/, as runc lays out its state: the engine looks for that directory to know a runtime holds the container. */
export const STATE_FILE = "vm-state.json";

export function statePath(root: string, id: string): string {
  return path.join(root, id, STATE_FILE);
}

/** What a VM's state holds right after `create`, besides who it is. */
const AT_CREATE = { started: false, paused: false } as const satisfies Partial<VmState>;
type CreateFields = Omit<VmState, keyof typeof AT_CREATE>;

export function createdState(fields: CreateFields): VmState {
  return { ...fields, ...AT_CREATE };
}

/** How each field is written as JSON by the shell below: the type makes a new field of VmState a compile error here. */
const FIELD_KINDS: { [K in keyof VmState]-?: VmState[K] extends string ? "string" : "number" | "boolean" } = {
  id: "string",
  bundle: "string",
  pid: "number",
  runDir: "string",
  created: "string",
  started: "boolean",
  paused: "boolean",
};

/**
 * Shell that writes createdState(…) to `file` as writeState does (JSON, a
 * temporary file, a rename). The VM runtime's shell front
 * (src/vm/host/runtime-handle.ts) creates a prepared VM without starting
 * Node, so it writes the state itself, with this. `words` are shell words
 * giving each field's value; the strings among them must hold no quote or
 * backslash (the front checks), as they go into the JSON as they are.
 */
export function createdStateShell(file: string, words: { [K in keyof CreateFields]: string }): string {
  const keys = Object.keys(FIELD_KINDS) as (keyof VmState)[];
  const args: string[] = [];
  const members = keys.map((k) => {
    if (k in AT_CREATE) return `"${k}":${JSON.stringify(AT_CREATE[k as keyof typeof AT_CREATE])}`;
    args.push(words[k as keyof CreateFields]);
    return FIELD_KINDS[k] === "string" ? `"${k}":"%s"` : `"${k}":%s`;
  });
  return `printf '{${members.join(",")}}' ${args.join(" ")} >${file}.tmp && mv ${file}.tmp ${file}`;
}

export function readState(root: string, id: string): VmState | undefined {
  try {
    return JSON.parse(fs.readFileSync(statePath(root, id), "utf8")) as VmState;
  } catch {
    return undefined;
  }
}

export function writeState(root: string, s: VmState): void {
  const p = statePath(root, s.id);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(`${p}.tmp`, JSON.stringify(s));
  fs.renameSync(`${p}.tmp`, p);
}

export function statusOf(s: VmState): VmStatus {
  if (!pidAlive(s.pid)) return "stopped";
  if (s.paused) return "paused";
  return s.started ? "running" : "created";
}

/** The OCI runtime-spec state of a VM, as `state` prints it. */
export function ociState(s: VmState): { ociVersion: string; id: string; pid: number; status: VmStatus; bundle: string; created: string; annotations: Record<string, string> } {
  const status = statusOf(s);
  return { ociVersion: "1.0.2", id: s.id, pid: status === "stopped" ? 0 : s.pid, status, bundle: s.bundle, created: s.created, annotations: { "capsa.isolation": "vm" } };
}

export function qemuPid(s: VmState): number {
  try {
    return Number(fs.readFileSync(runFiles(s.runDir).qemuPid, "utf8").trim()) || 0;
  } catch {
    return 0;
  }
}

/** The host cgroup directories the VM's processes joined (the spec's cgroupsPath). */
function cgroupDirs(s: VmState): string[] {
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(s.bundle, "config.json"), "utf8")) as RuntimeSpec;
    return spec.linux.cgroupsPath ? cgroupManager().dirs(spec.linux.cgroupsPath) : [];
  } catch {
    return [];
  }
}

function populated(dir: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").trim() !== "";
  } catch {
    return false;
  }
}

/** The virtiofsd processes the wrapper started (fs-N.pid in the run directory) that still run: their command line names the run directory, so a reused pid is never taken for one. */
function virtiofsdPids(s: VmState): number[] {
  const pids: number[] = [];
  for (let i = 0; ; i++) {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(runFiles(s.runDir).fsPid(i), "utf8").trim()) || 0;
    } catch {
      return pids;
    }
    try {
      if (pid && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(runFiles(s.runDir).fs(i))) pids.push(pid);
    } catch {
      /* gone */
    }
  }
}

/** Alive and not a zombie: a process that has exited but is not reaped yet holds nothing any more. */
function running(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
  } catch {
    return false;
  }
}

export function killQuietly(pid: number, sig: NodeJS.Signals | number): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * `delete`: removes the VM's run directory and state. A VM still running is
 * refused unless `force`, which kills QEMU and the wrapper first. Throws
 * (with runc's wording) when the VM is unknown or running.
 */
export async function deleteVm(root: string, id: string, force: boolean): Promise<void> {
  const s = readState(root, id);
  if (!s) throw new Error(`container "${id}" does not exist`);
  if (pidAlive(s.pid) && !force) throw new Error(`cannot delete container "${id}" that is not stopped`);
  // QEMU, the wrapper and virtiofsd (whose helper follows it) go now; virtiofsd
  // would anyway, once QEMU has. Until they have exited they hold the
  // container's cgroups, which the engine removes next: wait for that.
  const pids = [...(pidAlive(s.pid) ? [qemuPid(s), s.pid] : []), ...virtiofsdPids(s)].filter((p) => p > 0 && running(p));
  for (const p of pids) killQuietly(p, "SIGKILL");
  const cgroups = cgroupDirs(s);
  for (let i = 0; i < 200 && (pids.some(running) || cgroups.some(populated)); i++) await new Promise((r) => setTimeout(r, 10));
  fs.rmSync(s.runDir, { recursive: true, force: true });
  fs.rmSync(path.dirname(statePath(root, id)), { recursive: true, force: true });
}
