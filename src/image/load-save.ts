// `docker load` and `docker save`: image archives (docker-archive and OCI
// layouts) in and out of the store. The tar formats themselves: archive-read.ts
// and archive-write.ts.
import type { Readable, Writable } from "node:stream";
import type { ImageRecord } from "../types/records.ts";
import type { ImageRows } from "../store/images.ts";
import { CapsaError, invalid, notFound } from "../util/errors.ts";
import type * as ArchiveOpsModule from "./archive-ops.ts";
import type { SaveItem } from "./archive-write.ts";
import type { ContentStore } from "./content.ts";
import type { ImageIngest } from "./ingest.ts";
import type { ImageLookup } from "./lookup.ts";
import { familiarString, parseReference, referenceString, repositoryName, withDefaultTag } from "./reference.ts";
import { Staging } from "./staging.ts";
import type { LayerUnpacker, PreparedImage, PreparedLayer } from "./unpack.ts";

/** Tar and compression code, loaded on first use (see archive-ops.ts). */
const archiveOps = (): Promise<typeof ArchiveOpsModule> => import("./archive-ops.ts");

export interface ArchiveDeps {
  rows: ImageRows;
  content: ContentStore;
  lookup: ImageLookup;
  unpacker: LayerUnpacker;
  ingest: ImageIngest;
  event: (action: string, id: string, name?: string) => void;
}

/** `docker load`: docker-save archives and OCI layouts, plain or gzip'd. Returns docker's "Loaded image…" lines. */
export async function loadImages(d: ArchiveDeps, source: Readable): Promise<string[]> {
  const staging = new Staging(d.content);
  try {
    const found = await (await archiveOps()).readImageArchive(source, staging);
    const prepared: PreparedImage[] = [];
    const seen = new Map<string, PreparedLayer>();
    for (const img of found) prepared.push(await d.unpacker.stageArchiveImage(staging, img, seen));
    d.ingest.record(staging, prepared);
    const lines: string[] = [];
    for (const p of prepared) {
      if (p.refs.length === 0) lines.push(`Loaded image ID: ${p.id}`);
      for (const r of p.refs) lines.push(`Loaded image: ${familiarString(r)}`);
      d.event("load", p.id, p.refs[0] ? familiarString(p.refs[0]) : undefined);
    }
    return lines;
  } catch (e) {
    if (e instanceof CapsaError) throw e;
    throw invalid(`load: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    staging.cleanup();
  }
}

/** `docker save`: a bare repository name saves every tag of it, as docker does. */
export async function saveImages(d: ArchiveDeps, refs: string[], dest: Writable, format: "docker-archive" | "oci-archive" = "docker-archive"): Promise<void> {
  const items = new Map<string, SaveItem>();
  const add = (img: ImageRecord, tag?: string): void => {
    let item = items.get(img.id);
    if (!item) {
      item = {
        id: img.id,
        configBytes: d.lookup.configBytes(img.id),
        manifestBytes: d.content.read(img.manifestDigest),
        manifestDigest: img.manifestDigest,
        refs: [],
        layers: d.lookup.layers(img.id).map((l) => ({ blobDigest: l.blobDigest, mediaType: l.mediaType, blobSize: l.blobSize, diffId: l.diffId, tarSize: l.size })),
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
      const tags = d.rows.tagsStartingWith(repositoryName(parsed) + ":");
      if (tags.length > 0) {
        for (const t of tags) add(d.lookup.resolve(t.imageId), t.ref);
        continue;
      }
    }
    const img = d.lookup.resolve(r);
    const viaTag = parsed && parsed.digest === undefined ? referenceString(withDefaultTag(parsed)) : undefined;
    add(img, viaTag && img.repoTags.includes(viaTag) ? viaTag : undefined);
  }
  for (const item of items.values()) {
    for (const l of item.layers) if (!d.content.has(l.blobDigest)) throw notFound(`save: layer blob ${l.blobDigest} of ${item.id} is missing from the content store`);
  }
  const list = [...items.values()];
  if (format === "oci-archive") await (await archiveOps()).writeOciArchive(list, d.content, dest);
  else if (format === "docker-archive") await (await archiveOps()).writeDockerArchive(list, d.content, dest);
  else throw invalid(`unknown archive format ${String(format)}`);
  for (const item of list) d.event("save", item.id, item.refs[0] ? familiarString(item.refs[0]) : undefined);
}
