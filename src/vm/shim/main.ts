// capsa-vm-runtime: an OCI-runtime command line (runc's verbs and flags, the
// ones conmon and capsa call) whose "container" is a QEMU micro-VM. Because
// it speaks runc's language, a VM sits under conmon exactly like a container:
// logs, exit codes, attach, exec, restart policies and the exit command need
// nothing VM-specific. (Kata Containers' first runtime took the same route.)
//
//   create --bundle B --pid-file P [--console-socket S] ID   boot the VM (the wrapper is the pid)
//   start ID                                                 hand the workload to the agent, wait for its ack
//   state ID | list | ps ID
//   kill [--all] ID [SIGNAL]                                 SIGKILL stops the VM hard; others go to the workload
//   pause ID | resume ID                                     QMP stop / cont
//   delete [--force] ID
//   exec --process SPEC --pid-file P [--detach] [--tty --console-socket S] ID
//
// Global flags: --root DIR (state), others (--log, --log-format, --systemd-cgroup) are accepted and ignored.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { RuntimeSpec } from "../../runtime/oci.ts";
import { pidAlive } from "../../util/process.ts";
import { parseSignal } from "../../runtime/signals.ts";
import { connectWhenReady, encodeFrame } from "./frames.ts";
import { runFiles, vmRunDir } from "./qemu.ts";
import { bundleFiles, prepareLaunch } from "./launch.ts";
import { createdState, deleteVm, killQuietly, ociState, qemuPid, readState, statePath, statusOf, writeState, type VmState } from "./state.ts";
import { withConsole } from "./console.ts";
import { startVm } from "./start.ts";

class UsageError extends Error {}

function fail(msg: string): never {
  process.stderr.write(`${msg}\n`);
  process.exit(1);
}

function parseFlags(argv: string[], withValue: Set<string>): { flags: Map<string, string | true>; rest: string[] } {
  const flags = new Map<string, string | true>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith("--") || (a.startsWith("-") && a.length === 2)) {
      const eq = a.indexOf("=");
      const name = (eq > 0 ? a.slice(0, eq) : a).replace(/^-+/, "");
      if (eq > 0) flags.set(name, a.slice(eq + 1));
      else if (withValue.has(name)) flags.set(name, argv[++i] ?? "");
      else flags.set(name, true);
    } else rest.push(a);
  }
  return { flags, rest };
}

const str = (v: string | true | undefined): string | undefined => (typeof v === "string" ? v : undefined);

function mustState(root: string, id: string | undefined): VmState {
  if (!id) throw new UsageError("container id missing");
  const s = readState(root, id);
  if (!s) fail(`container "${id}" does not exist`);
  return s;
}

function readSpec(bundle: string): RuntimeSpec {
  return JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8")) as RuntimeSpec;
}

async function create(root: string, argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv, new Set(["bundle", "b", "pid-file", "console-socket"]));
  const id = rest[0] ?? fail("create: container id missing");
  const bundle = path.resolve(str(flags.get("bundle")) ?? str(flags.get("b")) ?? ".");
  const pidFile = str(flags.get("pid-file"));
  const existing = readState(root, id);
  if (existing && pidAlive(existing.pid)) fail(`container "${id}" already exists`);
  const runDir = vmRunDir(root, id);
  // The engine prepared the launch with the VM (prepare.ts); a bundle made otherwise gets it here.
  const wrapper = bundleFiles(bundle).wrapper;
  if (!fs.existsSync(wrapper)) {
    try {
      await prepareLaunch(readSpec(bundle), bundle, root, id);
    } catch (e) {
      fail((e as Error).message);
    }
  }
  const consoleSocket = str(flags.get("console-socket"));
  const cmd = ["/bin/sh", wrapper];
  const pid = consoleSocket ? await withConsole(consoleSocket, cmd) : spawnDetached(cmd);
  writeState(root, createdState({ id, bundle, pid, runDir, created: new Date().toISOString() }));
  if (pidFile) fs.writeFileSync(pidFile, String(pid));
}

/** Starts `cmd` with our stdio, in a session of its own, and lets it outlive us. */
function spawnDetached(cmd: string[]): number {
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: "inherit", detached: true });
  child.unref();
  if (!child.pid) fail(`cannot start ${cmd[0]}`);
  return child.pid;
}

async function start(root: string, argv: string[]): Promise<void> {
  const id = parseFlags(argv, new Set()).rest[0];
  if (!id) throw new UsageError("container id missing");
  try {
    await startVm(root, id);
  } catch (e) {
    fail((e as Error).message);
  }
}

async function kill(root: string, argv: string[]): Promise<void> {
  const { rest } = parseFlags(argv, new Set());
  const s = mustState(root, rest[0]);
  const sig = parseSignal(rest[1], "SIGTERM").number;
  if (!pidAlive(s.pid)) fail(`container "${s.id}" is not running`);
  if (sig === 9 || !s.started) {
    // A hard stop: the VM goes, as a container's processes go with SIGKILL.
    const qp = qemuPid(s);
    if (qp) killQuietly(qp, "SIGKILL");
    else killQuietly(s.pid, "SIGKILL");
    return;
  }
  if (s.paused) await qmp(s, "cont");
  const sock = await connectWhenReady(runFiles(s.runDir).ctl, Date.now() + 5000, () => pidAlive(s.pid));
  await new Promise<void>((resolve) => sock.end(encodeFrame("S", String(sig)), () => resolve()));
  sock.destroy();
  if (s.paused) await qmp(s, "stop");
}

/** One QMP command (pause/resume). */
async function qmp(s: VmState, command: "stop" | "cont"): Promise<void> {
  const sock = await connectWhenReady(runFiles(s.runDir).qmp, Date.now() + 5000, () => pidAlive(s.pid));
  const lines: string[] = [];
  let buf = "";
  await new Promise<void>((resolve, reject) => {
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc: string } };
        if (msg.QMP) sock.write('{"execute":"qmp_capabilities"}\n');
        else if (msg.error) reject(new Error(msg.error.desc));
        else if ("return" in msg) {
          lines.push(line);
          if (lines.length === 1) sock.write(JSON.stringify({ execute: command }) + "\n");
          else resolve();
        }
      }
    });
    sock.once("error", reject);
  });
  sock.destroy();
}

async function pauseResume(root: string, argv: string[], pause: boolean): Promise<void> {
  const s = mustState(root, parseFlags(argv, new Set()).rest[0]);
  const st = statusOf(s);
  if (pause && st !== "running") fail(`container "${s.id}" is not running`);
  if (!pause && st !== "paused") fail(`container "${s.id}" is not paused`);
  await qmp(s, pause ? "stop" : "cont");
  writeState(root, { ...s, paused: pause });
}

async function remove(root: string, argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv, new Set());
  const id = rest[0] ?? fail("delete: container id missing");
  try {
    await deleteVm(root, id, flags.has("force") || flags.has("f"));
  } catch (e) {
    fail((e as Error).message);
  }
}

async function exec(root: string, argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv, new Set(["process", "p", "pid-file", "console-socket", "cwd", "env", "e", "user", "u"]));
  const s = mustState(root, rest[0]);
  if (statusOf(s) !== "running") fail(`cannot exec in a container that is not running`);
  const processFile = str(flags.get("process")) ?? str(flags.get("p")) ?? fail("exec: --process is required");
  const pidFile = str(flags.get("pid-file"));
  const self = fileURLToPath(import.meta.url);
  const cmd = [process.execPath, self, "exec-proxy", s.runDir, path.resolve(processFile)];
  const consoleSocket = str(flags.get("console-socket"));
  const pid = consoleSocket ? await withConsole(consoleSocket, cmd) : spawnDetached(cmd);
  if (pidFile) fs.writeFileSync(pidFile, String(pid));
}

async function main(argv: string[]): Promise<void> {
  const { flags: globals, rest } = splitGlobals(argv);
  const root = globals.get("root") ?? "/run/capsa/runtime";
  const [verb, ...args] = rest;
  switch (verb) {
    case "create":
      return create(root, args);
    case "start":
      return start(root, args);
    case "state":
      process.stdout.write(JSON.stringify(ociState(mustState(root, args[0]))) + "\n");
      return;
    case "list": {
      let ids: string[] = [];
      try {
        ids = fs.readdirSync(root).filter((d) => fs.existsSync(statePath(root, d)));
      } catch {
        /* none yet */
      }
      const all = ids.map((id) => readState(root, id)).filter((s): s is VmState => !!s).map(ociState);
      process.stdout.write(JSON.stringify(all) + "\n");
      return;
    }
    case "ps": {
      const s = mustState(root, parseFlags(args, new Set(["format", "f"])).rest[0]);
      const pids = [s.pid, qemuPid(s)].filter((p) => p && pidAlive(p));
      process.stdout.write(JSON.stringify(pids) + "\n");
      return;
    }
    case "kill":
      return kill(root, args);
    case "pause":
      return pauseResume(root, args, true);
    case "resume":
      return pauseResume(root, args, false);
    case "delete":
      return remove(root, args);
    case "exec":
      return exec(root, args);
    case "exec-proxy": {
      const { runExecProxy } = await import("./exec-proxy.ts");
      return runExecProxy(args[0]!, args[1]!);
    }
    case "update":
      fail("update: resources of a running VM cannot be changed; recreate it");
      break;
    case "--version":
    case "version":
      process.stdout.write("capsa-vm-runtime version 0.1.0\nspec: 1.0.2\n");
      return;
    default:
      throw new UsageError(`unknown command ${verb ?? "(none)"}`);
  }
}

/** Global flags come before the verb (runc's layout); conmon passes --root, sometimes --log and --log-format. */
function splitGlobals(argv: string[]): { flags: Map<string, string>; rest: string[] } {
  const flags = new Map<string, string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("-") || a === "--version") break;
    const eq = a.indexOf("=");
    const name = (eq > 0 ? a.slice(0, eq) : a).replace(/^-+/, "");
    if (eq > 0) flags.set(name, a.slice(eq + 1));
    else if (["root", "log", "log-format", "criu"].includes(name)) flags.set(name, argv[++i] ?? "");
    else flags.set(name, "true");
  }
  return { flags, rest: argv.slice(i) };
}

main(process.argv.slice(2)).catch((e: unknown) => {
  fail(e instanceof UsageError ? `usage: ${e.message}` : e instanceof Error ? e.message : String(e));
});

