// Push: every layer blob, then the config, then the manifest, as the
// distribution spec orders it. Layers stored uncompressed (imported and
// committed ones) are gzip'd on the way (into a temp file, hashed while
// written: the digest must be known to skip or finish an upload); compressed
// ones go as they are. A blob the registry already has (HEAD) is skipped; one
// that another repository of the same registry holds is mounted from there.
import fs from "node:fs";
import { pipeline } from "node:stream/promises";
import { Readable, Writable } from "node:stream";
import zlib from "node:zlib";
import { detectCompression } from "../archive/compression.ts";
import { sha256, type BlobWriter } from "../image/content.ts";
import { MEDIA, jsonBytes, type Descriptor, type Manifest } from "../image/oci.ts";
import { parseReference, referenceString, repositoryName, withDefaultTag, type Reference } from "../image/reference.ts";
import type { ImageStore } from "../image/store.ts";
import { CapsaError, invalid } from "../util/errors.ts";
import { shortId } from "../util/ids.ts";
import { mapLimit } from "./blobs.ts";
import { MAX_MANIFEST_BYTES } from "./manifest.ts";
import { errorDetail, header, registryError, type RegistryClient } from "./transport.ts";
import type { PushOptions, PushResult } from "../types/registry.ts";


const DOCKER_LAYER: Record<string, string> = {
  [MEDIA.ociLayer]: MEDIA.dockerLayer,
  [MEDIA.ociLayerGzip]: MEDIA.dockerLayerGzip,
  [MEDIA.dockerLayer]: MEDIA.dockerLayer,
  [MEDIA.dockerLayerGzip]: MEDIA.dockerLayerGzip,
};

interface Upload {
  desc: Descriptor;
  /** Opens the bytes to send (again for a retry). */
  open(): Readable;
}

/** gzips a stored blob into a temp file while hashing it. */
async function compressed(store: ImageStore, digest: string): Promise<BlobWriter> {
  const w = store.content.writer();
  try {
    await pipeline(
      store.content.open(digest),
      zlib.createGzip(),
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          try {
            w.write(chunk);
            cb();
          } catch (e) {
            cb(e as Error);
          }
        },
      }),
    );
    w.finish();
    return w;
  } catch (e) {
    w.abort();
    throw e;
  }
}

/** Does the registry have this blob in this repository? */
function parseStored(bytes: Buffer): Manifest | undefined {
  try {
    const m = JSON.parse(bytes.toString("utf8")) as Manifest;
    return m && Array.isArray(m.layers) && m.config ? m : undefined;
  } catch {
    return undefined;
  }
}

function sameLayers(a: Descriptor[], b: Descriptor[]): boolean {
  return a.length === b.length && a.every((x, i) => x.digest === b[i]!.digest && x.mediaType === b[i]!.mediaType && x.size === b[i]!.size);
}

async function blobExists(client: RegistryClient, repo: string, digest: string, scope: string[], what: string): Promise<boolean> {
  const res = await client.request("HEAD", `/v2/${repo}/blobs/${digest}`, { scope });
  res.body.resume();
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw registryError(what, res.status, await errorDetail(res));
}

/** POST an upload (or a cross-repository mount); returns null when the mount made the blob exist. */
async function startUpload(client: RegistryClient, repo: string, scope: string[], what: string, mount?: { digest: string; from: string }): Promise<URL | null> {
  const q = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : "";
  const res = await client.request("POST", `/v2/${repo}/blobs/uploads/${q}`, { scope, noRedirect: true, body: Buffer.alloc(0) });
  if (mount && res.status === 201) {
    res.body.resume();
    return null;
  }
  if (res.status !== 202) throw registryError(what, res.status, await errorDetail(res));
  res.body.resume();
  const loc = header(res.headers, "location");
  if (!loc) throw new CapsaError("system", `${what}: the registry started an upload without a Location`);
  return new URL(loc, res.url);
}

async function uploadBlob(client: RegistryClient, repo: string, scope: string[], up: Upload, what: string, mountFrom: string | undefined): Promise<"exists" | "mounted" | "pushed"> {
  if (await blobExists(client, repo, up.desc.digest, scope, what)) return "exists";
  const loc = await startUpload(client, repo, scope, what, mountFrom ? { digest: up.desc.digest, from: mountFrom } : undefined);
  if (loc === null) return "mounted";
  loc.searchParams.set("digest", up.desc.digest);
  const res = await client.request("PUT", loc.toString(), {
    scope,
    noRedirect: true,
    headers: { "content-type": "application/octet-stream", "content-length": String(up.desc.size) },
    body: () => up.open(),
  });
  if (res.status !== 201 && res.status !== 204) throw registryError(what, res.status, await errorDetail(res));
  res.body.resume();
  return "pushed";
}

/** Pushes a local image to destRef (default: its own name). */
export async function pushImage(store: ImageStore, client: RegistryClient, localRef: string, dest: Reference, opts: PushOptions = {}): Promise<PushResult> {
  const progress = opts.progress;
  const format = opts.format ?? "oci";
  if (format !== "oci" && format !== "v2s2") throw invalid(`unknown manifest format ${JSON.stringify(format)} (use oci or v2s2)`);
  if (dest.digest !== undefined) throw invalid(`push: cannot push to a digest reference: ${referenceString(dest)}`);
  const target = withDefaultTag(dest);
  const repo = target.path;
  const what = `push ${referenceString(target)}`;
  const src = store.pushSource(localRef);
  // Repositories of the same registry that hold this image: blobs can be mounted from them.
  const mountFrom = [...src.image.repoDigests, ...src.image.repoTags]
    .map((r) => parseReference(r))
    .find((r) => r.domain === target.domain && r.path !== repo)?.path;
  const scope = [`repository:${repo}:pull,push`, ...(mountFrom ? [`repository:${mountFrom}:pull`] : [])];
  progress?.({ status: `The push refers to repository [${repositoryName(target)}]` });

  const temps: BlobWriter[] = [];
  try {
    const layers = await mapLimit(src.layers, 3, async (l): Promise<Descriptor> => {
      let up: Upload;
      const plain = l.mediaType === MEDIA.ociLayer || l.mediaType === MEDIA.dockerLayer || detectCompression(store.content.head(l.blobDigest)) === "none";
      if (plain) {
        progress?.({ id: shortId(l.diffId), status: "Preparing" });
        const w = await compressed(store, l.blobDigest);
        temps.push(w);
        up = { desc: { mediaType: MEDIA.ociLayerGzip, digest: w.digest(), size: w.size }, open: () => fs.createReadStream(w.tmpPath) };
      } else {
        up = { desc: { mediaType: l.mediaType, digest: l.blobDigest, size: l.blobSize }, open: () => store.content.open(l.blobDigest) };
      }
      if (format === "v2s2") {
        const t = DOCKER_LAYER[up.desc.mediaType];
        if (!t) throw invalid(`${what}: a ${up.desc.mediaType} layer cannot be pushed in the v2s2 format (use --format oci)`);
        up.desc = { ...up.desc, mediaType: t };
      }
      const id = shortId(up.desc.digest);
      progress?.({ id, status: "Pushing", current: 0, total: up.desc.size });
      const how = await uploadBlob(client, repo, scope, up, `${what}: layer ${up.desc.digest}`, mountFrom);
      progress?.({ id, status: how === "exists" ? "Layer already exists" : how === "mounted" ? `Mounted from ${mountFrom}` : "Pushed" });
      return up.desc;
    });
    const configDesc: Descriptor = { mediaType: format === "v2s2" ? MEDIA.dockerConfig : MEDIA.ociConfig, digest: src.image.id, size: src.configBytes.length };
    await uploadBlob(client, repo, scope, { desc: configDesc, open: () => Readable.from([src.configBytes]) }, `${what}: config`, mountFrom);
    let manifestBytes: Buffer;
    let mediaType: string;
    const stored = parseStored(src.manifestBytes);
    const unchanged = format === "oci" && stored !== undefined && sameLayers(stored.layers, layers) && stored.config.digest === src.image.id;
    if (unchanged) {
      // Nothing recompressed: the stored manifest goes as it is, so its digest (and a pulled image's repo digest) survives.
      manifestBytes = src.manifestBytes;
      mediaType = MEDIA.ociManifest;
    } else {
      mediaType = format === "v2s2" ? MEDIA.dockerManifest : MEDIA.ociManifest;
      const m: Manifest = { schemaVersion: 2, mediaType, config: configDesc, layers };
      manifestBytes = jsonBytes(m);
    }
    if (manifestBytes.length > MAX_MANIFEST_BYTES) throw invalid(`${what}: manifest too large`);
    const tag = target.tag!;
    const res = await client.request("PUT", `/v2/${repo}/manifests/${tag}`, { scope, headers: { "content-type": mediaType }, body: manifestBytes });
    res.body.resume();
    if (res.status !== 201 && res.status !== 200) throw registryError(`${what}: manifest`, res.status, await errorDetail(res));
    const digest = sha256(manifestBytes);
    const claimed = header(res.headers, "docker-content-digest");
    if (claimed && claimed !== digest) throw invalid(`${what}: the registry stored the manifest as ${claimed}, expected ${digest}`);
    store.addRepoDigest(src.image.id, `${repositoryName(target)}@${digest}`);
    progress?.({ status: `${tag}: digest: ${digest} size: ${manifestBytes.length}` });
    return { ref: referenceString(target), tag, digest, size: manifestBytes.length };
  } finally {
    for (const w of temps) w.abort();
  }
}
