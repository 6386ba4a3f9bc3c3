// Reads the log file conmon writes (the CRI "k8s-file" format): one line per
// record, `<RFC3339Nano time> <stdout|stderr> <P|F> <bytes>`, where P marks a
// partial line that continues in the next record. Keeping stream and time per
// line is what makes `logs --since`, `-t` and stdout/stderr separation work.
import fs from "node:fs";
import type { LogEntry } from "../engine/views.ts";

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

/** Splits complete records (joining P continuations) out of a buffer. */
function* records(buf: Buffer, carry: { partial?: LogEntry }): Generator<LogEntry> {
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) break;
    const rec = parseLogLine(buf.subarray(start, nl));
    start = nl + 1;
    if (!rec) continue;
    const prev = carry.partial;
    const data = prev ? Buffer.concat([prev.data, rec.data]) : rec.data;
    const time = prev?.time ?? rec.time;
    if (rec.partial) {
      carry.partial = { stream: rec.stream, time, data };
      continue;
    }
    carry.partial = undefined;
    yield { stream: rec.stream, time, data: Buffer.concat([data, Buffer.from("\n")]) };
  }

}

function wanted(e: LogEntry, o: ReadLogOptions): boolean {
  if (e.stream === "stdout" && o.stdout === false) return false;
  if (e.stream === "stderr" && o.stderr === false) return false;
  if (o.since !== undefined || o.until !== undefined) {
    const t = logTimeSeconds(e.time);
    if (o.since !== undefined && t < o.since) return false;
    if (o.until !== undefined && t > o.until) return false;
  }
  return true;
}

export async function* readLogs(file: string, o: ReadLogOptions = {}): AsyncGenerator<LogEntry> {
  let fd: fs.promises.FileHandle;
  try {
    fd = await fs.promises.open(file, "r");
  } catch {
    return; // never started: no log yet
  }
  try {
    const carry: { partial?: LogEntry } = {};
    const content = await fd.readFile();
    let pos = content.length;
    const lastNl = content.lastIndexOf(0x0a);
    const complete = lastNl < 0 ? Buffer.alloc(0) : content.subarray(0, lastNl + 1);
    let pending = lastNl < 0 ? content : content.subarray(lastNl + 1);
    const all = [...records(complete, carry)].filter((e) => wanted(e, o));
    const tail = o.tail === undefined || o.tail === "all" || o.tail < 0 ? all : o.tail === 0 ? [] : all.slice(-o.tail);
    for (const e of tail) yield e;
    if (!o.follow) return;
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      if (o.signal?.aborted) return;
      const { bytesRead } = await fd.read(chunk, 0, chunk.length, pos);
      if (bytesRead > 0) {
        pos += bytesRead;
        const buf = Buffer.concat([pending, chunk.subarray(0, bytesRead)]);
        const nl = buf.lastIndexOf(0x0a);
        if (nl >= 0) {
          for (const e of records(buf.subarray(0, nl + 1), carry)) if (wanted(e, o)) yield e;
          pending = Buffer.from(buf.subarray(nl + 1));
        } else pending = buf;
        continue;
      }
      if (o.stillRunning && !o.stillRunning()) {
        // One last read after the stop was seen, so nothing written meanwhile is lost.
        const { bytesRead: last } = await fd.read(chunk, 0, chunk.length, pos);
        if (last === 0) return;
        pos += last;
        const buf = Buffer.concat([pending, chunk.subarray(0, last)]);
        const nl = buf.lastIndexOf(0x0a);
        for (const e of records(buf.subarray(0, nl + 1), carry)) if (wanted(e, o)) yield e;
        pending = Buffer.from(buf.subarray(nl + 1));
        continue;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await fd.close();
  }
}
