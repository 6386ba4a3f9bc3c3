// docker's detach keys: a sequence typed on an attached stdin that ends the
// client's session and leaves the workload running. The syntax is docker's
// (moby/term ToBytes): comma-separated keys, each one character or `ctrl-X`
// with X in a-z, @, [, \, ], ^, _ (or DEL).
import { PassThrough, type Readable } from "node:stream";
import { CapsaError } from "./errors.ts";

export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

/**
 * Emitted by a stdin stream (see detachingStdin) when the client typed its
 * detach sequence: whoever forwards it stops and disconnects, without ending
 * the workload's stdin (as the end of the stream would).
 */
export const DETACH_EVENT = "detach";

const CTRL = "@abcdefghijklmnopqrstuvwxyz[\\]^_";

/** The bytes of a detach-keys string; a CapsaError ("invalid") names a bad one. */
export function parseDetachKeys(keys: string): Buffer {
  const bad = (): CapsaError => new CapsaError("invalid", `Invalid detach keys (${keys}) provided`);
  const out: number[] = [];
  for (const key of keys.split(",")) {
    if (key.length === 1) {
      out.push(key.charCodeAt(0));
      continue;
    }
    const k = key.toLowerCase();
    const i = k.length === 6 && k.startsWith("ctrl-") ? CTRL.indexOf(k[5] as string) : -1;
    if (i >= 0) out.push(i);
    else if (key === "DEL") out.push(127);
    else throw bad();
  }
  if (out.some((b) => b > 127)) throw bad();
  return Buffer.from(out);
}

/**
 * Watches a byte stream for the sequence. A prefix is held back until the next
 * byte either completes the sequence (then nothing of it is forwarded) or
 * breaks it (then the prefix goes on as typed, as docker's escape proxy does).
 */
export class DetachScanner {
  private held = 0;
  constructor(private readonly keys: Buffer) {}

  /** What to forward of chunk, and whether the sequence completed (nothing after it is forwarded). */
  push(chunk: Buffer): { forward: Buffer; detached: boolean } {
    const parts: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === this.keys[this.held]) {
        if (this.held === 0) {
          parts.push(chunk.subarray(start, i));
          start = i;
        }
        this.held++;
        if (this.held === this.keys.length) return { forward: Buffer.concat(parts), detached: true };
        continue;
      }
      if (this.held > 0) {
        // The held prefix may have started in an earlier chunk: forward it from the keys.
        parts.push(this.keys.subarray(0, this.held));
        this.held = 0;
        start = i;
        if (b === this.keys[0]) i--; // this byte may start the sequence afresh
      }
    }
    if (this.held === 0) parts.push(chunk.subarray(start));
    return { forward: Buffer.concat(parts), detached: false };
  }
}

/**
 * A stdin that forwards input until the detach sequence; then it emits
 * DETACH_EVENT (never "end") and calls onDetach. The input's end ends it.
 */
export function detachingStdin(input: Readable, keys: Buffer, onDetach: () => void): PassThrough {
  const out = new PassThrough();
  const scanner = new DetachScanner(keys);
  const onData = (chunk: Buffer | string): void => {
    const { forward, detached } = scanner.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    if (forward.length) out.write(forward);
    if (!detached) return;
    stop();
    out.emit(DETACH_EVENT);
    onDetach();
  };
  const onEnd = (): void => void out.end();
  const stop = (): void => {
    input.off("data", onData);
    input.off("end", onEnd);
  };
  input.on("data", onData);
  input.once("end", onEnd);
  return out;
}
