// extractDigested on a worker thread of its own, so that the layers of one
// pull are unpacked side by side (each into its own directory) while the main
// thread only moves bytes: the extractor's many small synchronous file system
// calls no longer hold up the downloads, the hashing of the other layers or
// each other. The bytes go to the worker in chunks, with backpressure: the
// source is paused while more than IN_FLIGHT bytes are unacknowledged.
// Where the worker script cannot be found (a bundle without it), or with
// CAPSA_EXTRACT_THREADS=0, the extraction runs on the calling thread.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { extractDigested, type DigestedExtract } from "./digested.ts";
import type { FromWorker, ToWorker } from "./extract-worker.ts";
import type { ExtractOptions } from "./extract.ts";
import { UnsafePathError } from "./paths.ts";

const IN_FLIGHT = 2 << 20;

/**
 * Extraction threads at a time: one per core. A layer's extraction is mostly
 * the kernel creating files, so more threads than cores only add memory
 * (~35 MiB each); a layer waiting for a thread holds its source back.
 */
const MAX_THREADS = Math.max(1, os.availableParallelism());
let running = 0;
const waiting: (() => void)[] = [];

async function acquireThread(): Promise<void> {
  if (running < MAX_THREADS) {
    running++;
    return;
  }
  await new Promise<void>((resolve) => waiting.push(resolve));
}

function releaseThread(): void {
  const next = waiting.shift();
  if (next) next();
  else running--;
}

/** extract-worker.js at the top of the bundle (dist/), or extract-worker.ts beside this file (sources). */
function workerScript(): { script: string | URL; eval: boolean } | undefined {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".ts")) {
    // Sources run under tsx, whose loader a worker of Node 20 does not inherit: the worker registers it first.
    const api = import.meta.resolve("tsx/esm/api");
    const url = new URL("./extract-worker.ts", import.meta.url).href;
    return { script: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`, eval: true };
  }
  let dir = path.dirname(here);
  for (let i = 0; i < 3; i++) {
    const p = path.join(dir, "extract-worker.js");
    if (fs.existsSync(p)) return { script: pathToFileURL(p), eval: false };
    dir = path.dirname(dir);
  }
  return undefined;
}

export async function extractDigestedThreaded(source: Readable, targetDir: string, opts: ExtractOptions): Promise<DigestedExtract> {
  const found = process.env.CAPSA_EXTRACT_THREADS === "0" ? undefined : workerScript();
  if (!found) return extractDigested(source, targetDir, opts);
  // Held back until a thread is free; an error meanwhile is the extraction's.
  let early: Error | undefined;
  const onEarly = (e: Error): void => void (early ??= e);
  source.on("error", onEarly);
  source.pause();
  await acquireThread();
  try {
    source.off("error", onEarly);
    if (early) throw early;
    return await onThread(found, source, targetDir, opts);
  } finally {
    releaseThread();
  }
}

async function onThread(found: { script: string | URL; eval: boolean }, source: Readable, targetDir: string, opts: ExtractOptions): Promise<DigestedExtract> {
  const worker = new Worker(found.script, { eval: found.eval, workerData: { targetDir, opts } });
  const send = (m: ToWorker, transfer?: ArrayBuffer[]): void => worker.postMessage(m, transfer);
  /** Bytes sent and not yet acknowledged by the worker. */
  let inFlight = 0;
  const onData = (chunk: Buffer | string): void => {
    // A copy of its own, moved to the worker (a chunk may share its memory with others).
    const data = new Uint8Array(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    // Counted before the transfer, which leaves `data` empty here.
    inFlight += data.length;
    send({ type: "chunk", data }, [data.buffer]);
    if (inFlight > IN_FLIGHT) source.pause();
  };
  const onEnd = (): void => send({ type: "end" });
  const onError = (e: Error): void => send({ type: "abort", message: e.message });
  const detach = (): void => {
    source.off("data", onData);
    source.off("end", onEnd);
    source.off("error", onError);
  };
  try {
    return await new Promise<DigestedExtract>((resolve, reject) => {
      worker.on("message", (m: FromWorker) => {
        if (m.type === "ack") {
          inFlight -= m.bytes;
          if (inFlight <= IN_FLIGHT && source.isPaused()) source.resume();
        } else if (m.type === "done") resolve(m.value);
        else reject(m.unsafe ? new UnsafePathError(m.message) : new Error(m.message));
      });
      worker.on("error", reject);
      worker.on("exit", (code) => reject(new Error(`extraction thread exited (status ${code})`)));
      source.on("data", onData);
      source.on("end", onEnd);
      source.on("error", onError);
      source.resume();
    });
  } catch (e) {
    // As on the calling thread: an extraction that gives up destroys what it was reading.
    detach();
    source.destroy();
    throw e;
  } finally {
    detach();
    await worker.terminate();
  }
}
