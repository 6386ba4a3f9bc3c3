// Reads an image archive (`docker save` output or an OCI image layout, either
// possibly gzip'd) into staged blobs and parses what it describes. Nothing is
// published here: every file goes to a private temp blob, and the caller
// publishes only after every digest and diff id checked out.
import path from "node:path";
import type { Readable } from "node:stream";
import tar from "tar-stream";
import { decompressStream } from "../archive/compression.ts";
import { cleanEntryName } from "../archive/paths.ts";
import type { OciImageConfig } from "../types/records.ts";
import { invalid } from "../util/errors.ts";
import type { BlobWriter } from "./content.ts";
import { hexOf } from "./content.ts";
import { checkImageConfig } from "./config-check.ts";
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  DEFAULT_PLATFORM,
  MEDIA,
  isIndexType,
  platformMatches,
  toOciLayerType,
  type Descriptor,
  type DockerArchiveManifestEntry,
  type Index,
  type Manifest,
} from "./oci.ts";
import { normalizeReference, parseReference } from "./reference.ts";
import type { Staging } from "./staging.ts";

/** An image found in an archive, with its blobs staged but not yet verified against the layer content. */
export interface ArchiveImage {
  configBytes: Buffer;
  configDigest: string;
  config: OciImageConfig;
  /** The archive's own OCI manifest, kept when it is one (its digest then survives a round trip). */
  manifestBytes?: Buffer;
  layers: { blob: BlobWriter; digest: string; mediaType?: string }[];
  /** Normalised tags (docker.io/library/x:latest). */
  refs: string[];
}

type Node = { kind: "file"; blob: BlobWriter } | { kind: "alias"; target: string };

/** Stages every regular file of the archive by its (cleaned) name. */
async function stageEntries(source: Readable, staging: Staging): Promise<Map<string, BlobWriter>> {
  const { stream } = await decompressStream(source);
  const extract = tar.extract();
  stream.on("error", (e) => extract.destroy(e));
  stream.pipe(extract);
  const nodes = new Map<string, Node>();
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = cleanEntryName(h.name);
      if (h.type === "file" || h.type === "contiguous-file") {
        const w = staging.blob();
        await w.writeStream(entry as unknown as AsyncIterable<Uint8Array>);
        w.finish();
        nodes.set(name, { kind: "file", blob: w });
        continue;
      }
      for await (const _ of entry as unknown as AsyncIterable<Uint8Array>) {
        /* no data */
      }
      if (h.type === "symlink") {
        // Legacy docker save links duplicate layers: <id>/layer.tar -> ../<other>/layer.tar
        nodes.set(name, { kind: "alias", target: path.posix.join(path.posix.dirname(name), h.linkname) });
      } else if (h.type === "link") {
        nodes.set(name, { kind: "alias", target: cleanEntryName(h.linkname) });
      }
    }
  } catch (e) {
    extract.destroy();
    const msg = e instanceof Error ? e.message : String(e);
    throw invalid(`reading image archive: ${/unexpected end/i.test(msg) ? "truncated archive: " + msg : msg}`);
  }
  const files = new Map<string, BlobWriter>();
  for (const name of nodes.keys()) {
    let n = nodes.get(name);
    let target = name;
    for (let hops = 0; n && n.kind === "alias" && hops < 32; hops++) {
      target = path.posix.normalize(n.target);
      n = nodes.get(target);
    }
    if (n?.kind === "file") files.set(name, n.blob);
  }
  return files;
}

function parseJson<T>(files: Map<string, BlobWriter>, name: string, what: string): T {
  const w = files.get(name);
  if (!w) throw invalid(`invalid image archive: ${what} ${JSON.stringify(name)} is missing`);
  try {
    return JSON.parse(w.readStaged().toString("utf8")) as T;
  } catch {
    throw invalid(`invalid image archive: ${what} ${JSON.stringify(name)} is not valid JSON`);
  }
}

/** An archive's image config, checked as a pulled one is (checkImageConfig): the types of every field the engine reads. */
function parseConfig(bytes: Buffer, digest: string): OciImageConfig {
  let c: unknown;
  try {
    c = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw invalid(`invalid image config ${digest}: not valid JSON`);
  }
  const layers = c && typeof c === "object" && !Array.isArray(c) ? (c as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids : undefined;
  return checkImageConfig(c, Array.isArray(layers) ? layers.length : 0, `invalid image config ${digest}`);
}

function blobAt(files: Map<string, BlobWriter>, name: string, what: string, expectedHex?: string): BlobWriter {
  const w = files.get(cleanEntryName(name));
  if (!w) throw invalid(`invalid image archive: ${what} ${JSON.stringify(name)} is missing`);
  if (expectedHex !== undefined && w.digest() !== "sha256:" + expectedHex) {
    throw invalid(`invalid image archive: ${what} ${name}: digest mismatch: expected sha256:${expectedHex}, got ${w.digest()}`);
  }
  return w;
}

/** "blobs/sha256/<hex>" or "<hex>.json": names that promise a digest, which is then checked. */
function promisedHex(name: string): string | undefined {
  const m = /(?:^|\/)(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(name);
  return m && !name.endsWith("/layer.tar") ? m[1] : undefined;
}

function readDockerArchive(files: Map<string, BlobWriter>): ArchiveImage[] {
  const entries = parseJson<DockerArchiveManifestEntry[]>(files, "manifest.json", "manifest");
  if (!Array.isArray(entries)) throw invalid("invalid image archive: manifest.json is not a list");
  return entries.map((e, i) => {
    if (typeof e.Config !== "string" || !Array.isArray(e.Layers)) throw invalid(`invalid image archive: manifest.json entry ${i} lacks Config or Layers`);
    const cfg = blobAt(files, e.Config, "config", promisedHex(e.Config));
    const configBytes = cfg.readStaged();
    const config = parseConfig(configBytes, cfg.digest());
    if (config.rootfs.diff_ids.length !== e.Layers.length) {
      throw invalid(`invalid image archive: config ${cfg.digest()} lists ${config.rootfs.diff_ids.length} layers, manifest.json ${e.Layers.length}`);
    }
    const layers = e.Layers.map((l) => {
      const blob = blobAt(files, l, "layer", promisedHex(l));
      return { blob, digest: blob.digest() };
    });
    const refs = (e.RepoTags ?? []).map((t) => normalizeReference(t));
    return { configBytes, configDigest: cfg.digest(), config, layers, refs };
  });
}

function descriptorBlob(files: Map<string, BlobWriter>, d: Descriptor, what: string): BlobWriter {
  const hex = hexOf(d.digest);
  const w = blobAt(files, `blobs/sha256/${hex}`, what, hex);
  if (typeof d.size === "number" && d.size !== w.size) throw invalid(`invalid image archive: ${what} ${d.digest}: size ${w.size}, descriptor says ${d.size}`);
  return w;
}

/** The image name an index entry carries, if any: containerd's annotation, else a ref.name that is a full reference. */
function nameOf(d: Descriptor): string | undefined {
  const a = d.annotations ?? {};
  const full = a[ANNOTATION_CONTAINERD_NAME];
  if (full) return normalizeReference(full);
  const ref = a[ANNOTATION_REF_NAME];
  // A bare tag ("latest", as skopeo writes for oci:dir:latest) names no repository.
  if (ref && /[:/]/.test(ref)) {
    try {
      parseReference(ref);
      return normalizeReference(ref);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Follows indexes down to one linux/amd64 image manifest. */
function pickManifest(files: Map<string, BlobWriter>, d: Descriptor, depth = 0): { desc: Descriptor; bytes: Buffer; manifest: Manifest } | undefined {
  if (depth > 8) throw invalid("invalid image archive: indexes nested too deeply");
  const w = descriptorBlob(files, d, "manifest");
  const bytes = w.readStaged();
  let doc: Manifest & Index;
  try {
    doc = JSON.parse(bytes.toString("utf8")) as Manifest & Index;
  } catch {
    throw invalid(`invalid image archive: manifest ${d.digest} is not valid JSON`);
  }
  const type = doc.mediaType ?? d.mediaType;
  if (isIndexType(type) || Array.isArray(doc.manifests)) {
    const candidates = doc.manifests.filter((m) => !m.annotations?.["vnd.docker.reference.type"] && platformMatches(m.platform, DEFAULT_PLATFORM));
    const exact = candidates.find((m) => m.platform) ?? candidates[0];
    return exact ? pickManifest(files, exact, depth + 1) : undefined;
  }
  if (!doc.config || !Array.isArray(doc.layers)) throw invalid(`invalid image archive: ${d.digest} is neither a manifest nor an index`);
  return { desc: d, bytes, manifest: doc };
}

function readOciLayout(files: Map<string, BlobWriter>): ArchiveImage[] {
  const layout = files.has("oci-layout") ? parseJson<{ imageLayoutVersion?: string }>(files, "oci-layout", "oci-layout") : undefined;
  if (layout && layout.imageLayoutVersion !== "1.0.0") throw invalid(`unsupported OCI layout version ${String(layout.imageLayoutVersion)}`);
  const index = parseJson<Index>(files, "index.json", "index");
  if (!Array.isArray(index.manifests)) throw invalid("invalid image archive: index.json has no manifests");
  const byConfig = new Map<string, ArchiveImage>();
  for (const d of index.manifests) {
    const picked = pickManifest(files, d);
    if (!picked) continue;
    const name = nameOf(d);
    const m = picked.manifest;
    const cfg = descriptorBlob(files, m.config, "config");
    const known = byConfig.get(cfg.digest());
    if (known) {
      if (name && !known.refs.includes(name)) known.refs.push(name);
      continue;
    }
    const configBytes = cfg.readStaged();
    const config = parseConfig(configBytes, cfg.digest());
    if (config.rootfs.diff_ids.length !== m.layers.length) {
      throw invalid(`invalid image archive: config ${cfg.digest()} lists ${config.rootfs.diff_ids.length} layers, manifest ${picked.desc.digest} ${m.layers.length}`);
    }
    const layers = m.layers.map((l) => ({ blob: descriptorBlob(files, l, "layer"), digest: l.digest, mediaType: toOciLayerType(l.mediaType) }));
    const isOci = (m.mediaType ?? picked.desc.mediaType) === MEDIA.ociManifest && m.config.mediaType === MEDIA.ociConfig;
    const img: ArchiveImage = { configBytes, configDigest: cfg.digest(), config, layers, refs: name ? [name] : [] };
    if (isOci) img.manifestBytes = picked.bytes;
    byConfig.set(cfg.digest(), img);
  }
  if (byConfig.size === 0) throw invalid("no linux/amd64 image found in the archive's index");
  return [...byConfig.values()];
}

/** Stages and parses an archive; the staged blobs belong to `staging` (cleaned up by the caller). */
export async function readImageArchive(source: Readable, staging: Staging): Promise<ArchiveImage[]> {
  const files = await stageEntries(source, staging);
  if (files.has("manifest.json")) return readDockerArchive(files);
  if (files.has("index.json")) return readOciLayout(files);
  throw invalid("unrecognised image archive: it has neither manifest.json (docker save) nor index.json (OCI layout)");
}
