// The framing of capsa's host↔guest channels (docs/vm-protocol.md): one byte
// of type, a 4-byte big-endian length, the payload. The guest side is
// guest/agent.c; this is the host side, shared by the VM runtime's verbs and
// the exec proxy.
import net from "node:net";

export interface Frame {
  type: string;
  payload: Buffer;
}

export function encodeFrame(type: string, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head.write(type, 0, 1, "latin1");
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/**
 * The largest frame the host takes from a guest: the agent sends output in
 * frames of at most 32 KiB and answers of a few hundred bytes. The guest is
 * not trusted, so a larger length is refused before anything is buffered.
 */
export const MAX_GUEST_FRAME = 1024 * 1024;

export class FrameTooLarge extends Error {
  constructor(readonly length: number) {
    super(`the VM sent a frame of ${length} bytes, over the ${MAX_GUEST_FRAME}-byte limit`);
  }
}

/** Splits a byte stream into frames; throws FrameTooLarge when a header announces more than `max` bytes. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly max = MAX_GUEST_FRAME) {}
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (len > this.max) {
        this.buf = Buffer.alloc(0);
        throw new FrameTooLarge(len);
      }
      if (this.buf.length < 5 + len) break;
      out.push({ type: this.buf.toString("latin1", 0, 1), payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }
}

/** Connects to a unix socket QEMU serves, retrying while it does not exist yet (QEMU still starting). */
export async function connectWhenReady(socketPath: string, deadline: number, alive: () => boolean): Promise<net.Socket> {
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(socketPath);
        s.once("connect", () => {
          s.removeListener("error", reject);
          resolve(s);
        });
        s.once("error", reject);
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== "ENOENT" && code !== "ECONNREFUSED") || Date.now() > deadline || !alive()) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** An agent's answer to a run or exec request: "ok", or "E<exit code> <message>". */
export function parseAck(payload: Buffer): { ok: true } | { ok: false; code: number; message: string } {
  const text = payload.toString("utf8");
  if (text === "ok") return { ok: true };
  const m = /^E(\d+) ([\s\S]*)$/.exec(text);
  return m ? { ok: false, code: exitStatus(m[1]!), message: m[2]! } : { ok: false, code: 125, message: text };
}

/**
 * An exit code as the guest wrote it, made a valid exit status: the guest is not
 * trusted, and process.exit throws on Infinity or 1e20. Anything but 0..255 is
 * an engine error (125).
 */
export function exitStatus(text: string): number {
  const n = /^\d{1,3}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  return n >= 0 && n <= 255 ? n : 125;
}
