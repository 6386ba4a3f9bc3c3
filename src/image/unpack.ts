// Layer streams into staged layer directories: each layer is unpacked once per
// chain id into a temp dir, its diff id checked, and the dir staged to be
// renamed to <layers>/<dir> when the image is recorded (ingest.ts).
import fs from "node:fs";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import type { OciImageConfig } from "../types/records.ts";
import type { Paths } from "../types/paths.ts";
import type { ImageRows, LayerRow } from "../store/images.ts";
import { invalid } from "../util/errors.ts";
import { mapLimit } from "../util/map-limit.ts";
import type { ArchiveImage } from "./archive-read.ts";
import type * as ArchiveOpsModule from "./archive-ops.ts";
import type { BlobWriter } from "./content.ts";
import { layerDirName } from "./layer-dir.ts";
import { MEDIA, chainIds, layerMediaType, manifestFor } from "./oci.ts";
import type { Staging } from "./staging.ts";

/** Tar and compression code, loaded on first use (see archive-ops.ts). */
const archiveOps = (): Promise<typeof ArchiveOpsModule> => import("./archive-ops.ts");

/** Layers of one loaded image unpacked at once (2 cores here: one extracting, one decompressing and hashing). */
const UNPACK_CONCURRENCY = 3;

/** A layer ready to be recorded: its blob staged (or already stored) and its directory unpacked (or already there). */
export interface PreparedLayer {
  chainId: string;
  diffId: string;
  blobDigest: string;
  blobSize: number;
  mediaType: string;
  /** Uncompressed tar size. */
  size: number;
}

export interface PreparedImage {
  id: string;
  configText: string;
  config: OciImageConfig;
  manifestDigest: string;
  layers: PreparedLayer[];
  refs: string[];
  /** "repo@sha256:…" references (repo digests of pulled or pushed images). */
  digestRefs?: string[];
}

export class LayerUnpacker {
  constructor(
    private readonly rows: ImageRows,
    private readonly paths: Pick<Paths, "layers" | "tmp">,
  ) {}

  private stage(staging: Staging, tmpDir: string, chainId: string): void {
    staging.dir(tmpDir, path.join(this.paths.layers, layerDirName(chainId)));
  }

  /** The layer's row when its directory is on disk. */
  existing(chainId: string): LayerRow | undefined {
    const row = this.rows.layer(chainId);
    return row && fs.existsSync(path.join(this.paths.layers, row.dir)) ? row : undefined;
  }

  /** Unpacks a fresh uncompressed layer stream, storing it as an uncompressed blob (digest = diff id). */
  async stageNew(staging: Staging, tarStream: Readable, below: PreparedLayer[], what: string): Promise<PreparedLayer> {
    const blob = staging.blob();
    const tee = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        try {
          blob.write(chunk);
          cb(null, chunk);
        } catch (e) {
          cb(e instanceof Error ? e : new Error(String(e)));
        }
      },
    });
    tarStream.on("error", (e) => tee.destroy(e));
    tarStream.pipe(tee);
    const unpacked = await (await archiveOps()).unpackLayer(tee, this.paths.tmp, undefined, what);
    const digest = blob.finish(unpacked.diffId, what);
    const chainId = chainIds([...below.map((l) => l.diffId), unpacked.diffId]).pop()!;
    this.stage(staging, unpacked.tmpDir, chainId);
    return { chainId, diffId: unpacked.diffId, blobDigest: digest, blobSize: blob.size, mediaType: MEDIA.ociLayer, size: unpacked.size };
  }

  /** Unpacks a pulled layer blob (plain, gzip or zstd), verifying its diff id; returns its uncompressed size. */
  async stagePulled(staging: Staging, blob: Readable, chainId: string, diffId: string, what: string): Promise<number> {
    const unpacked = await (await archiveOps()).unpackLayer(blob, this.paths.tmp, diffId, what);
    this.stage(staging, unpacked.tmpDir, chainId);
    return unpacked.size;
  }

  /** Verifies an archive image's layers against its config's diff ids and unpacks the ones not yet on disk. */
  async stageArchiveImage(staging: Staging, img: ArchiveImage, seen: Map<string, PreparedLayer>): Promise<PreparedImage> {
    const ops = await archiveOps();
    const diffIds = img.config.rootfs.diff_ids;
    const chains = chainIds(diffIds);
    // Up to three layers at once, each on its own extraction thread (archive/threaded.ts);
    // chain ids within one image differ, so the tasks never touch the same entry of `seen`.
    const layers = await mapLimit(img.layers, UNPACK_CONCURRENCY, async (l, i): Promise<PreparedLayer> => {
      const chainId = chains[i]!;
      const diffId = diffIds[i]!;
      const what = `layer ${i + 1} of ${img.layers.length} (${l.digest})`;
      const mediaType = l.mediaType ?? layerMediaType(ops.detectCompression(headOf(l.blob)));
      const base = { chainId, diffId, blobDigest: l.digest, blobSize: l.blob.size, mediaType };
      const already = seen.get(chainId) ?? this.existing(chainId);
      if (already) {
        // The directory exists; the blob must still be proven to hold that layer.
        if (l.digest !== diffId) {
          const actual = await ops.diffIdOf(l.blob.openStaged());
          if (actual !== diffId) throw invalid(`${what}: diff id mismatch: the image config says ${diffId}, the layer content is ${actual}`);
        }
        return { ...base, size: already.size };
      }
      const unpacked = await ops.unpackLayer(l.blob.openStaged(), this.paths.tmp, diffId, what).catch((e: unknown) => {
        throw invalid(e instanceof Error ? e.message : String(e));
      });
      this.stage(staging, unpacked.tmpDir, chainId);
      const p = { ...base, size: unpacked.size };
      seen.set(chainId, p);
      return p;
    });
    const manifestBytes = img.manifestBytes ?? manifestFor(img.configDigest, img.configBytes.length, layers);
    const manifestDigest = staging.bytes(manifestBytes);
    return { id: img.configDigest, configText: img.configBytes.toString("utf8"), config: img.config, manifestDigest, layers, refs: img.refs };
  }
}

/** The first bytes of a staged blob (to sniff its compression). */
function headOf(blob: BlobWriter): Buffer {
  const fd = fs.openSync(blob.tmpPath, "r");
  try {
    const b = Buffer.alloc(8);
    const n = fs.readSync(fd, b, 0, 8, 0);
    return b.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}
