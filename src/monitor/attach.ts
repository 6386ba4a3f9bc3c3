// Client side of conmon's attach socket (AF_UNIX, SOCK_SEQPACKET). Each
// message from conmon starts with one byte naming the stream (2 stdout,
// 3 stderr); what we write is the container's stdin, raw. Ending our side
// closes the container's stdin. Node's net module cannot open SEQPACKET
// sockets, hence the small native binding (under Bun, seqpacket-bun.ts). A
// stdin that emits DETACH_EVENT (the client typed its detach keys)
// disconnects without ending the container's stdin: the container keeps running.
import fs from "node:fs";
import { createRequire } from "node:module";
import type { AttachStreams } from "../types/engine-api.ts";
import type { SeqpacketSocket as SeqpacketSocketType } from "node-unix-socket";
import { DETACH_EVENT } from "../util/detach-keys.ts";
import { BunSeqpacketSocket, loadLibc } from "./seqpacket-bun.ts";

const STDOUT = 2;
const STDERR = 3;

type SeqpacketCtor = new () => SeqpacketSocketType;

let ctor: SeqpacketCtor | undefined;

/** Loads the native binding ahead of time (e.g. while the runtime creates the container). */
export function preloadAttach(): void {
  SeqpacketSocket();
}

function SeqpacketSocket(): SeqpacketCtor {
  // Loaded on first use: only attached runs pay for the native module. Bun
  // cannot load it (no uv_poll): there, a client of its own through bun:ffi.
  if (!ctor && process.versions.bun) loadLibc();
  ctor ??= process.versions.bun
    ? (BunSeqpacketSocket as unknown as SeqpacketCtor)
    : (createRequire(import.meta.url)("node-unix-socket") as { SeqpacketSocket: SeqpacketCtor }).SeqpacketSocket;
  return ctor;
}

export interface Attachment {
  /** Resolves when conmon closes the connection (the container's output ended). */
  done: Promise<void>;
  detach(): void;
}

export function attachSocket(socketPath: string, streams: AttachStreams, opts: { ctlPath?: string; tty: boolean }): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const Socket = SeqpacketSocket();
    const sock = new Socket();
    let settled = false;
    let finish: () => void = () => undefined;
    const done = new Promise<void>((r) => (finish = r));
    sock.on("error", (e: Error) => {
      if (!settled) {
        settled = true;
        reject(e);
      } else finish();
    });
    sock.on("data", (buf: Buffer) => {
      if (buf.length < 1) return;
      const kind = buf[0];
      const data = buf.subarray(1);
      if (kind === STDERR && streams.stderr) streams.stderr.write(data);
      else if (kind === STDOUT || kind === STDERR) streams.stdout.write(data);
    });
    sock.on("end", () => finish());
    sock.on("close", () => finish());
    sock.connect(socketPath, () => {
      settled = true;
      const stdin = streams.stdin;
      const onStdin = (chunk: Buffer | string): void => {
        sock.write(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
      };
      const onStdinEnd = (): void => sock.end();
      const onDetach = (): void => detach();
      if (stdin) {
        stdin.on("data", onStdin);
        stdin.once("end", onStdinEnd);
        stdin.once(DETACH_EVENT, onDetach);
      }
      if (opts.tty && opts.ctlPath && streams.onResize) {
        const ctlPath = opts.ctlPath;
        streams.onResize((rows, cols) => {
          try {
            // conmon's control FIFO: "<type> <height> <width>\n", type 1 = resize.
            fs.appendFileSync(ctlPath, `1 ${rows} ${cols}\n`);
          } catch {
            /* the container may be gone already */
          }
        });
      }
      const detach = (): void => {
        if (stdin) {
          stdin.off("data", onStdin);
          stdin.off("end", onStdinEnd);
          stdin.off(DETACH_EVENT, onDetach);
        }
        sock.destroy();
        finish();
      };
      void done.then(() => {
        if (stdin) {
          stdin.off("data", onStdin);
          stdin.off("end", onStdinEnd);
          stdin.off(DETACH_EVENT, onDetach);
        }
      });
      resolve({ done, detach });
    });
  });
}
