// The log reader against a plain whole-file reading of the same records: tails
// read from the end agree with the whole log's last entries, whatever the
// interleaving of streams, partial records and chunk boundaries.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { CHUNK, readLogs, type ReadLogOptions } from "../../src/monitor/logs.ts";
import type { LogEntry } from "../../src/types/views.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-logs-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Rec {
  stream: "stdout" | "stderr";
  partial: boolean;
  data: string;
  time: number;
}

function line(r: Rec): string {
  const t = new Date(r.time * 1000).toISOString().replace("Z", "000000+00:00");
  return `${t} ${r.stream} ${r.partial ? "P" : "F"} ${r.data}\n`;
}

/** A deterministic pseudo-random generator (the suite's runs are reproducible). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomRecords(seed: number, count: number): Rec[] {
  const r = rng(seed);
  const recs: Rec[] = [];
  for (let i = 0; i < count; i++) {
    const len = r() < 0.02 ? Math.floor(r() * 40_000) : Math.floor(r() * 80);
    recs.push({ stream: r() < 0.3 ? "stderr" : "stdout", partial: r() < 0.25, data: "x".repeat(len) + `#${i}`, time: 1_700_000_000 + i });
  }
  return recs;
}

/** The whole log read in one piece: what readLogs must agree with. */
function reference(recs: Rec[], o: ReadLogOptions): LogEntry[] {
  const open = new Map<string, { time: string; data: string }>();
  const out: { stream: "stdout" | "stderr"; time: string; data: string }[] = [];
  for (const rec of recs) {
    const t = line(rec).split(" ")[0]!;
    const prev = open.get(rec.stream);
    const e = { time: prev?.time ?? t, data: (prev?.data ?? "") + rec.data };
    if (rec.partial) open.set(rec.stream, e);
    else {
      open.delete(rec.stream);
      out.push({ stream: rec.stream, time: e.time, data: e.data + "\n" });
    }
  }
  for (const [stream, e] of [...open.entries()].sort((a, b) => (a[1].time < b[1].time ? -1 : 1))) out.push({ stream: stream as "stdout" | "stderr", ...e });
  const kept = out.filter((e) => {
    if (o.stdout === false && e.stream === "stdout") return false;
    if (o.stderr === false && e.stream === "stderr") return false;
    const secs = Date.parse(e.time) / 1000;
    if (o.since !== undefined && secs < o.since) return false;
    if (o.until !== undefined && secs > o.until) return false;
    return true;
  });
  const tail = typeof o.tail === "number" && o.tail >= 0 ? (o.tail === 0 ? [] : kept.slice(-o.tail)) : kept;
  return tail.map((e) => ({ stream: e.stream, time: e.time, data: Buffer.from(e.data) }));
}

async function read(file: string, o: ReadLogOptions): Promise<LogEntry[]> {
  const got: LogEntry[] = [];
  for await (const e of readLogs(file, o)) got.push(e);
  return got;
}

const show = (es: LogEntry[]): string[] => es.map((e) => `${e.stream} ${e.time} ${e.data.length} ${e.data.toString().slice(-12)}`);

void describe("reading a container's log", () => {
  void test("tails read from the end agree with the whole log, for random logs and every filter", async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const recs = randomRecords(seed, 3000);
      const file = path.join(dir, `random-${seed}.log`);
      fs.writeFileSync(file, recs.map(line).join(""));
      const opts: ReadLogOptions[] = [
        {},
        { tail: 0 },
        { tail: 1 },
        { tail: 7 },
        { tail: 500 },
        { tail: 5000 },
        { tail: 3, stderr: false },
        { tail: 3, stdout: false },
        { tail: 20, since: 1_700_001_000, until: 1_700_002_000 },
        { since: 1_700_002_900 },
      ];
      for (const o of opts) assert.deepEqual(show(await read(file, o)), show(reference(recs, o)), `seed ${seed} ${JSON.stringify(o)}`);
    }
  });

  void test("a tail whose reading backwards meets a chunk that starts with a newline ends (it looped forever)", async () => {
    // 64-byte records, and a record still being written at the end (63 bytes, no newline):
    // every chunk read backwards from the end then begins with a record's newline.
    const rec = (i: number): string => line({ stream: "stdout", partial: false, data: `r${String(i).padStart(17, "0")}`, time: 1_700_000_000 });
    assert.equal(rec(0).length, 64);
    const count = 3 * (CHUNK / 64) + 10;
    const file = path.join(dir, "aligned.log");
    fs.writeFileSync(file, Array.from({ length: count }, (_, i) => rec(i)).join("") + rec(count).slice(0, 63));
    assert.equal(fs.statSync(file).size % 64, 63);
    const got = await read(file, { tail: 2 });
    assert.deepEqual(got.map((e) => e.data.toString().trim()), [`r${String(count - 2).padStart(17, "0")}`, `r${String(count - 1).padStart(17, "0")}`]);
    const many = await read(file, { tail: CHUNK / 64 + 5 });
    assert.equal(many.length, CHUNK / 64 + 5);
  });

  void test("the last line of output is kept when it has no newline", async () => {
    const file = path.join(dir, "printf.log");
    fs.writeFileSync(file, line({ stream: "stdout", partial: true, data: "abc", time: 1_700_000_000 }));
    const all = await read(file, {});
    assert.deepEqual(all.map((e) => e.data.toString()), ["abc"]);
    assert.deepEqual((await read(file, { tail: 1 })).map((e) => e.data.toString()), ["abc"]);
  });

  void test("one line of 20 MB in 8 KiB records reads back whole as one entry", async () => {
    const recs: Rec[] = [];
    const piece = "y".repeat(8192);
    for (let i = 0; i < 2560; i++) recs.push({ stream: "stdout", partial: true, data: piece, time: 1_700_000_000 });
    recs.push({ stream: "stdout", partial: false, data: "end", time: 1_700_000_000 });
    const file = path.join(dir, "long.log");
    fs.writeFileSync(file, recs.map(line).join(""));
    const [e, ...more] = await read(file, { tail: 1 });
    assert.equal(more.length, 0);
    assert.equal(e!.data.length, 2560 * 8192 + 4);
  });

  void test("a tail of a large log keeps memory flat: it reads from the end", async () => {
    const file = path.join(dir, "big.log");
    const block = Array.from({ length: 10_000 }, (_, i) => line({ stream: "stdout", partial: false, data: `line ${i} ${"z".repeat(60)}`, time: 1_700_000_000 })).join("");
    const fd = fs.openSync(file, "w");
    for (let i = 0; i < 40; i++) fs.writeSync(fd, block); // ~40 MB
    fs.closeSync(fd);
    const before = process.memoryUsage().arrayBuffers;
    const got = await read(file, { tail: 2 });
    assert.deepEqual(got.map((e) => e.data.toString().trim().slice(0, 10)), ["line 9998 ", "line 9999 "]);
    // A whole-file read would hold ~40 MB of buffers; the tail holds a chunk or two.
    assert.ok(process.memoryUsage().arrayBuffers - before < 8 * 1024 * 1024, `buffers grew by ${process.memoryUsage().arrayBuffers - before}`);
  });
});
