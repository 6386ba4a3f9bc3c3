// The host side of one exec in a VM: the process conmon watches for
// `capsa exec`. It takes a free exec port of the VM (one session per port),
// sends the process, and relays stdin, stdout, stderr, signals and the
// terminal size until the guest reports the exit code, which becomes its own.
import fs from "node:fs";
import type net from "node:net";
import type { OciProcess } from "../../runtime/oci.ts";
import { pidAlive } from "../../util/process.ts";
import { connectWhenReady, encodeFrame, exitStatus, FrameReader, parseAck } from "./frames.ts";
import { encodeProcess } from "./guest-spec.ts";
import { EXEC_SLOTS, runFiles } from "./qemu.ts";

const SLOT_WAIT_MS = 30_000;
/** The agent answers an exec request at once; no answer in this time means the session is lost. */
const ACK_WAIT_MS = 30_000;

/** CAPSA_VM_DEBUG=<dir>: each exec session notes its steps in <dir>/exec.log (for diagnosing the channel). */
function debugLog(runDir: string, slot: number, msg: string): void {
  const dir = process.env.CAPSA_VM_DEBUG;
  if (!dir) return;
  fs.appendFileSync(`${dir}/exec.log`, `${new Date().toISOString()} ${runDir.slice(-6)} slot ${slot} pid ${process.pid}: ${msg}\n`);
}

/** Claims an exec port by an exclusive lock file holding our pid (a dead holder's lock is taken over). */
async function claimSlot(runDir: string): Promise<number> {
  const deadline = Date.now() + SLOT_WAIT_MS;
  const f = runFiles(runDir);
  for (;;) {
    for (let i = 0; i < EXEC_SLOTS; i++) {
      try {
        fs.writeFileSync(f.execLock(i), String(process.pid), { flag: "wx" });
        return i;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        const holder = Number(fs.readFileSync(f.execLock(i), "utf8").trim());
        if (holder && !pidAlive(holder)) fs.rmSync(f.execLock(i), { force: true });
      }
    }
    if (Date.now() > deadline) throw new Error(`all ${EXEC_SLOTS} exec sessions of this VM are busy`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function finish(code: number, slotLock?: string): never {
  if (slotLock) fs.rmSync(slotLock, { force: true });
  process.exit(code);
}

export async function runExecProxy(runDir: string, processFile: string): Promise<void> {
  const proc = JSON.parse(fs.readFileSync(processFile, "utf8")) as OciProcess;
  const slot = await claimSlot(runDir);
  const lock = runFiles(runDir).execLock(slot);
  debugLog(runDir, slot, `claimed for ${JSON.stringify(proc.args)}`);
  let sock: net.Socket;
  try {
    sock = await connectWhenReady(runFiles(runDir).exec(slot), Date.now() + 10_000, () => true);
  } catch (e) {
    process.stderr.write(`exec: the VM's exec channel is not available: ${(e as Error).message}\n`);
    finish(126, lock);
  }
  const tty = proc.terminal && process.stdout.isTTY;
  if (tty && process.stdin.isTTY) process.stdin.setRawMode(true);
  const size = tty ? { rows: process.stdout.rows, cols: process.stdout.columns } : undefined;
  sock.write(encodeFrame("X", encodeProcess(proc, { rows: size?.rows, cols: size?.cols })));
  debugLog(runDir, slot, "request sent");
  const ackTimer = setTimeout(() => {
    debugLog(runDir, slot, "no answer");
    process.stderr.write(`exec: the VM did not answer within ${ACK_WAIT_MS / 1000} s\n`, () => finish(126, lock));
  }, ACK_WAIT_MS);

  const reader = new FrameReader();
  let started = false;
  const pending: Promise<void>[] = [];
  const write = (stream: NodeJS.WriteStream, data: Buffer): void => {
    if (!stream.write(data)) pending.push(new Promise((r) => stream.once("drain", () => r())));
  };
  sock.on("data", (chunk: Buffer) => {
    let frames;
    try {
      frames = reader.push(chunk);
    } catch (e) {
      // a guest that breaks the protocol ends the session, as a lost channel does
      sock.destroy();
      process.stderr.write(`exec: ${(e as Error).message}\n`, () => finish(137, lock));
      return;
    }
    for (const f of frames) {
      if (f.type === "A") {
        clearTimeout(ackTimer);
        const ack = parseAck(f.payload);
        debugLog(runDir, slot, `answer ${f.payload.toString()}`);
        if (!ack.ok) {
          process.stderr.write(ack.message + "\n", () => finish(ack.code, lock));
          return;
        }
        started = true;
        startRelay();
      } else if (f.type === "O") write(process.stdout, f.payload);
      else if (f.type === "R") write(process.stderr, f.payload);
      else if (f.type === "Q") {
        const code = exitStatus(f.payload.toString());
        debugLog(runDir, slot, `exit ${code}`);
        void Promise.all(pending).then(() => process.stdout.write("", () => finish(code, lock)));
      }
    }
  });
  sock.on("close", () => {
    debugLog(runDir, slot, "channel closed");
    // The VM went away mid-session (stopped or killed): as a process killed with the container.
    process.stderr.write(started ? "" : "exec: the VM closed the exec channel\n", () => finish(137, lock));
  });
  sock.on("error", () => undefined);

  function startRelay(): void {
    process.stdin.on("data", (d: Buffer) => {
      for (let o = 0; o < d.length; o += 65536) sock.write(encodeFrame("I", d.subarray(o, o + 65536)));
    });
    process.stdin.on("end", () => {
      if (!tty) sock.write(encodeFrame("E"));
    });
    process.stdin.on("error", () => undefined);
    for (const sig of ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const) {
      process.on(sig, () => sock.write(encodeFrame("S", String(signalNo(sig)))));
    }
    if (tty) {
      process.stdout.on("resize", () => sock.write(encodeFrame("W", `${process.stdout.rows} ${process.stdout.columns}`)));
    }
  }
}

function signalNo(name: NodeJS.Signals): number {
  return { SIGTERM: 15, SIGINT: 2, SIGHUP: 1, SIGQUIT: 3, SIGUSR1: 10, SIGUSR2: 12 }[name as string] ?? 15;
}
