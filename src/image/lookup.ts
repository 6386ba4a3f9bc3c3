// Finding images: docker's ways of naming one (name, name:tag, name@digest,
// sha256:<id>, an ID prefix), the listing, and an image's layers.
import path from "node:path";
import type { ImageRecord, OciImageConfig } from "../types/records.ts";
import type { ImageRow, ImageRows } from "../store/images.ts";
import { invalid, notFound } from "../util/errors.ts";
import type { ContentStore } from "./content.ts";
import { filterImages, intermediateIds } from "./filters.ts";
import { parseReference, referenceString, repositoryName, withDefaultTag } from "./reference.ts";
import type { PreparedLayer } from "./unpack.ts";

export class ImageLookup {
  constructor(
    private readonly rows: ImageRows,
    private readonly content: ContentStore,
    /** Where unpacked layers live. */
    private readonly layersDir: string,
  ) {}

  private record(r: ImageRow): ImageRecord {
    const refs = this.rows.refs(r.id);
    return {
      id: r.id,
      repoTags: refs.filter((x) => x.kind === "tag").map((x) => x.ref),
      repoDigests: refs.filter((x) => x.kind === "digest").map((x) => x.ref),
      manifestDigest: r.manifest_digest,
      created: r.created,
      size: r.size,
      config: JSON.parse(r.config) as OciImageConfig,
    };
  }

  private byIdPrefix(hex: string): ImageRecord | undefined {
    const rows = this.rows.byIdPrefix(hex);
    if (rows.length > 1) throw invalid(`multiple IDs found with provided prefix: ${hex}`);
    return rows[0] && this.record(rows[0]);
  }

  /** What a name or ID refers to, or undefined. Accepts docker's forms: busybox, busybox:1, x@sha256:…, sha256:<id>, an ID prefix. */
  tryResolve(refOrId: string): ImageRecord | undefined {
    const s = refOrId.trim();
    const full = /^sha256:([a-f0-9]{1,64})$/.exec(s);
    if (full) return this.byIdPrefix(full[1]!);
    let ref;
    try {
      ref = withDefaultTag(parseReference(s));
    } catch {
      ref = undefined;
    }
    if (ref) {
      const id =
        ref.digest !== undefined
          ? (this.rows.imageIdByRef(`${repositoryName(ref)}@${ref.digest}`) ?? this.rows.imageIdByDigest(ref.digest))
          : this.rows.imageIdByRef(referenceString(ref));
      const row = id === undefined ? undefined : this.rows.get(id);
      if (row) return this.record(row);
    }
    if (/^[a-f0-9]{1,64}$/.test(s)) return this.byIdPrefix(s);
    return undefined;
  }

  resolve(refOrId: string): ImageRecord {
    const img = this.tryResolve(refOrId);
    if (!img) throw notFound(`No such image: ${refOrId}`);
    return img;
  }

  list(opts: { all?: boolean; filters?: Record<string, string[]> } = {}): ImageRecord[] {
    let images = this.rows.all().map((r) => this.record(r));
    if (!opts.all) {
      // As docker: untagged images that other images were built on (a build's intermediate steps) show with -a only.
      const parents = intermediateIds(images);
      images = images.filter((i) => i.repoTags.length > 0 || !parents.has(i.id));
    }
    return filterImages(images, opts.filters ?? {}, (v) => this.resolve(v));
  }

  /** Unpacked layer directories of an image, topmost first (overlayfs lowerdir order). */
  layerDirs(imageId: string): string[] {
    return this.rows
      .layers(this.resolve(imageId).id)
      .reverse()
      .map((l) => path.join(this.layersDir, l.dir));
  }

  /** An image's layers, bottom first, with their blobs' sizes (0 for a blob not held). */
  layers(imageId: string): PreparedLayer[] {
    return this.rows.layers(imageId).map((l) => ({
      chainId: l.chainId,
      diffId: l.diffId,
      blobDigest: l.blobDigest,
      mediaType: l.mediaType,
      size: l.size,
      blobSize: this.content.has(l.blobDigest) ? this.content.size(l.blobDigest) : 0,
    }));
  }

  /** The image's config exactly as stored (its digest is the image id). */
  configBytes(imageId: string): Buffer {
    return Buffer.from(this.rows.get(imageId)!.config, "utf8");
  }
}
