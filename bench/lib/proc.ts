// Running and timing commands. Timing starts just before spawn and ends when
// the child has exited and its pipes are closed: what a user at a shell sees.
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export interface Cmd {
  argv: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * stdio to /dev/null, and done at exit rather than when pipes close: for
   * commands whose children inherit stdio and outlive them (`runc run -d`).
   */
  nullStdio?: boolean;
}

export interface Timed {
  ms: number;
  /** Milliseconds until the first byte on stdout, when there was one. */
  firstOutputMs?: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    // Paths below the bench's temporary directory say nothing to a reader: elide them.
    const shown = [path.basename(argv[0] ?? "?"), ...argv.slice(1).map((a) => (a.startsWith("/") ? "…" : a))];
    super(`${shown.join(" ")}: exit ${code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
  }
}

export function timed(cmd: Cmd, opts: { timeoutMs?: number } = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
    const child = spawn(cmd.argv[0]!, cmd.argv.slice(1), {
      env: cmd.env,
      cwd: cmd.cwd,
      stdio: cmd.nullStdio ? "ignore" : ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let firstOutputMs: number | undefined;
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.stdout?.on("data", (d: Buffer) => {
      firstOutputMs ??= ms();
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const done = (code: number | null) => {
      clearTimeout(timer);
      resolve({ ms: ms(), firstOutputMs, code, stdout, stderr });
    };
    if (cmd.nullStdio) child.on("exit", done);
    else child.on("close", done);
  });
}

/** Runs a command, timed; throws CommandError unless it exits 0. */
export async function timedOk(cmd: Cmd, opts: { timeoutMs?: number } = {}): Promise<Timed> {
  const r = await timed(cmd, opts);
  if (r.code !== 0) throw new CommandError(cmd.argv, r.code, r.stderr);
  return r;
}

export function run(cmd: Cmd, opts: { input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd.argv[0]!, cmd.argv.slice(1), {
    env: cmd.env,
    cwd: cmd.cwd,
    input: opts.input,
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 300_000,
    maxBuffer: 64 << 20,
  });
}

export function runOk(cmd: Cmd, opts: { input?: string; timeoutMs?: number } = {}): string {
  const r = run(cmd, opts);
  if (r.status !== 0) throw new CommandError(cmd.argv, r.status, r.stderr || (r.error?.message ?? ""));
  return r.stdout;
}

/** The first line a command prints, or undefined when it cannot run. */
export function firstLine(argv: string[], env?: NodeJS.ProcessEnv): string | undefined {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", env, timeout: 30_000 });
  if (r.status !== 0) return undefined;
  return (r.stdout || r.stderr).trim().split("\n")[0];
}

export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

// The bounded pool the engine uses (layer downloads and unpacking), for the scenarios too.
export { mapLimit } from "../../src/util/map-limit.ts";

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** SIGTERM, then SIGKILL after `graceMs`, for a process this harness started; resolves when it is gone. */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, "SIGTERM");
  for (let waited = 0; waited < graceMs && alive(); waited += 100) await sleep(100);
  if (!alive()) return;
  process.kill(pid, "SIGKILL");
  for (let i = 0; i < 50 && alive(); i++) await sleep(100);
}
