// Layer directories: each layer is unpacked once per chain id into
// <layers>/<first 24 hex of the chain id>, with overlayfs whiteouts, and shared
// by every image whose layer stack starts with the same chain. The short name
// keeps overlay mount options (limited to one page) small: ~36 bytes per layer.
import crypto from "node:crypto";
import fs from "node:fs";
import type { Readable } from "node:stream";
import { decompressStream, type Compression } from "../archive/compression.ts";
import { makeTempDir } from "../archive/extract.ts";
import { extractDigestedThreaded } from "../archive/threaded.ts";

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
    // On a thread of its own: the layers of a pull are unpacked side by side.
    const { digest: diffId, size, compression } = await extractDigestedThreaded(blob, tmpDir, { whiteouts: "overlay" });
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
