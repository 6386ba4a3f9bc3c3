// The per-container monitor is conmon, as in Podman and CRI-O: a ~1 MiB C
// process that runs `<runtime> create`, holds the container's stdio, writes
// the log file, records the exit code (and OOM kills), and outlives the CLI.
// We talk to it through its sync pipe (pid, then exec exit codes), its attach
// socket (stdio), its ctl FIFO (terminal resize) and the files it leaves.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { CapsaError, systemError } from "../util/errors.ts";
import { shortId } from "../util/ids.ts";
import { runtimeMessage } from "../runtime/runc.ts";

export const CONMON = process.env.CAPSA_CONMON ?? "conmon";

export interface MonitorOptions {
  /** Container id (full). */
  id: string;
  /** Short id for the attach socket directory: sun_path holds only 108 bytes. */
  shortId: string;
  name: string;
  bundle: string;
  runtimePath: string;
  runtimeRoot: string;
  /** The runtime's global arguments (OciRuntime.globalArgs()); default: --root runtimeRoot. */
  runtimeArgs?: string[];
  logPath: string;
  /** "none": conmon keeps no log (attached clients still get the output). */
  logDriver?: "k8s-file" | "none";
  /** conmon writes `<exitDir>/<id>` with the exit code when the container ends. */
  exitDir: string;
  /** conmon writes `exit` and `oom` here. */
  persistDir: string;
  socketDir: string;
  tty: boolean;
  stdin: boolean;
  /** docker's StdinOnce: stdin closes when the first attached client leaves; otherwise it stays open for the next. */
  stdinOnce?: boolean;
  logSizeMax?: number;
  /** Program (and args) conmon runs after the container exits, e.g. `capsa container cleanup <id>`. */
  exitCommand?: string[];
  exitDelaySeconds?: number;
  /** Extra environment for conmon and so for its exit command. */
  env?: Record<string, string>;
  /** Work to do while conmon and the runtime create the container (the CLI is idle then). */
  whileCreating?: () => void;
}

export interface ExecMonitorOptions {
  containerId: string;
  execId: string;
  shortId: string;
  bundle: string;
  runtimePath: string;
  runtimeRoot: string;
  /** As MonitorOptions.runtimeArgs. */
  runtimeArgs?: string[];
  processSpecPath: string;
  exitDir: string;
  socketDir: string;
  persistDir: string;
  tty: boolean;
  stdin: boolean;
  /** Attach before the process runs (conmon waits on the start pipe). */
  attach: boolean;
}

interface SyncMessage {
  data: number;
  message?: string;
}

/** Reads newline-separated JSON messages from conmon's sync pipe. */
class SyncReader {
  private buf = "";
  private waiters: ((m: SyncMessage | null) => void)[] = [];
  private queue: (SyncMessage | null)[] = [];
  constructor(stream: Readable) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (line) this.push(JSON.parse(line) as SyncMessage);
      }
    });
    stream.on("end", () => this.push(null));
    stream.on("error", () => this.push(null));
  }
  private push(m: SyncMessage | null): void {
    const w = this.waiters.shift();
    if (w) w(m);
    else this.queue.push(m);
  }
  next(): Promise<SyncMessage | null> {
    if (this.queue.length) return Promise.resolve(this.queue.shift()!);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export function attachSocketPath(socketDir: string, shortId: string): string {
  return path.join(socketDir, shortId, "attach");
}

export function ctlFifoPath(bundle: string): string {
  return path.join(bundle, "ctl");
}

/** The runtime's own error, which conmon relays in the sync message or its log. */
function runtimeFailure(what: string, msg: SyncMessage | null, stderr: string): CapsaError {
  const detail = runtimeMessage(msg?.message ?? stderr) || "monitor exited unexpectedly";
  return classifyStartError(`${what}: ${detail}`);
}

/**
 * Maps the runtime's start errors to docker's exit codes: a missing
 * executable is 127, one that cannot be executed is 126, the rest 125.
 */
export function classifyStartError(message: string): CapsaError {
  const clean = message.replace(/\\"/g, '"');
  if (/executable file not found|no such file or directory/i.test(clean) && /exec|starting container process/i.test(clean)) {
    return new CapsaError("invalid", clean, 127);
  }
  if (/permission denied|exec format error|is a directory/i.test(clean) && /exec|starting container process/i.test(clean)) {
    return new CapsaError("invalid", clean, 126);
  }
  return new CapsaError("system", clean, 125);
}

function commonArgs(o: { runtimePath: string; runtimeRoot: string; runtimeArgs?: string[]; bundle: string; exitDir: string; socketDir: string; persistDir: string; tty: boolean; stdin: boolean }): string[] {
  const a = ["--api-version", "1", "-r", o.runtimePath, "-b", o.bundle, "--exit-dir", o.exitDir, "--socket-dir-path", o.socketDir, "-0", o.persistDir];
  for (const arg of o.runtimeArgs ?? ["--root", o.runtimeRoot]) a.push("--runtime-arg", arg);
  a.push("--log-level", "error", "--syslog");
  if (o.tty) a.push("-t");
  if (o.stdin) a.push("-i");
  return a;
}

/** conmon runs in the bundle directory: some versions write files (e.g. `oom`) relative to their working directory. */
function spawnConmon(args: string[], extraFds: number, cwd: string, extraEnv: Record<string, string> = {}): { proc: ReturnType<typeof spawn>; sync: SyncReader; stderr: () => string } {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv, _OCI_SYNCPIPE: "3" };
  const stdio: ("ignore" | "pipe")[] = ["ignore", "ignore", "pipe", "pipe"];
  if (extraFds > 0) {
    env._OCI_STARTPIPE = "4";
    env._OCI_ATTACHPIPE = "5";
    stdio.push("pipe", "pipe");
  }
  const proc = spawn(CONMON, args, { env, stdio, detached: true, cwd });
  let err = "";
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const sync = new SyncReader(proc.stdio[3] as Readable);
  return { proc, sync, stderr: () => err };
}

/**
 * Starts conmon for a created-but-not-started container: conmon runs
 * `runtime create` and reports the container's init pid. The caller then
 * attaches (optionally) and calls `runtime start`.
 */
export async function createUnderMonitor(o: MonitorOptions): Promise<{ pid: number; monitorPid: number }> {
  const pidFile = path.join(o.persistDir, "conmon.pid");
  const args = [
    ...commonArgs(o),
    "-c", o.id,
    "-u", o.shortId,
    "-n", o.name,
    "-p", path.join(o.persistDir, "pidfile"),
    "-P", pidFile,
    "-l", o.logDriver === "none" ? "none:" : `k8s-file:${o.logPath}`,
  ];
  if (o.logSizeMax && o.logSizeMax > 0) args.push("--log-size-max", String(o.logSizeMax));
  // As dockerd (CloseStdin = StdinOnce && !Tty): a terminal's stdin outlives its
  // clients, so a client that detaches (or dies) leaves a session to attach to again.
  if (o.stdin && !(o.stdinOnce && !o.tty)) args.push("--leave-stdin-open");
  if (o.exitCommand?.length) {
    args.push("--exit-command", o.exitCommand[0]!);
    for (const a of o.exitCommand.slice(1)) args.push("--exit-command-arg", a);
    if (o.exitDelaySeconds) args.push("--exit-delay", String(o.exitDelaySeconds));
  }
  const { proc, sync, stderr } = spawnConmon(args, 0, o.bundle, o.env);
  o.whileCreating?.();
  const spawnError = new Promise<never>((_, reject) => proc.once("error", (e) => reject(systemError(`start monitor (${CONMON})`, e))));
  const msg = await Promise.race([sync.next(), spawnError]);
  (proc.stdio[3] as Readable).destroy();
  proc.unref();
  if (!msg || msg.data < 0) throw runtimeFailure(`create container ${shortId(o.id)}`, msg, stderr());
  let monitorPid = 0;
  try {
    monitorPid = Number(fs.readFileSync(pidFile, "utf8").trim());
  } catch {
    /* conmon writes it before forking; absence only loses the pid for diagnostics */
  }
  return { pid: msg.data, monitorPid };
}

export interface ExecHandle {
  pid: number;
  /** Resolves with the exec'd process's exit code. */
  exit: Promise<number>;
  /** With `attach`, call after connecting to the attach socket to let the process run. */
  release(): void;
}

/** Runs one extra process in a running container under its own conmon. */
export async function execUnderMonitor(o: ExecMonitorOptions): Promise<ExecHandle> {
  const args = [
    ...commonArgs(o),
    "-c", o.containerId,
    "-u", shortId(o.execId),
    "-e",
    "--exec-process-spec", o.processSpecPath,
    "-p", path.join(o.persistDir, `exec-${shortId(o.execId)}.pid`),
    "-l", "none",
  ];
  if (o.attach) args.push("--exec-attach");
  const { proc, sync, stderr } = spawnConmon(args, o.attach ? 2 : 0, o.bundle);
  const startPipe = o.attach ? (proc.stdio as unknown as NodeJS.WritableStream[])[4] : undefined;
  const spawnError = new Promise<never>((_, reject) => proc.once("error", (e) => reject(systemError(`start monitor (${CONMON})`, e))));
  if (startPipe) {
    // First write lets conmon fork; it then opens the attach socket and tells us on the attach pipe.
    startPipe.write("0");
    const attachReader = new SyncReader((proc.stdio as unknown as Readable[])[5]!);
    const ready = await Promise.race([attachReader.next(), spawnError]);
    if (!ready) throw runtimeFailure("exec", null, stderr());
  }
  let released = false;
  const release = (): void => {
    if (released || !startPipe) return;
    released = true;
    startPipe.write("1");
  };
  if (!o.attach) release();
  // With attach, the pid only arrives after release(); resolve it lazily.
  const pidPromise = Promise.race([sync.next(), spawnError]);
  const exit = (async () => {
    const first = await pidPromise;
    if (!first || first.data < 0) throw runtimeFailure("exec", first, stderr());
    const second = await sync.next();
    proc.unref();
    if (!second) throw runtimeFailure("exec", null, stderr());
    if (second.data < 0) throw runtimeFailure("exec", second, stderr());
    return second.data;
  })();
  proc.unref();
  return { pid: 0, exit, release };
}
