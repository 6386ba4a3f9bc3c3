// Writes image archives: "docker-archive" (what `docker save` 25+ writes:
// manifest.json + repositories for `docker load`/`podman load`, and the same
// blobs as an OCI layout with index.json) and "oci-archive" (an OCI image
// layout tar, names in org.opencontainers.image.ref.name annotations).
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { decompressStream } from "../archive/compression.ts";
import { hexOf, sha256 } from "./content.ts";
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, MEDIA, jsonBytes, type Descriptor, type DockerArchiveManifestEntry, type Index, type Manifest } from "./oci.ts";
import { familiarRepository, familiarString, parseReference } from "./reference.ts";

export interface SaveLayer {
  blobDigest: string;
  mediaType: string;
  blobSize: number;
  diffId: string;
  /** Uncompressed tar size. */
  tarSize: number;
}

export interface SaveItem {
  id: string;
  configBytes: Buffer;
  manifestBytes: Buffer;
  manifestDigest: string;
  /** Normalised tags to record for this image (none: saved by ID). */
  refs: string[];
  layers: SaveLayer[];
}

export interface BlobSource {
  open(digest: string): Readable;
}

type Pack = ReturnType<typeof tar.pack>;

function addBuffer(pack: Pack, name: string, data: Buffer): Promise<void> {
  return new Promise((res, rej) => {
    pack.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0) }, data, (err) => (err ? rej(err) : res()));
  });
}

function addStream(pack: Pack, name: string, size: number, src: Readable): Promise<void> {
  return new Promise((res, rej) => {
    const w = pack.entry({ name, size, mode: 0o644, mtime: new Date(0) }, (err) => (err ? rej(err) : res()));
    src.on("error", (e) => {
      w.destroy(e);
      rej(e);
    });
    src.pipe(w as unknown as Writable);
  });
}

async function writeArchive(dest: Writable, fill: (pack: Pack, added: Set<string>) => Promise<void>): Promise<void> {
  const pack = tar.pack();
  const out = pipeline(Readable.from(pack), dest);
  try {
    await fill(pack, new Set());
    pack.finalize();
  } catch (e) {
    pack.destroy(e instanceof Error ? e : new Error(String(e)));
    await out.catch(() => undefined);
    throw e;
  }
  await out;
}

const blobName = (digest: string): string => `blobs/sha256/${hexOf(digest)}`;

function annotations(ref: string): Record<string, string> {
  const r = parseReference(ref);
  return { [ANNOTATION_CONTAINERD_NAME]: ref, [ANNOTATION_REF_NAME]: r.tag ?? "latest" };
}

/** docker save format (docker 25+ layout, readable by older docker load and podman load). */
export async function writeDockerArchive(items: SaveItem[], blobs: BlobSource, dest: Writable): Promise<void> {
  await writeArchive(dest, async (pack, added) => {
    const manifestJson: DockerArchiveManifestEntry[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const indexEntries: Descriptor[] = [];
    for (const item of items) {
      const layerNames: string[] = [];
      const ociLayers: Descriptor[] = [];
      for (const l of item.layers) {
        // docker load and podman load expect uncompressed layers named by diff id.
        const name = blobName(l.diffId);
        layerNames.push(name);
        ociLayers.push({ mediaType: MEDIA.ociLayer, digest: l.diffId, size: l.tarSize });
        if (added.has(name)) continue;
        added.add(name);
        if (l.blobDigest === l.diffId) await addStream(pack, name, l.tarSize, blobs.open(l.blobDigest));
        else await addStream(pack, name, l.tarSize, (await decompressStream(blobs.open(l.blobDigest))).stream);
      }
      const cfgName = blobName(item.id);
      if (!added.has(cfgName)) {
        added.add(cfgName);
        await addBuffer(pack, cfgName, item.configBytes);
      }
      const tags = item.refs.map((r) => familiarString(r));
      manifestJson.push({ Config: cfgName, RepoTags: tags.length ? tags : null, Layers: layerNames });
      for (const r of item.refs) {
        const ref = parseReference(r);
        const top = item.layers[item.layers.length - 1];
        if (top && ref.tag !== undefined) (repositories[familiarRepository(ref)] ??= {})[ref.tag] = hexOf(top.diffId);
      }
      // The same image as an OCI manifest over the uncompressed layers.
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: { mediaType: MEDIA.ociConfig, digest: item.id, size: item.configBytes.length },
        layers: ociLayers,
      };
      const mBytes = jsonBytes(manifest);
      const mDigest = sha256(mBytes);
      if (!added.has(blobName(mDigest))) {
        added.add(blobName(mDigest));
        await addBuffer(pack, blobName(mDigest), mBytes);
      }
      const desc: Descriptor = { mediaType: MEDIA.ociManifest, digest: mDigest, size: mBytes.length };
      if (item.refs.length === 0) indexEntries.push(desc);
      for (const r of item.refs) indexEntries.push({ ...desc, annotations: annotations(r) });
    }
    await addBuffer(pack, "index.json", jsonBytes({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: indexEntries } satisfies Index));
    await addBuffer(pack, "manifest.json", jsonBytes(manifestJson));
    await addBuffer(pack, "oci-layout", jsonBytes({ imageLayoutVersion: "1.0.0" }));
    if (Object.keys(repositories).length) await addBuffer(pack, "repositories", jsonBytes(repositories));
  });
}

/** An OCI image layout tar with the stored (possibly compressed) blobs as they are. */
export async function writeOciArchive(items: SaveItem[], blobs: BlobSource, dest: Writable): Promise<void> {
  await writeArchive(dest, async (pack, added) => {
    await addBuffer(pack, "oci-layout", jsonBytes({ imageLayoutVersion: "1.0.0" }));
    const indexEntries: Descriptor[] = [];
    for (const item of items) {
      for (const l of item.layers) {
        const name = blobName(l.blobDigest);
        if (added.has(name)) continue;
        added.add(name);
        await addStream(pack, name, l.blobSize, blobs.open(l.blobDigest));
      }
      for (const [digest, bytes] of [
        [item.id, item.configBytes],
        [item.manifestDigest, item.manifestBytes],
      ] as const) {
        if (added.has(blobName(digest))) continue;
        added.add(blobName(digest));
        await addBuffer(pack, blobName(digest), bytes);
      }
      const desc: Descriptor = { mediaType: MEDIA.ociManifest, digest: item.manifestDigest, size: item.manifestBytes.length };
      if (item.refs.length === 0) indexEntries.push(desc);
      for (const r of item.refs) indexEntries.push({ ...desc, annotations: annotations(r) });
    }
    await addBuffer(pack, "index.json", jsonBytes({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: indexEntries } satisfies Index));
  });
}
