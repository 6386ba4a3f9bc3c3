// How images arrive: `import` (a root file system tarball), `commit` (a
// container's upper dir), a build's config-only step, a pull and a load all
// stage blobs and unpack layers first (unpack.ts), then publish the files and
// insert the rows in one write transaction. A failure before that leaves
// nothing behind; deletions take the same write lock, so a concurrent rmi
// never removes a layer that a load is about to reference.
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type { ContainerConfig, HistoryEntry, ImageConfig, ImageRecord, OciImageConfig } from "../types/records.ts";
import type { ImageRows } from "../store/images.ts";
import { CapsaError } from "../util/errors.ts";
import type * as ArchiveOpsModule from "./archive-ops.ts";
import type { ContentStore } from "./content.ts";
import { applyChanges } from "./instructions.ts";
import { layerDirName } from "./layer-dir.ts";
import type { ImageLookup } from "./lookup.ts";
import { jsonBytes, manifestFor } from "./oci.ts";
import { familiarString, normalizeReference } from "./reference.ts";
import { Staging } from "./staging.ts";
import type { LayerUnpacker, PreparedImage, PreparedLayer } from "./unpack.ts";

/** Tar and compression code, loaded on first use (see archive-ops.ts). */
const archiveOps = (): Promise<typeof ArchiveOpsModule> => import("./archive-ops.ts");

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

/** What a pull hands over once every digest checked out. */
export interface PulledImage {
  configBytes: Buffer;
  config: OciImageConfig;
  manifestBytes: Buffer;
  layers: PreparedLayer[];
  tags: string[];
  digests: string[];
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

const emptyConfig = (): OciImageConfig => ({ architecture: "amd64", os: "linux", rootfs: { type: "layers" as const, diff_ids: [] } });

export class ImageIngest {
  constructor(
    private readonly rows: ImageRows,
    private readonly content: ContentStore,
    private readonly layersDir: string,
    private readonly lookup: ImageLookup,
    private readonly unpacker: LayerUnpacker,
    private readonly event: (action: string, id: string, name?: string) => void,
  ) {}

  /** `docker import`: a root file system tarball (plain, gzip or zstd) becomes a one-layer image. */
  async importRootfs(source: Readable, opts: { ref?: string; changes?: string[]; message?: string } = {}): Promise<ImageRecord> {
    const ref = opts.ref ? normalizeReference(opts.ref) : undefined;
    const imageConfig = applyChanges({}, opts.changes ?? []);
    const staging = new Staging(this.content);
    try {
      const { stream } = await (await archiveOps()).decompressStream(source);
      const layer = await this.unpacker.stageNew(staging, stream, [], "rootfs");
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
    const parent = opts.parentImageId ? this.lookup.resolve(opts.parentImageId) : undefined;
    const parentLayers = parent ? this.lookup.layers(parent.id) : [];
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
      const layer = await this.unpacker.stageNew(staging, (await archiveOps()).packUpperDir(opts.upperDir), parentLayers, "container changes");
      const created = new Date().toISOString();
      const cmd = opts.containerConfig?.Cmd;
      const entry: HistoryEntry = { created, created_by: opts.createdBy ?? (cmd ? cmd.join(" ") : "") };
      if (opts.author) entry.author = opts.author;
      if (opts.comment) entry.comment = opts.comment;
      const config: OciImageConfig = {
        ...(parent ? structuredClone(parent.config) : emptyConfig()),
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
  commitConfig(opts: { parentImageId: string | null; config: ImageConfig; createdBy: string; ref?: string }): ImageRecord {
    const parent = opts.parentImageId ? this.lookup.resolve(opts.parentImageId) : undefined;
    const parentLayers = parent ? this.lookup.layers(parent.id) : [];
    const created = new Date().toISOString();
    const config: OciImageConfig = {
      ...(parent ? structuredClone(parent.config) : emptyConfig()),
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

  /**
   * Records a pulled image: the staged config, manifest, layer blobs and layer
   * dirs are published and the rows inserted in one write transaction, with
   * its tags and repo digests. The caller verified every digest.
   */
  recordPulled(staging: Staging, img: PulledImage): ImageRecord {
    const id = staging.bytes(img.configBytes);
    const manifestDigest = staging.bytes(img.manifestBytes);
    this.record(staging, [{ id, configText: img.configBytes.toString("utf8"), config: img.config, manifestDigest, layers: img.layers, refs: img.tags, digestRefs: img.digests }]);
    return this.lookup.resolve(id);
  }

  private recordOne(staging: Staging, config: OciImageConfig, layers: PreparedLayer[], refs: string[]): ImageRecord {
    const configBytes = jsonBytes(config);
    const id = staging.bytes(configBytes);
    const manifestDigest = staging.bytes(manifestFor(id, configBytes.length, layers));
    this.record(staging, [{ id, configText: configBytes.toString("utf8"), config, manifestDigest, layers, refs }]);
    return this.lookup.resolve(id);
  }

  /** Publishes staged files and records the images, all under the write lock. */
  record(staging: Staging, images: PreparedImage[]): void {
    const keep = new Set<string>();
    for (const img of images) {
      keep.add(img.id);
      keep.add(img.manifestDigest);
      for (const l of img.layers) keep.add(l.blobDigest);
    }
    this.rows.writeLocked(() => {
      staging.publish((d) => keep.has(d));
      const now = new Date().toISOString();
      for (const img of images) {
        for (const l of img.layers) {
          if (!fs.existsSync(path.join(this.layersDir, layerDirName(l.chainId)))) {
            throw new CapsaError("conflict", `layer ${l.chainId} was removed while this image was being stored; try again`);
          }
        }
        const layers = img.layers.map((l) => ({ ...l, dir: layerDirName(l.chainId) }));
        this.rows.insertImage({ id: img.id, manifestDigest: img.manifestDigest, configText: img.configText, created: img.config.created ?? "", layers }, now);
        for (const r of img.refs) this.rows.setRef(r, img.id, "tag");
        for (const r of img.digestRefs ?? []) this.rows.setRef(r, img.id, "digest");
      }
    });
  }
}
