// A layer's extraction: the (possibly compressed) tar stream is decompressed,
// hashed (the diff id covers every byte, padding after the end-of-archive
// marker included) and extracted in one pass. Runs where it is called, or on
// a worker thread of its own (threaded.ts), which runs this same function.
import crypto from "node:crypto";
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { finished } from "node:stream/promises";
import { decompressStream, type Compression } from "./compression.ts";
import { extractTar, type ExtractOptions, type ExtractResult } from "./extract.ts";

export interface DigestedExtract {
  result: ExtractResult;
  /** sha256 of the uncompressed tar, "sha256:<hex>". */
  digest: string;
  /** Uncompressed size in bytes. */
  size: number;
  compression: Compression;
}

export async function extractDigested(source: Readable, targetDir: string, opts: ExtractOptions): Promise<DigestedExtract> {
  const { compression, stream } = await decompressStream(source);
  const hash = crypto.createHash("sha256");
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  stream.on("error", (e) => tap.destroy(e));
  stream.pipe(tap);
  const result = await extractTar(tap, targetDir, opts);
  if (!tap.readableEnded) {
    tap.unpipe();
    tap.resume();
    await finished(tap);
  }
  return { result, digest: "sha256:" + hash.digest("hex"), size, compression };
}
