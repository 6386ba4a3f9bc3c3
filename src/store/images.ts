// Image rows: images (config JSON, manifest digest), their names (image_refs:
// tags and repo digests), the unpacked layers (one row per chain id, shared
// between images) and which image has which layers in which order. The files
// these rows describe (blobs, layer directories) belong to src/image.
import type { DB } from "./db.ts";

export interface ImageRow {
  id: string;
  manifest_digest: string;
  config: string;
  created: string;
  size: number;
}

export interface LayerRow {
  chain_id: string;
  diff_id: string;
  parent: string | null;
  size: number;
  dir: string;
}

/** One layer of an image, as the image uses it. */
export interface ImageLayer {
  chainId: string;
  diffId: string;
  blobDigest: string;
  mediaType: string;
  /** Uncompressed tar size. */
  size: number;
  /** The unpacked directory's name under the layers dir. */
  dir: string;
}

/** An image to insert, with its layers bottom first. */
export interface NewImage {
  id: string;
  manifestDigest: string;
  configText: string;
  created: string;
  layers: { chainId: string; diffId: string; blobDigest: string; mediaType: string; size: number; dir: string }[];
}

/** A layer row an image deletion left unused (its directory can go). */
export interface OrphanLayer {
  chainId: string;
  /** Absent when the layer had no row (the chain id is still reported). */
  dir?: string;
  size: number;
}

const IMAGE_COLUMNS = "id, manifest_digest, config, created, size";

/** "x:" → a LIKE pattern matching strings that start with it. */
function likePrefix(s: string): string {
  return s.replace(/[\\%_]/g, (c) => "\\" + c) + "%";
}

export class ImageRows {
  constructor(private readonly db: DB) {}

  /** Runs fn under the database's write lock (one IMMEDIATE transaction). */
  writeLocked<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  get(id: string): ImageRow | undefined {
    return this.db.prepare(`SELECT ${IMAGE_COLUMNS} FROM images WHERE id = ?`).get(id) as ImageRow | undefined;
  }

  /** Newest first. */
  all(): ImageRow[] {
    return this.db.prepare(`SELECT ${IMAGE_COLUMNS} FROM images ORDER BY created DESC, id`).all() as ImageRow[];
  }

  /** Up to two images whose id's hex starts with `hex` (two: the prefix is ambiguous). */
  byIdPrefix(hex: string): ImageRow[] {
    return this.db.prepare(`SELECT ${IMAGE_COLUMNS} FROM images WHERE substr(id, 8, ?) = ? LIMIT 2`).all(hex.length, hex) as ImageRow[];
  }

  refs(imageId: string): { ref: string; kind: "tag" | "digest" }[] {
    return this.db.prepare("SELECT ref, kind FROM image_refs WHERE image_id = ? ORDER BY ref").all(imageId) as { ref: string; kind: "tag" | "digest" }[];
  }

  imageIdByRef(ref: string): string | undefined {
    return (this.db.prepare("SELECT image_id FROM image_refs WHERE ref = ?").get(ref) as { image_id: string } | undefined)?.image_id;
  }

  /** The image whose manifest digest or id is `digest`. */
  imageIdByDigest(digest: string): string | undefined {
    return (this.db.prepare("SELECT id FROM images WHERE manifest_digest = ? OR id = ? LIMIT 1").get(digest, digest) as { id: string } | undefined)?.id;
  }

  /** Tags starting with `prefix` ("repo:"). */
  tagsStartingWith(prefix: string): { ref: string; imageId: string }[] {
    return this.db.prepare("SELECT ref, image_id AS imageId FROM image_refs WHERE kind = 'tag' AND ref LIKE ? ESCAPE '\\'").all(likePrefix(prefix)) as {
      ref: string;
      imageId: string;
    }[];
  }

  /** Names (or renames) `ref` to the image. */
  setRef(ref: string, imageId: string, kind: "tag" | "digest"): void {
    this.db
      .prepare("INSERT INTO image_refs (ref, image_id, kind) VALUES (?, ?, ?) ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id, kind = excluded.kind")
      .run(ref, imageId, kind);
  }

  deleteRef(ref: string): void {
    this.db.prepare("DELETE FROM image_refs WHERE ref = ?").run(ref);
  }

  /** The image's layers, bottom first. */
  layers(imageId: string): ImageLayer[] {
    return this.db
      .prepare(
        `SELECT il.chain_id AS chainId, l.diff_id AS diffId, il.blob_digest AS blobDigest, il.media_type AS mediaType, l.size AS size, l.dir AS dir
         FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id WHERE il.image_id = ? ORDER BY il.position`,
      )
      .all(imageId) as ImageLayer[];
  }

  layer(chainId: string): LayerRow | undefined {
    return this.db.prepare("SELECT chain_id, diff_id, parent, size, dir FROM layers WHERE chain_id = ?").get(chainId) as LayerRow | undefined;
  }

  /** Every layer directory name that has a row. */
  layerDirs(): Set<string> {
    return new Set((this.db.prepare("SELECT dir FROM layers").all() as { dir: string }[]).map((r) => r.dir));
  }

  /** docker's SharedSize per image: the bytes of its layers that other images use too. */
  sharedSizes(): Map<string, number> {
    const rows = this.db
      .prepare(
        `SELECT il.image_id AS id, SUM(l.size) AS shared FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id
         WHERE il.chain_id IN (SELECT chain_id FROM image_layers GROUP BY chain_id HAVING COUNT(DISTINCT image_id) > 1)
         GROUP BY il.image_id`,
      )
      .all() as { id: string; shared: number }[];
    return new Map(rows.map((r) => [r.id, r.shared]));
  }

  /**
   * Inserts an image with its layers (layer rows already there are kept);
   * an image already stored keeps its layer list. Call under writeLocked.
   */
  insertImage(img: NewImage, added: string): void {
    const size = img.layers.reduce((n, l) => n + l.size, 0);
    const inserted =
      this.db.prepare("INSERT OR IGNORE INTO images (id, manifest_digest, config, created, size, added) VALUES (?, ?, ?, ?, ?, ?)").run(img.id, img.manifestDigest, img.configText, img.created, size, added)
        .changes > 0;
    const insertLayer = this.db.prepare("INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size, dir) VALUES (?, ?, ?, ?, ?)");
    const insertImageLayer = this.db.prepare("INSERT OR REPLACE INTO image_layers (image_id, position, chain_id, blob_digest, media_type) VALUES (?, ?, ?, ?, ?)");
    img.layers.forEach((l, i) => {
      insertLayer.run(l.chainId, l.diffId, i > 0 ? img.layers[i - 1]!.chainId : null, l.size, l.dir);
      if (inserted) insertImageLayer.run(img.id, i, l.chainId, l.blobDigest, l.mediaType);
    });
  }

  /**
   * Deletes an image's row (its names and layer list go with it) and the rows
   * of its layers no other image uses, topmost first. Returns what the files
   * side must remove; undefined when there was no such image. Call under writeLocked.
   */
  deleteImage(id: string): { manifestDigest: string; blobDigests: (string | null)[]; orphans: OrphanLayer[] } | undefined {
    const row = this.get(id);
    if (!row) return undefined;
    const layers = this.db.prepare("SELECT chain_id, blob_digest FROM image_layers WHERE image_id = ? ORDER BY position DESC").all(id) as {
      chain_id: string;
      blob_digest: string | null;
    }[];
    this.db.prepare("DELETE FROM images WHERE id = ?").run(id);
    const orphans: OrphanLayer[] = [];
    for (const l of layers) {
      if (this.db.prepare("SELECT 1 FROM image_layers WHERE chain_id = ? LIMIT 1").get(l.chain_id)) continue;
      const lr = this.layer(l.chain_id);
      this.db.prepare("DELETE FROM layers WHERE chain_id = ?").run(l.chain_id);
      orphans.push(lr ? { chainId: l.chain_id, dir: lr.dir, size: lr.size } : { chainId: l.chain_id, size: 0 });
    }
    return { manifestDigest: row.manifest_digest, blobDigests: layers.map((l) => l.blob_digest), orphans };
  }

  /** Whether an image's config, manifest or layer list names the blob. */
  blobReferenced(digest: string): boolean {
    return !!(
      this.db.prepare("SELECT 1 FROM images WHERE id = ? OR manifest_digest = ? LIMIT 1").get(digest, digest) ??
      this.db.prepare("SELECT 1 FROM image_layers WHERE blob_digest = ? LIMIT 1").get(digest)
    );
  }
}
