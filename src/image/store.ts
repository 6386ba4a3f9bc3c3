// The image store: images, their names and their layers. Rows live in the
// metadata store (src/store/images.ts); blobs in the content store
// (content.ts); unpacked layers in <layers>/<dir>, one per chain id, shared by
// images. This class puts the parts together, each with one job:
//   lookup.ts   names and IDs → images, listing, an image's layers
//   unpack.ts   layer streams → staged, verified layer directories
//   ingest.ts   import, commit, build steps and pulls: staged files + rows in one transaction
//   load-save.ts  image archives in and out
//   removal.ts  rmi, prune and the garbage collection behind them
// The registry client (src/registry) reads and writes through it; the store
// itself never reaches for the network.
import type { Readable, Writable } from "node:stream";
import type { Paths } from "../types/paths.ts";
import type { HistoryEntry, ImageConfig, ImageRecord } from "../types/records.ts";
import { ContainerStore } from "../store/containers.ts";
import type { DB } from "../store/db.ts";
import { ImageRows } from "../store/images.ts";
import type { EventJournal } from "../events/journal.ts";
import { invalid, notFound } from "../util/errors.ts";
import { ContentStore } from "./content.ts";
import { ImageIngest, type CommitLayerOptions, type PulledImage } from "./ingest.ts";
import { loadImages, saveImages, type ArchiveDeps } from "./load-save.ts";
import { ImageLookup } from "./lookup.ts";
import { familiarString, parseReference, referenceString, withDefaultTag } from "./reference.ts";
import { ImageRemoval, type RemoveResult } from "./removal.ts";
import type { Staging } from "./staging.ts";
import { LayerUnpacker, type PreparedLayer } from "./unpack.ts";

export type { CommitLayerOptions } from "./ingest.ts";

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

export class ImageStore {
  readonly content: ContentStore;
  /** Set by the engine: where image events (tag, load, delete, …) are recorded for `events`. */
  events?: EventJournal;
  private readonly rows: ImageRows;
  private readonly lookup: ImageLookup;
  private readonly unpacker: LayerUnpacker;
  private readonly ingest: ImageIngest;
  private readonly removal: ImageRemoval;
  private readonly archives: ArchiveDeps;

  constructor(
    db: DB,
    private readonly paths: Paths,
  ) {
    this.content = new ContentStore(paths.blobs, paths.tmp);
    const event = (action: string, id: string, name?: string): void => {
      this.events?.record("image", action, id, name ? { name } : {});
    };
    this.rows = new ImageRows(db);
    this.lookup = new ImageLookup(this.rows, this.content, paths.layers);
    this.unpacker = new LayerUnpacker(this.rows, paths);
    this.ingest = new ImageIngest(this.rows, this.content, paths.layers, this.lookup, this.unpacker, event);
    this.removal = new ImageRemoval(this.rows, this.content, paths, this.lookup, new ContainerStore(db), event);
    this.archives = { rows: this.rows, content: this.content, lookup: this.lookup, unpacker: this.unpacker, ingest: this.ingest, event };
  }

  // ---- lookup -----------------------------------------------------------

  /** What a name or ID refers to, or undefined. Accepts docker's forms: busybox, busybox:1, x@sha256:…, sha256:<id>, an ID prefix. */
  tryResolve(refOrId: string): ImageRecord | undefined {
    return this.lookup.tryResolve(refOrId);
  }

  resolve(refOrId: string): ImageRecord {
    return this.lookup.resolve(refOrId);
  }

  inspect(refOrId: string): ImageRecord {
    return this.lookup.resolve(refOrId);
  }

  /** Unpacked layer directories of an image, topmost first (overlayfs lowerdir order). */
  layerDirs(imageId: string): string[] {
    return this.lookup.layerDirs(imageId);
  }

  list(opts: { all?: boolean; filters?: Record<string, string[]> } = {}): ImageRecord[] {
    return this.lookup.list(opts);
  }

  /** docker's SharedSize per image: the bytes of its layers that other images use too. */
  sharedSizes(): Map<string, number> {
    return this.rows.sharedSizes();
  }

  history(refOrId: string): { Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }[] {
    const img = this.resolve(refOrId);
    const sizes = this.rows.layers(img.id).map((l) => l.size);
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
    const full = referenceString(withDefaultTag(ref));
    this.rows.setRef(full, img.id, "tag");
    this.events?.record("image", "tag", img.id, { name: familiarString(full) });
  }

  /** Records "repo@sha256:…" for an image (after a push). */
  addRepoDigest(imageId: string, ref: string): void {
    this.rows.setRef(ref, imageId, "digest");
  }

  // ---- arrival: import, commit, build steps, load -----------------------

  /** `docker import`: a root file system tarball (plain, gzip or zstd) becomes a one-layer image. */
  importRootfs(source: Readable, opts: { ref?: string; changes?: string[]; message?: string } = {}): Promise<ImageRecord> {
    return this.ingest.importRootfs(source, opts);
  }

  /** `docker commit`: the container's upper dir becomes a new layer on top of its image. */
  commitLayer(opts: CommitLayerOptions): Promise<ImageRecord> {
    return this.ingest.commitLayer(opts);
  }

  /** A config-only build step: a new image over the parent's layers. */
  async commitConfig(opts: { parentImageId: string | null; config: ImageConfig; createdBy: string; ref?: string }): Promise<ImageRecord> {
    return this.ingest.commitConfig(opts);
  }

  /** `docker load`: docker-save archives and OCI layouts, plain or gzip'd. */
  load(source: Readable): Promise<string[]> {
    return loadImages(this.archives, source);
  }

  save(refs: string[], dest: Writable, format: "docker-archive" | "oci-archive" = "docker-archive"): Promise<void> {
    return saveImages(this.archives, refs, dest, format);
  }

  // ---- departure --------------------------------------------------------

  remove(refOrId: string, opts: { force?: boolean; noPrune?: boolean } = {}): RemoveResult {
    return this.removal.remove(refOrId, opts);
  }

  prune(opts: { all?: boolean } = {}): { ImagesDeleted: RemoveResult; SpaceReclaimed: number } {
    return this.removal.prune(opts);
  }

  // ---- registries: src/registry speaks the protocol; these publish and read --

  /** The state root (registry credentials live beside the database by default). */
  get stateRoot(): string {
    return this.paths.root;
  }

  /** The uncompressed size of the layer with this chain id when it is unpacked on disk. */
  layerSize(chainId: string): number | undefined {
    return this.unpacker.existing(chainId)?.size;
  }

  /**
   * Unpacks a pulled layer stream (plain, gzip or zstd) into a staged temp dir,
   * verifying its diff id; the dir is published by recordPulled.
   */
  unpackPulledLayer(staging: Staging, blob: Readable, chainId: string, diffId: string, what: string): Promise<number> {
    return this.unpacker.stagePulled(staging, blob, chainId, diffId, what);
  }

  /** Records a pulled image whose every digest the caller verified (see ImageIngest.recordPulled). */
  recordPulled(staging: Staging, img: PulledImage): ImageRecord {
    return this.ingest.recordPulled(staging, img);
  }

  /** The config, manifest and layer blobs a push sends. */
  pushSource(refOrId: string): PushSource {
    const image = this.resolve(refOrId);
    const layers = this.lookup.layers(image.id).map((l) => ({ blobDigest: l.blobDigest, mediaType: l.mediaType, blobSize: l.blobSize, diffId: l.diffId }));
    for (const l of layers) if (!this.content.has(l.blobDigest)) throw notFound(`layer blob ${l.blobDigest} of ${image.id} is missing from the content store`);
    return { image, configBytes: this.lookup.configBytes(image.id), manifestBytes: this.content.read(image.manifestDigest), layers };
  }
}
