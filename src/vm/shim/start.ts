// `start`: hands the workload to the guest agent over the control port and
// waits for its answer, within the boot bound (docs/vm-protocol.md, "Life of
// a VM"). Shared by the runtime binary (main.ts) and the engine's handle on
// the runtime (src/vm/host/runtime-handle.ts), which runs it in its own
// process.
import fs from "node:fs";
import path from "node:path";
import type { RuntimeSpec } from "../../runtime/oci.ts";
import { pidAlive } from "../../util/process.ts";
import { vmBootTimeoutSeconds } from "../boot-timeout.ts";
import { connectWhenReady, encodeFrame, FrameReader, parseAck } from "./frames.ts";
import { confinementFromSpec, encodeProcess, planMounts } from "./guest-spec.ts";
import { runFiles } from "./qemu.ts";
import { killQuietly, qemuPid, readState, writeState } from "./state.ts";

/** Sends one request on a channel and waits for the agent's 'A' answer. */
async function request(socketPath: string, frame: Buffer, deadline: number, alive: () => boolean): Promise<ReturnType<typeof parseAck>> {
  const sock = await connectWhenReady(socketPath, deadline, alive);
  let timer: NodeJS.Timeout | undefined;
  try {
    sock.write(frame);
    const reader = new FrameReader();
    return await new Promise((resolve, reject) => {
      timer = setInterval(() => {
        if (Date.now() > deadline) reject(new Error("timeout"));
        else if (!alive()) reject(new Error("the VM exited"));
      }, 100);
      sock.on("data", (chunk: Buffer) => {
        try {
          for (const f of reader.push(chunk)) if (f.type === "A") resolve(parseAck(f.payload));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
      sock.once("close", () => reject(new Error("the VM closed its control channel")));
      sock.once("error", reject);
    });
  } finally {
    clearInterval(timer);
    sock.destroy();
  }
}

function tail(file: string, lines = 5): string {
  try {
    return fs.readFileSync(file, "utf8").trim().split("\n").slice(-lines).join(" | ");
  } catch {
    return "";
  }
}

/**
 * Starts the workload of VM `id`. Throws with the message the runtime prints:
 * the workload's own failure ("exec: … not found", for 127/126), or why the
 * VM did not come up (it is stopped then).
 */
export async function startVm(root: string, id: string): Promise<void> {
  const s = readState(root, id);
  if (!s) throw new Error(`container "${id}" does not exist`);
  if (s.started) throw new Error(`container "${s.id}" is already started`);
  if (!pidAlive(s.pid)) throw new Error(`container "${s.id}" is stopped: ${tail(runFiles(s.runDir).qemuLog) || "the VM exited"}`);
  const spec = JSON.parse(fs.readFileSync(path.join(s.bundle, "config.json"), "utf8")) as RuntimeSpec;
  const timeout = vmBootTimeoutSeconds() * 1000;
  const payload = encodeProcess(spec.process, { hostname: spec.hostname, pidsLimit: spec.linux.resources?.pids?.limit }, planMounts(spec), confinementFromSpec(spec));
  let ack;
  try {
    ack = await request(runFiles(s.runDir).ctl, encodeFrame("R", payload), Date.now() + timeout, () => pidAlive(s.pid));
  } catch (e) {
    const qp = qemuPid(s);
    const why = (e as Error).message === "timeout" ? `the VM did not come up within ${timeout / 1000} s, so it was stopped` : `the VM did not start: ${(e as Error).message}`;
    if (qp) killQuietly(qp, "SIGKILL");
    const detail = tail(runFiles(s.runDir).qemuLog) || tail(runFiles(s.runDir).console);
    throw new Error(`${why}${detail ? ` (${detail})` : ""}`);
  }
  // The workload could not be started (not found: 127, not executable: 126); the VM powers itself off.
  if (!ack.ok) throw new Error(ack.message);
  writeState(root, { ...s, started: true });
}
