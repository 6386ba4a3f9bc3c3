// After `system check --repair` rebuilt a damaged database: images whose
// manifest, config and unpacked layers are all still on disk are recorded
// again, so their layers are not taken for orphans. They come back untagged:
// tags lived only in the database (`capsa tag <id> <name>` names them again).
import fs from "node:fs";
import path from "node:path";
import type { DB } from "../store/db.ts";
import type { Paths } from "../types/paths.ts";
import { ImageStore } from "../image/store.ts";
import { Staging } from "../image/staging.ts";
import { chainIds } from "../image/oci.ts";
import { layerDirName } from "../image/layer-dir.ts";
import type { PreparedLayer } from "../image/unpack.ts";
import type { PulledImage } from "../image/ingest.ts";
import { dirSize } from "../snapshot/dir-size.ts";

/** Manifests are small; a bigger blob is a layer and not worth reading. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

interface ManifestShape {
  schemaVersion?: number;
  config?: { digest?: unknown };
  layers?: { digest?: unknown; size?: unknown; mediaType?: unknown }[];
}

/** The ids of the images recorded again. */
export function readoptImages(db: DB, paths: Paths): string[] {
  const store = new ImageStore(db, paths);
  const known = new Set(store.list({ all: true }).map((i) => i.id));
  const blob = (digest: string): string => path.join(paths.blobs, digest.replace(/^sha256:/, ""));
  const adopted: string[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(paths.blobs);
  } catch {
    return adopted;
  }
  for (const name of names) {
    const file = path.join(paths.blobs, name);
    let manifestBytes: Buffer;
    let m: ManifestShape;
    try {
      if (fs.statSync(file).size > MAX_MANIFEST_BYTES) continue;
      manifestBytes = fs.readFileSync(file);
      m = JSON.parse(manifestBytes.toString("utf8")) as ManifestShape;
    } catch {
      continue; // a layer, or not JSON
    }
    const configDigest = m.config?.digest;
    if (m.schemaVersion !== 2 || typeof configDigest !== "string" || !Array.isArray(m.layers) || known.has(configDigest)) continue;
    try {
      const configBytes = fs.readFileSync(blob(configDigest));
      const config = JSON.parse(configBytes.toString("utf8")) as PulledImage["config"];
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (diffIds.length !== m.layers.length) continue;
      const chains = chainIds(diffIds);
      const dirs = chains.map((c) => path.join(paths.layers, layerDirName(c)));
      if (!dirs.every((d) => fs.existsSync(d))) continue;
      const layers: PreparedLayer[] = m.layers.map((l, i) => ({
        chainId: chains[i]!,
        diffId: diffIds[i]!,
        blobDigest: String(l.digest),
        blobSize: Number(l.size) || 0,
        mediaType: String(l.mediaType),
        size: dirSize(dirs[i]!),
      }));
      const staging = new Staging(store.content);
      try {
        store.recordPulled(staging, { configBytes, config, manifestBytes, layers, tags: [], digests: [] });
      } finally {
        staging.cleanup();
      }
      known.add(configDigest);
      adopted.push(configDigest);
    } catch {
      /* its config is gone or unreadable: not this one */
    }
  }
  return adopted;
}
