// Attach and exec-start take over the connection (docker's "hijack"): the
// client asks for `Connection: Upgrade, Upgrade: tcp`, we answer 101, and from
// then on the socket carries the container's stdin one way and its output the
// other. Without a TTY the output is multiplexed with docker's 8-byte frame
// headers ([stream, 0, 0, 0, size uint32 BE]); with a TTY it is raw. The
// client half-closes (CloseWrite) when its stdin ends, which ends the
// container's stdin. With detach keys (the `detachKeys` parameter, default
// ctrl-p ctrl-q) typed on the connection, the server closes it and the
// workload keeps running, its stdin open.
import { PassThrough, type Readable, Writable } from "node:stream";
import type { Duplex } from "node:stream";
import type { AttachStreams } from "../types/engine-api.ts";
import { errorBody, statusOf } from "./http.ts";
import { STATUS_CODES } from "node:http";
import { DEFAULT_DETACH_KEYS, DETACH_EVENT, DetachScanner, parseDetachKeys } from "../util/detach-keys.ts";

export const STDOUT = 1;
export const STDERR = 2;

export function frameHeader(stream: number, size: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(size, 4);
  return h;
}

/** A Writable that frames each chunk for `stream` (or passes it raw) onto out; writes after out closed are dropped. */
export function framedWriter(out: Writable, stream: number | "raw"): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (out.destroyed || out.writableEnded) return cb();
      const ok = stream === "raw" ? out.write(chunk) : out.write(Buffer.concat([frameHeader(stream, chunk.length), chunk]));
      if (ok || out.destroyed) cb();
      else out.once("drain", () => cb());
    },
  });
}

export function streamContentType(tty: boolean): string {
  return tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
}

/** Answers the upgrade: from here on the socket is the container's stdio. */
export function writeUpgrade(socket: Duplex, tty: boolean): void {
  socket.write(["HTTP/1.1 101 UPGRADED", `Content-Type: ${streamContentType(tty)}`, "Connection: Upgrade", "Upgrade: tcp", "", ""].join("\r\n"));
}

/** An error before the upgrade: a plain HTTP response on the raw socket, then close. */
export function writeSocketError(socket: Duplex, e: unknown): void {
  if (socket.destroyed) return;
  const status = statusOf(e);
  const body = status === 304 ? "" : errorBody(e);
  socket.end(
    [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`, "Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`, "Connection: close", "", body].join("\r\n"),
  );
}

/**
 * Reads a request body of contentLength bytes from an upgraded connection
 * (Node does not parse bodies of upgrade requests); returns it and whatever
 * followed it (the first bytes of stdin).
 */
export function readUpgradeBody(socket: Duplex, head: Buffer, contentLength: number): Promise<{ body: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = head;
    const check = (): boolean => {
      if (buf.length < contentLength) return false;
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.pause();
      resolve({ body: buf.subarray(0, contentLength), rest: buf.subarray(contentLength) });
      return true;
    };
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      check();
    };
    const onEnd = (): void => reject(new Error("connection closed before the request body was complete"));
    if (check()) return;
    socket.on("data", onData);
    socket.once("end", onEnd);
  });
}

/** The bytes of a request's `detachKeys` parameter (docker's default when absent); a bad value is a 400. */
export function detachKeysParam(value: string | undefined): Buffer {
  return parseDetachKeys(value || DEFAULT_DETACH_KEYS);
}

/**
 * The client's stdin: the bytes already read, then the socket until the client
 * half-closes, or until it types the detach keys: then the stream emits
 * DETACH_EVENT (not "end": the workload's stdin stays open) and the
 * connection is closed.
 */
export function stdinFrom(socket: Duplex, first: Buffer, detachKeys: Buffer): Readable {
  const input = new PassThrough();
  const scanner = new DetachScanner(detachKeys);
  let detached = false;
  const onData = (chunk: Buffer): void => {
    if (detached) return;
    const r = scanner.push(chunk);
    if (r.forward.length) input.write(r.forward);
    if (!r.detached) return;
    detached = true;
    socket.off("data", onData);
    socket.off("end", onEnd);
    socket.off("close", onEnd);
    // Whoever forwards this stdin disconnects (monitor/attach.ts); the client's connection ends here.
    input.emit(DETACH_EVENT);
    socket.end(() => socket.destroy());
  };
  const onEnd = (): void => void input.end();
  onData(first);
  if (detached) return input;
  socket.on("data", onData);
  socket.once("end", onEnd);
  socket.once("close", onEnd);
  socket.resume();
  return input;
}

export interface HijackOptions {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** AttachStreams over an upgraded socket (or a plain response body for clients that did not upgrade). */
export function attachStreams(out: Writable, input: Readable | undefined, o: HijackOptions, onResize?: AttachStreams["onResize"]): AttachStreams {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const stdout = o.stdout ? framedWriter(out, o.tty ? "raw" : STDOUT) : sink;
  const stderr = o.tty ? undefined : o.stderr ? framedWriter(out, STDERR) : sink;
  return { stdin: o.stdin ? input : undefined, stdout, stderr, onResize };
}

/**
 * Attach requests that arrive before the container starts (docker run:
 * create → attach → wait → start). start hands these streams to the engine,
 * which connects them before the process runs, so no output is lost.
 */
export interface PendingAttach {
  streams: AttachStreams;
  /** Called when the container's output ended (or the start failed). */
  finish(err?: unknown): void;
}

export class PendingAttaches {
  private readonly byId = new Map<string, PendingAttach[]>();

  add(containerId: string, p: PendingAttach): () => void {
    const list = this.byId.get(containerId) ?? [];
    list.push(p);
    this.byId.set(containerId, list);
    return () => {
      const l = this.byId.get(containerId);
      if (!l) return;
      const i = l.indexOf(p);
      if (i >= 0) l.splice(i, 1);
      if (l.length === 0) this.byId.delete(containerId);
    };
  }

  take(containerId: string): PendingAttach[] {
    const l = this.byId.get(containerId) ?? [];
    this.byId.delete(containerId);
    return l;
  }
}
