// The worker thread of threaded.ts: receives the archive's bytes as messages,
// extracts them with extractDigested, and answers once. Each chunk is
// acknowledged once its Readable has room for it: the sender keeps at most a
// few MiB unacknowledged, so a layer never sits in memory whole.
import { Readable } from "node:stream";
import { parentPort, workerData } from "node:worker_threads";
import { extractDigested } from "./digested.ts";
import type { ExtractOptions } from "./extract.ts";
import { UnsafePathError } from "./paths.ts";

export type ToWorker = { type: "chunk"; data: Uint8Array } | { type: "end" } | { type: "abort"; message: string };
export type FromWorker =
  | { type: "ack"; bytes: number }
  | { type: "done"; value: Awaited<ReturnType<typeof extractDigested>> }
  | { type: "fail"; message: string; unsafe: boolean };

const port = parentPort!;
const { targetDir, opts } = workerData as { targetDir: string; opts: ExtractOptions };
/** Bytes received but not acknowledged: they wait in a full buffer. */
let owed = 0;
const ack = (bytes: number): void => port.postMessage({ type: "ack", bytes } satisfies FromWorker);
const input = new Readable({
  highWaterMark: 1 << 20,
  read() {
    if (owed > 0) ack(owed);
    owed = 0;
  },
});
port.on("message", (m: ToWorker) => {
  if (m.type === "chunk") {
    if (input.push(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength))) ack(m.data.byteLength);
    else owed += m.data.byteLength;
  } else if (m.type === "end") input.push(null);
  else input.destroy(new Error(m.message));
});
extractDigested(input, targetDir, opts).then(
  (value) => port.postMessage({ type: "done", value } satisfies FromWorker),
  (e: unknown) => port.postMessage({ type: "fail", message: e instanceof Error ? e.message : String(e), unsafe: e instanceof UnsafePathError } satisfies FromWorker),
);
