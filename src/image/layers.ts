// Layer directories: each layer is unpacked once per chain id into
// <layers>/<first 24 hex of the chain id>, with overlayfs whiteouts, and shared
// by every image whose layer stack starts with the same chain. The short name
// keeps overlay mount options (limited to one page) small: ~36 bytes per layer.
import crypto from "node:crypto";
import fs from "node:fs";
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { finished } from "node:stream/promises";
import { decompressStream, type Compression } from "../archive/compression.ts";
import { extractTar, makeTempDir } from "../archive/extract.ts";

export interface UnpackedLayer {
  /** Temp directory holding the unpacked layer (install it with Staging.dir). */
  tmpDir: string;
  diffId: string;
  /** Uncompressed tar size in bytes. */
  size: number;
  compression: Compression;
}

/**
 * Unpacks one layer blob (plain, gzip or zstd tar) into a new temp dir under
 * tmpRoot while hashing the uncompressed stream. When expectedDiffId is given
 * and differs, the temp dir is removed and an error names both digests.
 */
export async function unpackLayer(blob: Readable, tmpRoot: string, expectedDiffId: string | undefined, what: string): Promise<UnpackedLayer> {
  const tmpDir = makeTempDir(tmpRoot, "layer");
  try {
    const { compression, stream } = await decompressStream(blob);
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
    await extractTar(tap, tmpDir, { whiteouts: "overlay" });
    // The diff id covers every byte, padding after the end-of-archive marker included.
    if (!tap.readableEnded) {
      tap.unpipe();
      tap.resume();
      await finished(tap);
    }
    const diffId = "sha256:" + hash.digest("hex");
    if (expectedDiffId !== undefined && diffId !== expectedDiffId) {
      throw new Error(`${what}: diff id mismatch: the image config says ${expectedDiffId}, the layer content is ${diffId}`);
    }
    return { tmpDir, diffId, size, compression };
  } catch (e) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(msg.startsWith(what) ? msg : `${what}: ${msg}`, { cause: e });
  }
}

/** The diff id (sha256 of the uncompressed tar) of a possibly compressed layer blob, without unpacking it. */
export async function diffIdOf(blob: Readable): Promise<string> {
  const { stream } = await decompressStream(blob);
  const hash = crypto.createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return "sha256:" + hash.digest("hex");
}
