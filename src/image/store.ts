// The image store: images, their names and their layers. Metadata lives in
// SQLite (images, image_refs, layers, image_layers); blobs in the content
// store; unpacked layers in <layers>/<dir>, one per chain id, shared by images.
//
// Every way an image arrives (import, load, commit) follows one path: stage
// blobs and unpack layers into the tmp dir while verifying digests and diff
// ids, then publish files and insert rows in one write transaction. A failure
// before that leaves nothing behind; deletions take the same write lock, so a
// concurrent rmi never removes a layer that a load is about to reference.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Transform, type Readable, type Writable } from "node:stream";
import type { Paths } from "../types/paths.ts";
import type { ContainerConfig, HistoryEntry, ImageConfig, ImageRecord, OciImageConfig } from "../types/records.ts";
import type { ImageApi } from "../types/engine-api.ts";
import type { DB } from "../store/db.ts";
import { CapsaError, conflict, invalid, notFound } from "../util/errors.ts";
import { shortId } from "../util/ids.ts";
import { labelMatches } from "../util/label-filter.ts";
import type { ArchiveImage } from "./archive-read.ts";
import type { SaveItem } from "./archive-write.ts";
import type * as ArchiveOpsModule from "./archive-ops.ts";

type ArchiveOps = typeof ArchiveOpsModule;
import { ContentStore, sha256, type BlobWriter } from "./content.ts";
import { applyChanges } from "./instructions.ts";
import { layerDirName } from "./layer-dir.ts";

/** Tar and compression code, loaded on first use (see archive-ops.ts). */
const archiveOps = (): Promise<ArchiveOps> => import("./archive-ops.ts");
import { MEDIA, chainIds, jsonBytes, layerMediaType, type Manifest } from "./oci.ts";
import { familiarRepository, familiarString, normalizeReference, parseReference, referenceString, repositoryName, withDefaultTag } from "./reference.ts";
import { Staging } from "./staging.ts";
import type { LoginOptions, PullOptions, PushOptions, PushResult } from "../types/registry.ts";
import type { EventJournal } from "../events/journal.ts";

interface ImageRow {
  id: string;
  manifest_digest: string;
  config: string;
  created: string;
  size: number;
}

interface LayerRow {
  chain_id: string;
  diff_id: string;
  parent: string | null;
  size: number;
  dir: string;
}

/** A layer ready to be recorded: its blob staged (or already stored) and its directory unpacked (or already there). */
interface PreparedLayer {
  chainId: string;
  diffId: string;
  blobDigest: string;
  blobSize: number;
  mediaType: string;
  /** Uncompressed tar size. */
  size: number;
}

interface PreparedImage {
  id: string;
  configText: string;
  config: OciImageConfig;
  manifestDigest: string;
  layers: PreparedLayer[];
  refs: string[];
  /** "repo@sha256:…" references (repo digests of pulled or pushed images). */
  digestRefs?: string[];
}

/** A pulled layer ready to be recorded (see ImageStore.recordPulled). */
export type PulledLayer = PreparedLayer;

/** What a registry push reads from the store. */
export interface PushSource {
  image: ImageRecord;
  configBytes: Buffer;
  /** The stored OCI manifest (its digest survives a push when nothing is recompressed). */
  manifestBytes: Buffer;
  layers: { blobDigest: string; mediaType: string; blobSize: number; diffId: string }[];
}

type RemoveResult = { Untagged?: string; Deleted?: string }[];

export interface CommitLayerOptions {
  parentImageId: string | null;
  /** The container's overlayfs upper directory. */
  upperDir: string;
  /** The container's config: its image-relevant fields (Cmd, Env, …) become the new image's. */
  containerConfig?: ContainerConfig;
  /** Overrides applied after containerConfig. */
  config?: Partial<ImageConfig>;
  /** Dockerfile-like changes ("CMD [...]", "ENV K=V"), applied last. */
  changes?: string[];
  ref?: string;
  comment?: string;
  author?: string;
  createdBy?: string;
}

const IMAGE_CONFIG_KEYS = [
  "User",
  "ExposedPorts",
  "Env",
  "Entrypoint",
  "Cmd",
  "Volumes",
  "WorkingDir",
  "Labels",
  "StopSignal",
  "Healthcheck",
  "Shell",
  "OnBuild",
] as const satisfies readonly (keyof ImageConfig)[];

export class ImageStore implements ImageApi {
  readonly content: ContentStore;
  private inUseCheck: ((imageId: string) => string | undefined) | undefined;
  /** Set by the engine: where image events (tag, pull, delete, …) are recorded for `events`. */
  events?: EventJournal;

  constructor(
    private readonly db: DB,
    private readonly paths: Paths,
  ) {
    this.content = new ContentStore(paths.blobs, paths.tmp);
  }

  /** Replaces the default in-use check (the containers table) with the engine's own. */
  setInUseCheck(fn: (imageId: string) => string | undefined): void {
    this.inUseCheck = fn;
  }

  private event(action: string, id: string, name?: string): void {
    this.events?.record("image", action, id, name ? { name } : {});
  }

  /** untag/delete events for what a removal did (docker's actor: the image id, the tag as name). */
  private removalEvents(imageId: string, result: RemoveResult): RemoveResult {
    for (const r of result) {
      if (r.Untagged) this.event("untag", imageId, r.Untagged);
      else if (r.Deleted === imageId) this.event("delete", imageId);
    }
    return result;
  }

  // ---- lookup -----------------------------------------------------------

  private row(id: string): ImageRow | undefined {
    return this.db.prepare("SELECT id, manifest_digest, config, created, size FROM images WHERE id = ?").get(id) as ImageRow | undefined;
  }

  private toRecord(r: ImageRow): ImageRecord {
    const refs = this.db.prepare("SELECT ref, kind FROM image_refs WHERE image_id = ? ORDER BY ref").all(r.id) as { ref: string; kind: string }[];
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
    const rows = this.db.prepare("SELECT id, manifest_digest, config, created, size FROM images WHERE substr(id, 8, ?) = ? LIMIT 2").all(hex.length, hex) as ImageRow[];
    if (rows.length > 1) throw invalid(`multiple IDs found with provided prefix: ${hex}`);
    return rows[0] && this.toRecord(rows[0]);
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
      let id: string | undefined;
      if (ref.digest !== undefined) {
        const byRef = this.db.prepare("SELECT image_id FROM image_refs WHERE ref = ?").get(`${repositoryName(ref)}@${ref.digest}`) as { image_id: string } | undefined;
        id = byRef?.image_id ?? (this.db.prepare("SELECT id FROM images WHERE manifest_digest = ? OR id = ? LIMIT 1").get(ref.digest, ref.digest) as { id: string } | undefined)?.id;
      } else {
        id = (this.db.prepare("SELECT image_id FROM image_refs WHERE ref = ?").get(referenceString(ref)) as { image_id: string } | undefined)?.image_id;
      }
      const row = id === undefined ? undefined : this.row(id);
      if (row) return this.toRecord(row);
    }
    if (/^[a-f0-9]{1,64}$/.test(s)) return this.byIdPrefix(s);
    return undefined;
  }

  resolve(refOrId: string): ImageRecord {
    const img = this.tryResolve(refOrId);
    if (!img) throw notFound(`No such image: ${refOrId}`);
    return img;
  }

  inspect(refOrId: string): ImageRecord {
    return this.resolve(refOrId);
  }

  imageConfig(imageId: string): ImageConfig {
    return this.resolve(imageId).config.config ?? {};
  }

  /** Unpacked layer directories of an image, topmost first (overlayfs lowerdir order). */
  layerDirs(imageId: string): string[] {
    const id = this.resolve(imageId).id;
    const rows = this.db
      .prepare("SELECT l.dir FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id WHERE il.image_id = ? ORDER BY il.position DESC")
      .all(id) as { dir: string }[];
    return rows.map((r) => path.join(this.paths.layers, r.dir));
  }

  list(opts: { all?: boolean; filters?: Record<string, string[]> } = {}): ImageRecord[] {
    const rows = this.db.prepare("SELECT id, manifest_digest, config, created, size FROM images ORDER BY created DESC, id").all() as ImageRow[];
    let images = rows.map((r) => this.toRecord(r));
    if (!opts.all) {
      // As docker: untagged images that other images were built on (a build's intermediate steps) show with -a only.
      const parents = intermediateIds(images);
      images = images.filter((i) => i.repoTags.length > 0 || !parents.has(i.id));
    }
    const f = opts.filters ?? {};
    for (const [key, values] of Object.entries(f)) {
      for (const v of values) {
        switch (key) {
          case "dangling":
            images = images.filter((i) => (i.repoTags.length === 0) === (v === "true" || v === "1"));
            break;
          case "reference":
            images = images.filter((i) => i.repoTags.some((t) => referenceMatches(v, t)));
            break;
          case "label":
            images = images.filter((i) => labelMatches(i.config.config?.Labels ?? {}, v));
            break;
          case "before":
          case "since": {
            const pivot = this.resolve(v);
            images = images.filter((i) => (key === "before" ? i.created < pivot.created : i.created > pivot.created));
            break;
          }
          default:
            throw invalid(`invalid filter '${key}'`);
        }
      }
    }
    return images;
  }

  history(refOrId: string): { Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }[] {
    const img = this.resolve(refOrId);
    const sizes = (this.db
      .prepare("SELECT l.size FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id WHERE il.image_id = ? ORDER BY il.position")
      .all(img.id) as { size: number }[]).map((r) => r.size);
    let hist: HistoryEntry[] = img.config.history ?? [];
    if (hist.length === 0) hist = sizes.map(() => ({ created: img.config.created }));
    let layer = 0;
    const out = hist.map((h) => ({
      Id: "<missing>",
      Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
      CreatedBy: h.created_by ?? "",
      Tags: null as string[] | null,
      Size: h.empty_layer ? 0 : (sizes[layer++] ?? 0),
      Comment: h.comment ?? "",
    }));
    out.reverse();
    if (out[0]) {
      out[0].Id = img.id;
      out[0].Tags = img.repoTags.length ? img.repoTags.map((t) => familiarString(t)) : null;
    }
    return out;
  }

  // ---- names ------------------------------------------------------------

  tag(source: string, target: string): void {
    const img = this.resolve(source);
    const ref = parseReference(target);
    if (ref.digest !== undefined) throw invalid(`refusing to create a tag with a digest reference: ${target}`);
    this.db
      .prepare("INSERT INTO image_refs (ref, image_id, kind) VALUES (?, ?, 'tag') ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id, kind = 'tag'")
      .run(referenceString(withDefaultTag(ref)), img.id);
    this.event("tag", img.id, familiarString(referenceString(withDefaultTag(ref))));
  }

  // ---- arrival: import, load, commit -----------------------------------

  /** `docker import`: a root file system tarball (plain, gzip or zstd) becomes a one-layer image. */
  async importRootfs(source: Readable, opts: { ref?: string; changes?: string[]; message?: string } = {}): Promise<ImageRecord> {
    const ref = opts.ref ? normalizeReference(opts.ref) : undefined;
    const imageConfig = applyChanges({}, opts.changes ?? []);
    const staging = new Staging(this.content);
    try {
      const { stream } = await (await archiveOps()).decompressStream(source);
      const layer = await this.stageNewLayer(staging, stream, [], "rootfs");
      const created = new Date().toISOString();
      const config: OciImageConfig = {
        architecture: "amd64",
        os: "linux",
        created,
        config: imageConfig,
        rootfs: { type: "layers", diff_ids: [layer.diffId] },
        history: [{ created, comment: opts.message || "Imported from -" }],
      };
      const rec = this.recordOne(staging, config, [layer], ref ? [ref] : []);
      this.event("import", rec.id, ref ? familiarString(ref) : undefined);
      return rec;
    } finally {
      staging.cleanup();
    }
  }

  /** `docker commit`: the container's upper dir becomes a new layer on top of its image. */
  async commitLayer(opts: CommitLayerOptions): Promise<ImageRecord> {
    const ref = opts.ref ? normalizeReference(opts.ref) : undefined;
    const parent = opts.parentImageId ? this.resolve(opts.parentImageId) : undefined;
    const parentLayers = parent ? this.preparedLayersOf(parent.id) : [];
    let imageConfig: ImageConfig = structuredClone(parent?.config.config ?? {});
    if (opts.containerConfig) {
      const cc = opts.containerConfig as Record<string, unknown>;
      const next = { ...imageConfig } as Record<string, unknown>;
      for (const k of IMAGE_CONFIG_KEYS) if (cc[k] !== undefined) next[k] = structuredClone(cc[k]);
      imageConfig = next;
    }
    imageConfig = applyChanges({ ...imageConfig, ...(opts.config ?? {}) }, opts.changes ?? []);
    const staging = new Staging(this.content);
    try {
      const layer = await this.stageNewLayer(staging, (await archiveOps()).packUpperDir(opts.upperDir), parentLayers, "container changes");
      const created = new Date().toISOString();
      const cmd = opts.containerConfig?.Cmd;
      const entry: HistoryEntry = { created, created_by: opts.createdBy ?? (cmd ? cmd.join(" ") : "") };
      if (opts.author) entry.author = opts.author;
      if (opts.comment) entry.comment = opts.comment;
      const config: OciImageConfig = {
        ...(parent ? structuredClone(parent.config) : { architecture: "amd64", os: "linux", rootfs: { type: "layers" as const, diff_ids: [] } }),
        created,
        config: imageConfig,
        rootfs: { type: "layers", diff_ids: [...parentLayers.map((l) => l.diffId), layer.diffId] },
        history: [...(parent?.config.history ?? []), entry],
      };
      if (opts.author) config.author = opts.author;
      else delete config.author;
      return this.recordOne(staging, config, [...parentLayers, layer], ref ? [ref] : []);
    } finally {
      staging.cleanup();
    }
  }

  /**
   * A config-only step (ENV, CMD, … in a build): a new image over the parent's
   * layers with `config` and an empty-layer history entry.
   */
  async commitConfig(opts: { parentImageId: string | null; config: ImageConfig; createdBy: string; ref?: string }): Promise<ImageRecord> {
    const parent = opts.parentImageId ? this.resolve(opts.parentImageId) : undefined;
    const parentLayers = parent ? this.preparedLayersOf(parent.id) : [];
    const created = new Date().toISOString();
    const config: OciImageConfig = {
      ...(parent ? structuredClone(parent.config) : { architecture: "amd64", os: "linux", rootfs: { type: "layers" as const, diff_ids: [] } }),
      created,
      config: structuredClone(opts.config),
      rootfs: { type: "layers", diff_ids: parentLayers.map((l) => l.diffId) },
      history: [...(parent?.config.history ?? []), { created, created_by: opts.createdBy, empty_layer: true }],
    };
    const staging = new Staging(this.content);
    try {
      return this.recordOne(staging, config, parentLayers, opts.ref ? [normalizeReference(opts.ref)] : []);
    } finally {
      staging.cleanup();
    }
  }

  /** `docker load`: docker-save archives and OCI layouts, plain or gzip'd. */
  async load(source: Readable): Promise<string[]> {
    const staging = new Staging(this.content);
    try {
      const found = await (await archiveOps()).readImageArchive(source, staging);
      const prepared: PreparedImage[] = [];
      const seen = new Map<string, PreparedLayer>();
      for (const img of found) prepared.push(await this.prepareArchiveImage(staging, img, seen));
      this.record(staging, prepared);
      const lines: string[] = [];
      for (const p of prepared) {
        if (p.refs.length === 0) lines.push(`Loaded image ID: ${p.id}`);
        for (const r of p.refs) lines.push(`Loaded image: ${familiarString(r)}`);
        this.event("load", p.id, p.refs[0] ? familiarString(p.refs[0]) : undefined);
      }
      return lines;
    } catch (e) {
      if (e instanceof CapsaError) throw e;
      throw invalid(`load: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      staging.cleanup();
    }
  }

  /** Unpacks a fresh uncompressed layer stream, storing it as an uncompressed blob (digest = diff id). */
  private async stageNewLayer(staging: Staging, tarStream: Readable, below: PreparedLayer[], what: string): Promise<PreparedLayer> {
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
    staging.dir(unpacked.tmpDir, path.join(this.paths.layers, layerDirName(chainId)));
    return { chainId, diffId: unpacked.diffId, blobDigest: digest, blobSize: blob.size, mediaType: MEDIA.ociLayer, size: unpacked.size };
  }

  private existingLayer(chainId: string): LayerRow | undefined {
    const row = this.db.prepare("SELECT chain_id, diff_id, parent, size, dir FROM layers WHERE chain_id = ?").get(chainId) as LayerRow | undefined;
    return row && fs.existsSync(path.join(this.paths.layers, row.dir)) ? row : undefined;
  }

  /** Verifies an archive image's layers against its config's diff ids and unpacks the ones not yet on disk. */
  private async prepareArchiveImage(staging: Staging, img: ArchiveImage, seen: Map<string, PreparedLayer>): Promise<PreparedImage> {
    const diffIds = img.config.rootfs.diff_ids;
    const chains = chainIds(diffIds);
    const layers: PreparedLayer[] = [];
    for (let i = 0; i < img.layers.length; i++) {
      const l = img.layers[i]!;
      const chainId = chains[i]!;
      const diffId = diffIds[i]!;
      const what = `layer ${i + 1} of ${img.layers.length} (${l.digest})`;
      const mediaType = l.mediaType ?? layerMediaType((await archiveOps()).detectCompression(headOf(l.blob)));
      const base = { chainId, diffId, blobDigest: l.digest, blobSize: l.blob.size, mediaType };
      const already = seen.get(chainId) ?? this.existingLayer(chainId);
      if (already) {
        // The directory exists; the blob must still be proven to hold that layer.
        if (l.digest !== diffId) {
          const actual = await (await archiveOps()).diffIdOf(l.blob.openStaged());
          if (actual !== diffId) throw invalid(`${what}: diff id mismatch: the image config says ${diffId}, the layer content is ${actual}`);
        }
        layers.push({ ...base, size: already.size });
        continue;
      }
      const unpacked = await (await archiveOps()).unpackLayer(l.blob.openStaged(), this.paths.tmp, diffId, what).catch((e: unknown) => {
        throw invalid(e instanceof Error ? e.message : String(e));
      });
      staging.dir(unpacked.tmpDir, path.join(this.paths.layers, layerDirName(chainId)));
      const p = { ...base, size: unpacked.size };
      seen.set(chainId, p);
      layers.push(p);
    }
    const manifestBytes = img.manifestBytes ?? manifestFor(img.configDigest, img.configBytes.length, layers);
    const manifestDigest = staging.bytes(manifestBytes);
    return { id: img.configDigest, configText: img.configBytes.toString("utf8"), config: img.config, manifestDigest, layers, refs: img.refs };
  }

  private preparedLayersOf(imageId: string): PreparedLayer[] {
    return this.db
      .prepare(
        `SELECT il.chain_id AS chainId, l.diff_id AS diffId, il.blob_digest AS blobDigest, il.media_type AS mediaType, l.size AS size
         FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id WHERE il.image_id = ? ORDER BY il.position`,
      )
      .all(imageId)
      .map((r) => {
        const row = r as Omit<PreparedLayer, "blobSize">;
        return { ...row, blobSize: this.content.has(row.blobDigest) ? this.content.size(row.blobDigest) : 0 };
      });
  }

  private recordOne(staging: Staging, config: OciImageConfig, layers: PreparedLayer[], refs: string[]): ImageRecord {
    const configBytes = jsonBytes(config);
    const id = staging.bytes(configBytes);
    const manifestDigest = staging.bytes(manifestFor(id, configBytes.length, layers));
    this.record(staging, [{ id, configText: configBytes.toString("utf8"), config, manifestDigest, layers, refs }]);
    return this.resolve(id);
  }

  /** Publishes staged files and records the images, all under the write lock. */
  private record(staging: Staging, images: PreparedImage[]): void {
    const keep = new Set<string>();
    for (const img of images) {
      keep.add(img.id);
      keep.add(img.manifestDigest);
      for (const l of img.layers) keep.add(l.blobDigest);
    }
    const insertImage = this.db.prepare("INSERT OR IGNORE INTO images (id, manifest_digest, config, created, size, added) VALUES (?, ?, ?, ?, ?, ?)");
    const insertLayer = this.db.prepare("INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size, dir) VALUES (?, ?, ?, ?, ?)");
    const insertImageLayer = this.db.prepare("INSERT OR REPLACE INTO image_layers (image_id, position, chain_id, blob_digest, media_type) VALUES (?, ?, ?, ?, ?)");
    const insertRef = this.db.prepare(
      "INSERT INTO image_refs (ref, image_id, kind) VALUES (?, ?, 'tag') ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id, kind = 'tag'",
    );
    const insertDigestRef = this.db.prepare(
      "INSERT INTO image_refs (ref, image_id, kind) VALUES (?, ?, 'digest') ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id, kind = 'digest'",
    );
    this.db
      .transaction(() => {
        staging.publish((d) => keep.has(d));
        const now = new Date().toISOString();
        for (const img of images) {
          for (const l of img.layers) {
            if (!fs.existsSync(path.join(this.paths.layers, layerDirName(l.chainId)))) {
              throw new CapsaError("conflict", `layer ${l.chainId} was removed while this image was being stored; try again`);
            }
          }
          const size = img.layers.reduce((n, l) => n + l.size, 0);
          const inserted = insertImage.run(img.id, img.manifestDigest, img.configText, img.config.created ?? "", size, now).changes > 0;
          img.layers.forEach((l, i) => {
            insertLayer.run(l.chainId, l.diffId, i > 0 ? img.layers[i - 1]!.chainId : null, l.size, layerDirName(l.chainId));
            if (inserted) insertImageLayer.run(img.id, i, l.chainId, l.blobDigest, l.mediaType);
          });
          for (const r of img.refs) insertRef.run(r, img.id);
          for (const r of img.digestRefs ?? []) insertDigestRef.run(r, img.id);
        }
      })
      .immediate();
  }

  // ---- registries: src/registry speaks the protocol; these publish and read --

  /** The state root (registry credentials live beside the database by default). */
  get stateRoot(): string {
    return this.paths.root;
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

  /** The uncompressed size of the layer with this chain id when it is unpacked on disk. */
  layerSize(chainId: string): number | undefined {
    return this.existingLayer(chainId)?.size;
  }

  /**
   * Unpacks a pulled layer stream (plain, gzip or zstd) into a staged temp dir,
   * verifying its diff id; the dir is published by recordPulled.
   */
  async unpackPulledLayer(staging: Staging, blob: Readable, chainId: string, diffId: string, what: string): Promise<number> {
    const unpacked = await (await archiveOps()).unpackLayer(blob, this.paths.tmp, diffId, what);
    staging.dir(unpacked.tmpDir, path.join(this.paths.layers, layerDirName(chainId)));
    return unpacked.size;
  }

  /**
   * Records a pulled image: the staged config, manifest, layer blobs and layer
   * dirs are published and the rows inserted in one write transaction, with
   * its tags and repo digests. The caller verified every digest.
   */
  recordPulled(staging: Staging, img: { configBytes: Buffer; config: OciImageConfig; manifestBytes: Buffer; layers: PulledLayer[]; tags: string[]; digests: string[] }): ImageRecord {
    const id = staging.bytes(img.configBytes);
    const manifestDigest = staging.bytes(img.manifestBytes);
    this.record(staging, [{ id, configText: img.configBytes.toString("utf8"), config: img.config, manifestDigest, layers: img.layers, refs: img.tags, digestRefs: img.digests }]);
    return this.resolve(id);
  }

  /** The config, manifest and layer blobs a push sends. */
  pushSource(refOrId: string): PushSource {
    const image = this.resolve(refOrId);
    const layers = this.preparedLayersOf(image.id).map((l) => ({ blobDigest: l.blobDigest, mediaType: l.mediaType, blobSize: l.blobSize, diffId: l.diffId }));
    for (const l of layers) if (!this.content.has(l.blobDigest)) throw notFound(`layer blob ${l.blobDigest} of ${image.id} is missing from the content store`);
    return { image, configBytes: Buffer.from((this.row(image.id) as ImageRow).config, "utf8"), manifestBytes: this.content.read(image.manifestDigest), layers };
  }

  /** Records "repo@sha256:…" for an image (after a push). */
  addRepoDigest(imageId: string, ref: string): void {
    this.db
      .prepare("INSERT INTO image_refs (ref, image_id, kind) VALUES (?, ?, 'digest') ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id, kind = 'digest'")
      .run(ref, imageId);
  }

  /** `docker pull`: see src/registry. Loaded on first use. */
  async pull(ref: string, opts: PullOptions = {}): Promise<ImageRecord> {
    const { Registry } = await import("../registry/registry.ts");
    const r = new Registry(this);
    try {
      const img = await r.pull(ref, opts);
      this.event("pull", familiarString(ref), familiarString(ref));
      return img;
    } finally {
      r.close();
    }
  }

  /** `docker pull --all-tags`. */
  async pullAllTags(repository: string, opts: PullOptions = {}): Promise<ImageRecord[]> {
    const { Registry } = await import("../registry/registry.ts");
    const r = new Registry(this);
    try {
      const imgs = await r.pullAllTags(repository, opts);
      this.event("pull", familiarString(repository), familiarString(repository));
      return imgs;
    } finally {
      r.close();
    }
  }

  /** `docker push`: dest defaults to the local name. */
  async push(localRef: string, destRef?: string, opts: PushOptions = {}): Promise<PushResult> {
    const { Registry } = await import("../registry/registry.ts");
    const r = new Registry(this);
    try {
      const pushed = await r.push(localRef, destRef, opts);
      this.event("push", familiarString(destRef ?? localRef), familiarString(destRef ?? localRef));
      return pushed;
    } finally {
      r.close();
    }
  }

  /** `docker login`: checks the credentials against the registry, then stores them. */
  async login(registry: string | undefined, creds: LoginOptions): Promise<void> {
    const { Registry } = await import("../registry/registry.ts");
    const r = new Registry(this);
    try {
      await r.login(registry, creds);
    } finally {
      r.close();
    }
  }

  /** `docker logout`: false when no credentials were stored for it. */
  async logout(registry: string | undefined): Promise<boolean> {
    const { Registry } = await import("../registry/registry.ts");
    return new Registry(this).logout(registry);
  }

  // ---- departure: save, remove, prune ----------------------------------

  async save(refs: string[], dest: Writable, format: "docker-archive" | "oci-archive" = "docker-archive"): Promise<void> {
    const items = new Map<string, SaveItem>();
    const add = (img: ImageRecord, tag?: string): void => {
      let item = items.get(img.id);
      if (!item) {
        item = {
          id: img.id,
          configBytes: Buffer.from((this.row(img.id) as ImageRow).config, "utf8"),
          manifestBytes: this.content.read(img.manifestDigest),
          manifestDigest: img.manifestDigest,
          refs: [],
          layers: this.preparedLayersOf(img.id).map((l) => ({ blobDigest: l.blobDigest, mediaType: l.mediaType, blobSize: l.blobSize, diffId: l.diffId, tarSize: l.size })),
        };
        items.set(img.id, item);
      }
      if (tag && !item.refs.includes(tag)) item.refs.push(tag);
    };
    if (refs.length === 0) throw invalid("save: no images given");
    for (const r of refs) {
      let parsed;
      try {
        parsed = parseReference(r);
      } catch {
        parsed = undefined;
      }
      if (parsed && parsed.tag === undefined && parsed.digest === undefined) {
        // A bare repository name saves every tag of it, as docker does.
        const tags = this.db.prepare("SELECT ref, image_id FROM image_refs WHERE kind = 'tag' AND ref LIKE ? ESCAPE '\\'").all(likePrefix(repositoryName(parsed) + ":")) as {
          ref: string;
          image_id: string;
        }[];
        if (tags.length > 0) {
          for (const t of tags) add(this.resolve(t.image_id), t.ref);
          continue;
        }
      }
      const img = this.resolve(r);
      const viaTag = parsed && parsed.digest === undefined ? referenceString(withDefaultTag(parsed)) : undefined;
      add(img, viaTag && img.repoTags.includes(viaTag) ? viaTag : undefined);
    }
    for (const item of items.values()) {
      for (const l of item.layers) if (!this.content.has(l.blobDigest)) throw notFound(`save: layer blob ${l.blobDigest} of ${item.id} is missing from the content store`);
    }
    const list = [...items.values()];
    if (format === "oci-archive") await (await archiveOps()).writeOciArchive(list, this.content, dest);
    else if (format === "docker-archive") await (await archiveOps()).writeDockerArchive(list, this.content, dest);
    else throw invalid(`unknown archive format ${String(format)}`);
    for (const item of list) this.event("save", item.id, item.refs[0] ? familiarString(item.refs[0]) : undefined);
  }

  /** The id of a container using the image, if any, and whether it runs. */
  private usedBy(imageId: string): { id: string; running: boolean } | undefined {
    if (this.inUseCheck) {
      const id = this.inUseCheck(imageId);
      return id ? { id, running: false } : undefined;
    }
    let rows: { id: string; state: string }[] = [];
    try {
      rows = this.db.prepare("SELECT id, state FROM containers WHERE image_id = ?").all(imageId) as { id: string; state: string }[];
    } catch {
      return undefined; // no containers table in this database
    }
    const parsed = rows.map((r) => {
      let running = false;
      try {
        running = !!(JSON.parse(r.state) as { Running?: boolean }).Running;
      } catch {
        /* unreadable state counts as stopped */
      }
      return { id: r.id, running };
    });
    return parsed.find((p) => p.running) ?? parsed[0];
  }

  remove(refOrId: string, opts: { force?: boolean; noPrune?: boolean } = {}): RemoveResult {
    const img = this.resolve(refOrId);
    return this.removalEvents(img.id, this.removeResolved(refOrId, img, opts));
  }

  private removeResolved(refOrId: string, img: ImageRecord, opts: { force?: boolean }): RemoveResult {
    const byTag = this.tagNamed(refOrId, img);
    const user = this.usedBy(img.id);
    const out: RemoveResult = [];
    const untag = (ref: string): void => {
      this.db.prepare("DELETE FROM image_refs WHERE ref = ?").run(ref);
      out.push({ Untagged: familiarString(ref) });
    };
    if (byTag) {
      const others = img.repoTags.filter((t) => t !== byTag);
      if (others.length > 0) {
        untag(byTag);
        return out;
      }
      if (user && !opts.force) {
        throw conflict(`conflict: unable to remove repository reference "${refOrId}" (must force) - container ${shortId(user.id)} is using its referenced image ${shortId(img.id)}`);
      }
      untag(byTag);
      for (const d of img.repoDigests) untag(d);
      if (user) return out; // forced: the name goes, the image stays for its container
      return [...out, ...this.deleteImage(img.id).deleted];
    }
    if (user) {
      if (user.running) throw conflict(`conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image is being used by running container ${shortId(user.id)}`);
      if (!opts.force) throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is being used by stopped container ${shortId(user.id)}`);
    }
    const repos = new Set(img.repoTags.map((t) => repositoryName(parseReference(t))));
    if (repos.size > 1 && !opts.force) {
      throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`);
    }
    for (const t of [...img.repoTags, ...img.repoDigests]) untag(t);
    if (user) return out;
    return [...out, ...this.deleteImage(img.id).deleted];
  }

  /** The stored tag that refOrId names when it was given as a name (not an ID). */
  private tagNamed(refOrId: string, img: ImageRecord): string | undefined {
    const s = refOrId.trim();
    if (s.startsWith("sha256:")) return undefined;
    try {
      const ref = parseReference(s);
      if (ref.digest !== undefined) return undefined;
      const full = referenceString(withDefaultTag(ref));
      return img.repoTags.includes(full) ? full : undefined;
    } catch {
      return undefined;
    }
  }

  /** Deletes an image and whatever of its layers and blobs nothing else uses; under the write lock. */
  private deleteImage(id: string): { deleted: RemoveResult; reclaimed: number } {
    const deleted: RemoveResult = [];
    let reclaimed = 0;
    this.db
      .transaction(() => {
        const row = this.row(id);
        if (!row) return;
        const layers = this.db.prepare("SELECT chain_id, blob_digest FROM image_layers WHERE image_id = ? ORDER BY position DESC").all(id) as {
          chain_id: string;
          blob_digest: string | null;
        }[];
        this.db.prepare("DELETE FROM images WHERE id = ?").run(id);
        deleted.push({ Deleted: id });
        for (const l of layers) {
          const used = this.db.prepare("SELECT 1 FROM image_layers WHERE chain_id = ? LIMIT 1").get(l.chain_id);
          if (used) continue;
          const lr = this.db.prepare("SELECT dir, size FROM layers WHERE chain_id = ?").get(l.chain_id) as { dir: string; size: number } | undefined;
          this.db.prepare("DELETE FROM layers WHERE chain_id = ?").run(l.chain_id);
          if (lr) {
            fs.rmSync(path.join(this.paths.layers, lr.dir), { recursive: true, force: true });
            // A VM's base disk made from this layer chain goes with it.
            fs.rmSync(path.join(this.paths.vmDisks, `${path.basename(lr.dir)}.ext4`), { force: true });
            reclaimed += lr.size;
          }
          deleted.push({ Deleted: l.chain_id });
        }
        for (const d of [id, row.manifest_digest, ...layers.map((l) => l.blob_digest)]) {
          if (d && !this.blobReferenced(d)) this.content.remove(d);
        }
      })
      .immediate();
    return { deleted, reclaimed };
  }

  private blobReferenced(digest: string): boolean {
    return !!(
      this.db.prepare("SELECT 1 FROM images WHERE id = ? OR manifest_digest = ? LIMIT 1").get(digest, digest) ??
      this.db.prepare("SELECT 1 FROM image_layers WHERE blob_digest = ? LIMIT 1").get(digest)
    );
  }

  prune(opts: { all?: boolean } = {}): { ImagesDeleted: RemoveResult; SpaceReclaimed: number } {
    const out: RemoveResult = [];
    let reclaimed = 0;
    // Removing an image can leave its (intermediate) parent dangling: repeat until nothing changes.
    for (let progress = true; progress; ) {
      progress = false;
      for (const img of this.list()) {
        if (!opts.all && img.repoTags.length > 0) continue;
        if (this.usedBy(img.id)) continue;
        const mine: RemoveResult = [];
        for (const t of [...img.repoTags, ...img.repoDigests]) {
          this.db.prepare("DELETE FROM image_refs WHERE ref = ?").run(t);
          mine.push({ Untagged: familiarString(t) });
        }
        const r = this.deleteImage(img.id);
        out.push(...this.removalEvents(img.id, [...mine, ...r.deleted]));
        reclaimed += r.reclaimed;
        progress = true;
      }
    }
    reclaimed += this.collectGarbage();
    return { ImagesDeleted: out, SpaceReclaimed: reclaimed };
  }

  /**
   * Removes layer dirs without a row and blobs nothing references (left by a
   * crash between publish and commit, which a transaction cannot cover).
   */
  collectGarbage(): number {
    let reclaimed = 0;
    this.db
      .transaction(() => {
        const dirs = new Set((this.db.prepare("SELECT dir FROM layers").all() as { dir: string }[]).map((r) => r.dir));
        let names: string[] = [];
        try {
          names = fs.readdirSync(this.paths.layers);
        } catch {
          /* no layers yet */
        }
        for (const n of names) if (!dirs.has(n)) fs.rmSync(path.join(this.paths.layers, n), { recursive: true, force: true });
        for (const d of this.content.list()) {
          if (!this.blobReferenced(d)) {
            reclaimed += this.content.size(d);
            this.content.remove(d);
          }
        }
      })
      .immediate();
    return reclaimed;
  }
}

/** A key per history step (entries and the diff ids so far), so an image's chain can be matched against another's prefix. */
function historyKeys(cfg: OciImageConfig): string[] {
  const diffIds = cfg.rootfs?.diff_ids ?? [];
  const keys: string[] = [];
  let key = "";
  let layer = 0;
  for (const e of cfg.history ?? []) {
    const d = e.empty_layer ? "" : (diffIds[layer++] ?? "");
    key = crypto.createHash("sha256").update(key).update(JSON.stringify([e.created ?? "", e.created_by ?? "", !!e.empty_layer, d])).digest("hex");
    keys.push(key);
  }
  return layer === diffIds.length ? keys : [];
}

/** IDs of images whose whole history is a proper prefix of another image's: the parents (build steps) of others. */
export function intermediateIds(images: ImageRecord[]): Set<string> {
  const prefixes = new Set<string>();
  const own = new Map<string, string>();
  for (const img of images) {
    const keys = historyKeys(img.config);
    if (keys.length === 0) continue;
    own.set(img.id, keys[keys.length - 1]!);
    for (let i = 0; i < keys.length - 1; i++) prefixes.add(keys[i]!);
  }
  const out = new Set<string>();
  for (const [id, key] of own) if (prefixes.has(key)) out.add(id);
  return out;
}

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

function manifestFor(configDigest: string, configSize: number, layers: PreparedLayer[]): Buffer {
  const m: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: configSize },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.blobDigest, size: l.blobSize })),
  };
  return jsonBytes(m);
}

function likePrefix(s: string): string {
  return s.replace(/[\\%_]/g, (c) => "\\" + c) + "%";
}

function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]");
  return new RegExp(`^${re}$`);
}

/** docker's `reference=` filter: a glob over the familiar name, with or without the tag. */
function referenceMatches(pattern: string, ref: string): boolean {
  const r = parseReference(ref);
  const repo = familiarRepository(r);
  const re = globToRegExp(pattern);
  return re.test(familiarString(r)) || re.test(repo) || re.test(referenceString(r)) || re.test(repositoryName(r));
}

export { sha256 };
