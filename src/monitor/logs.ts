// Reads the log file conmon writes (the CRI "k8s-file" format): one line per
// record, `<RFC3339Nano time> <stdout|stderr> <P|F> <bytes>`, where P marks a
// partial line that continues in the next record. Keeping stream and time per
// line is what makes `logs --since`, `-t` and stdout/stderr separation work.
import fs from "node:fs";
import type { LogEntry } from "../types/views.ts";

export interface ReadLogOptions {
  tail?: number | "all";
  since?: number;
  until?: number;
  stdout?: boolean;
  stderr?: boolean;
  follow?: boolean;
  /** While following: returns false once the container has stopped, ending the stream. */
  stillRunning?: () => boolean;
  signal?: AbortSignal;
}

/** Parses one record; returns undefined for a malformed line. */
export function parseLogLine(line: Buffer): { time: string; stream: "stdout" | "stderr"; partial: boolean; data: Buffer } | undefined {
  const s1 = line.indexOf(0x20);
  if (s1 < 0) return undefined;
  const s2 = line.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const s3 = line.indexOf(0x20, s2 + 1);
  const streamName = line.subarray(s1 + 1, s2).toString();
  if (streamName !== "stdout" && streamName !== "stderr") return undefined;
  const flag = line.subarray(s2 + 1, s3 < 0 ? line.length : s3).toString();
  return {
    time: line.subarray(0, s1).toString(),
    stream: streamName,
    partial: flag === "P",
    data: s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1),
  };
}

/** RFC 3339 with nanoseconds → unix seconds (float), precise enough for --since. */
export function logTimeSeconds(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!m) return Date.parse(time) / 1000;
  return Date.parse(m[1]! + (m[3] ?? "Z")) / 1000 + (m[2] ? Number(m[2]) : 0);
}

type Stream = "stdout" | "stderr";

/**
 * Joins records into entries: P records are continued by the next record of the
 * same stream (conmon interleaves the two streams), their parts concatenated once
 * at the end (a 20 MB line is thousands of records: joining as they come was
 * quadratic).
 */
class EntryAssembler {
  private readonly open = new Map<Stream, { time: string; parts: Buffer[] }>();

  /** Feeds complete record lines (each ending in a newline); yields the entries they finish. */
  *feed(buf: Buffer): Generator<LogEntry> {
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0) return;
      const rec = parseLogLine(buf.subarray(start, nl));
      start = nl + 1;
      if (!rec) continue;
      const prev = this.open.get(rec.stream);
      // Records are copied: the buffer they were read into is reused.
      const parts = prev ? [...prev.parts, Buffer.from(rec.data)] : [Buffer.from(rec.data)];
      const time = prev?.time ?? rec.time;
      if (rec.partial) {
        if (prev) prev.parts.push(Buffer.from(rec.data));
        else this.open.set(rec.stream, { time, parts });
        continue;
      }
      this.open.delete(rec.stream);
      parts.push(NEWLINE);
      yield { stream: rec.stream, time, data: Buffer.concat(parts) };
    }
  }

  /** Entries still open at the end of the log: output whose last line had no newline (`printf abc`). */
  *flush(): Generator<LogEntry> {
    const open = [...this.open.entries()].sort((a, b) => (a[1].time < b[1].time ? -1 : 1));
    this.open.clear();
    for (const [stream, e] of open) yield { stream, time: e.time, data: Buffer.concat(e.parts) };
  }
}

const NEWLINE = Buffer.from("\n");
/** How much is read at a time, forwards and backwards (exported for tests of chunk boundaries). */
export const CHUNK = 256 * 1024;

function wanted(e: { stream: Stream; time: string }, o: ReadLogOptions): boolean {
  if (e.stream === "stdout" && o.stdout === false) return false;
  if (e.stream === "stderr" && o.stderr === false) return false;
  if (o.since !== undefined || o.until !== undefined) {
    const t = logTimeSeconds(e.time);
    if (o.since !== undefined && t < o.since) return false;
    if (o.until !== undefined && t > o.until) return false;
  }
  return true;
}

/**
 * Where to start reading so that the last `n` wanted entries are complete: the
 * file is read backwards from `end` until n entries have ended (F records), then
 * on to a point where neither stream has an entry in progress (the record before
 * it, of each stream, is an F). Memory stays at one chunk whatever the log's size.
 */
async function tailOffset(fd: fs.promises.FileHandle, end: number, n: number, o: ReadLogOptions): Promise<number> {
  let count = 0;
  let candidate: { offset: number; stream: Stream } | undefined;
  let pos = end;
  let rest = Buffer.alloc(0); // bytes of a record that begins in an earlier chunk
  let trailing = true; // the bytes after the file's last newline: a record still being written, not read
  const chunk = Buffer.alloc(CHUNK);
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const { bytesRead } = await fd.read(chunk, 0, len, pos);
    const buf = Buffer.concat([chunk.subarray(0, bytesRead), rest]);
    // Lines from the last to the first complete one in buf; buf[0..first newline] may continue further back.
    let lineEnd = buf.length; // exclusive end of the current line's text (its newline, or the chunk's end)
    for (;;) {
      // (lastIndexOf with a negative offset would search from the end again)
      const nl = lineEnd > 0 ? buf.lastIndexOf(0x0a, lineEnd - 1) : -1;
      if (nl < 0 && pos > 0) break; // the line starts in an earlier chunk
      const lineStart = nl + 1;
      const rec = !trailing && lineEnd > lineStart ? parseLogLine(buf.subarray(lineStart, lineEnd)) : undefined;
      trailing = false;
      const offsetAfter = pos + lineEnd + 1; // file offset just past this line's newline
      if (rec) {
        if (count >= n) {
          if (!candidate) {
            if (!rec.partial) candidate = { offset: offsetAfter, stream: rec.stream };
          } else if (rec.stream !== candidate.stream) {
            if (!rec.partial) return candidate.offset;
            candidate = undefined;
          }
        } else if (!rec.partial && wanted(rec, o)) {
          count++;
        }
      }
      if (nl < 0) break;
      lineEnd = nl;
    }
    const firstNl = buf.indexOf(0x0a);
    rest = Buffer.from(firstNl < 0 ? buf : buf.subarray(0, firstNl));
    if (pos === 0) break;
  }
  return candidate && count >= n ? candidate.offset : 0;
}

export async function* readLogs(file: string, o: ReadLogOptions = {}): AsyncGenerator<LogEntry> {
  let fd: fs.promises.FileHandle;
  try {
    fd = await fs.promises.open(file, "r");
  } catch {
    return; // never started: no log yet
  }
  try {
    const asm = new EntryAssembler();
    const size = (await fd.stat()).size;
    const tail = o.tail === undefined || o.tail === "all" || o.tail < 0 ? undefined : o.tail;
    let pos = tail === undefined ? 0 : tail === 0 ? size : await tailOffset(fd, size, tail, o);
    // What is there now: streamed (no tail) or through a ring of the last `tail` entries.
    const ring: LogEntry[] = [];
    let pending = Buffer.alloc(0); // a record line not yet complete
    const chunk = Buffer.alloc(CHUNK);
    const consume = function* (bytes: Buffer): Generator<LogEntry> {
      const buf = pending.length ? Buffer.concat([pending, bytes]) : bytes;
      const nl = buf.lastIndexOf(0x0a);
      pending = Buffer.from(buf.subarray(nl + 1));
      if (nl >= 0) for (const e of asm.feed(buf.subarray(0, nl + 1))) if (wanted(e, o)) yield e;
    };
    while (pos < size) {
      const { bytesRead } = await fd.read(chunk, 0, Math.min(CHUNK, size - pos), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      for (const e of consume(chunk.subarray(0, bytesRead))) {
        if (tail === undefined) yield e;
        else {
          ring.push(e);
          if (ring.length > tail) ring.shift();
        }
      }
    }
    if (!o.follow) {
      for (const e of asm.flush()) {
        if (!wanted(e, o)) continue;
        if (tail === undefined) yield e;
        else {
          ring.push(e);
          if (ring.length > tail) ring.shift();
        }
      }
      yield* ring;
      return;
    }
    yield* ring;
    for (;;) {
      if (o.signal?.aborted) return;
      const { bytesRead } = await fd.read(chunk, 0, chunk.length, pos);
      if (bytesRead > 0) {
        pos += bytesRead;
        yield* consume(chunk.subarray(0, bytesRead));
        continue;
      }
      if (o.stillRunning && !o.stillRunning()) {
        // One last read after the stop was seen, so nothing written meanwhile is lost.
        const { bytesRead: last } = await fd.read(chunk, 0, chunk.length, pos);
        if (last > 0) {
          pos += last;
          yield* consume(chunk.subarray(0, last));
          continue;
        }
        for (const e of asm.flush()) if (wanted(e, o)) yield e;
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await fd.close();
  }
}
