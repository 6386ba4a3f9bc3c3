// The OCI runtime's command line for the verbs the engine calls directly
// (create/run and exec go through the monitor). Works with runc, crun and
// runsc, which share these verbs. Every call passes --root, so separate state
// roots never see each other's containers, and every failure is wrapped once
// as "<runtime> <verb> <id>: <runtime's message>".
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { CapsaError, type ErrorKind } from "../util/errors.ts";
import { shortId } from "../util/ids.ts";
import type { OciResources } from "./oci.ts";

/** `runc state` output (OCI runtime-spec "state"). */
export interface RuntimeState {
  ociVersion: string;
  id: string;
  pid: number;
  status: "creating" | "created" | "running" | "paused" | "stopped";
  bundle: string;
  rootfs?: string;
  created?: string;
  annotations?: Record<string, string>;
}

interface RunResult {
  stdout: string;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** The runtime's own message from its stderr: logrus text (msg="…"), JSON log lines, or plain text. */
export function runtimeMessage(stderr: string): string {
  const msgs: string[] = [];
  for (const line of stderr.split("\n")) {
    const l = line.trim();
    if (!l) continue;
    if (l.startsWith("{")) {
      try {
        const j = JSON.parse(l) as { msg?: unknown; level?: unknown };
        if (typeof j.msg === "string" && (j.level === undefined || j.level === "error" || j.level === "fatal")) msgs.push(j.msg);
        continue;
      } catch {
        /* not JSON after all */
      }
    }
    const m = /level=(\w+)\s+msg="((?:[^"\\]|\\.)*)"/.exec(l);
    if (m) {
      if (m[1] === "error" || m[1] === "fatal") msgs.push((m[2] ?? "").replace(/\\(.)/g, "$1"));
      continue;
    }
    msgs.push(l);
  }
  return msgs.join("; ") || stderr.trim();
}

function kindOf(message: string): ErrorKind {
  if (/does not exist|not found|no such file/i.test(message)) return "not-found";
  if (/not running|not paused|is paused|is not|already|cannot (?:pause|resume|start)|stopped/i.test(message)) return "conflict";
  return "system";
}

/** "3f2a5c8e91d0…" for a full 64-hex container id in a runtime's error message, any other id as it is. */
export function abbreviatedId(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? `${shortId(id)}…` : id;
}

export class OciRuntime {
  readonly path: string;
  readonly root: string;
  readonly name: string;
  /** Global flags after --root on every call (runsc's --platform, --network…). */
  readonly extraArgs: readonly string[];

  /** `path`: the runtime binary; `root`: its state directory (paths.runtimeRoot); `name`: for messages. */
  constructor(path: string, root: string, name: string = path.split("/").pop() ?? path, extraArgs: readonly string[] = []) {
    this.path = path;
    this.root = root;
    this.name = name;
    this.extraArgs = extraArgs;
  }

  /** Whether the runtime holds state for `id` (runc and crun: a directory named after it under --root). */
  knows(id: string): boolean {
    return fs.existsSync(path.join(this.root, id));
  }

  /** The runtime's global arguments, for the monitor's command line. */
  globalArgs(): string[] {
    return ["--root", this.root, ...this.extraArgs];
  }

  protected run(verb: string, id: string | undefined, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        this.path,
        [...this.globalArgs(), verb, ...args],
        { encoding: "utf8", timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (!err) return resolve({ stdout, stderr });
          const detail = runtimeMessage(stderr) || (err.killed ? `timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms` : err.message);
          const e = new CapsaError(kindOf(detail), `${this.name} ${verb}${id ? ` ${abbreviatedId(id)}` : ""}: ${detail}`);
          e.cause = err;
          reject(e);
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  }

  /** The container's state, or undefined when the runtime does not know it. */
  async state(id: string): Promise<RuntimeState | undefined> {
    try {
      const { stdout } = await this.run("state", id, [id]);
      return JSON.parse(stdout) as RuntimeState;
    } catch (e) {
      if (e instanceof CapsaError && e.kind === "not-found") return undefined;
      throw e;
    }
  }

  /** Every container under this root. */
  async list(): Promise<RuntimeState[]> {
    const { stdout } = await this.run("list", undefined, ["--format", "json"]);
    const parsed = JSON.parse(stdout.trim() || "[]") as RuntimeState[] | null;
    return parsed ?? [];
  }

  async start(id: string): Promise<void> {
    await this.run("start", id, [id]);
  }

  /** `signal`: a name (SIGTERM, TERM) or number; `all`: signal every process of the container (needed for SIGKILL of a stopped init's children). */
  async kill(id: string, signal: string | number = "SIGTERM", all = false): Promise<void> {
    await this.run("kill", id, [...(all ? ["--all"] : []), id, String(signal)]);
  }

  async pause(id: string): Promise<void> {
    await this.run("pause", id, [id]);
  }

  async resume(id: string): Promise<void> {
    await this.run("resume", id, [id]);
  }

  /** Removes the container from the runtime; `force` kills it first. A container the runtime does not know is already deleted. */
  async delete(id: string, force = false): Promise<void> {
    try {
      await this.run("delete", id, [...(force ? ["--force"] : []), id]);
    } catch (e) {
      if (e instanceof CapsaError && e.kind === "not-found") return;
      throw e;
    }
  }

  /** The host pids of the container's processes. */
  async ps(id: string): Promise<number[]> {
    const { stdout } = await this.run("ps", id, ["--format", "json", id]);
    return ((JSON.parse(stdout.trim() || "[]") as number[] | null) ?? []).sort((a, b) => a - b);
  }

  /** Changes a running container's resources (`docker update`). */
  async update(id: string, resources: OciResources): Promise<void> {
    await this.run("update", id, ["--resources", "-", id], { input: JSON.stringify(resources) });
  }
}
