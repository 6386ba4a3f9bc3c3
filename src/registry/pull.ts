// Pull: manifest (an index picks the platform), config, then the layers — up to
// three at a time, each streamed from the registry through a hash (the blob
// digest), into a staged temp blob and, in the same pass, through
// decompression into a staged layer dir (the diff id). Layers whose blob and
// unpacked dir are both present are skipped; a present blob is unpacked from
// disk; a present dir only needs its blob fetched and checked.
//
// Nothing is published until every digest checked out: then ImageStore's
// recordPulled renames the staged files into place and inserts the rows in one
// transaction. Any failure leaves no blob, no layer dir and no row behind.
import { PassThrough, type Readable } from "node:stream";
import type { ImageRecord, OciImageConfig } from "../types/records.ts";
import { DigestMismatchError, sha256 } from "../image/content.ts";
import { diffIdOf } from "../image/layers.ts";
import { MEDIA, chainIds, jsonBytes, toOciLayerType, type Descriptor, type Manifest, type Platform } from "../image/oci.ts";
import { familiarString, referenceString, repositoryName, type Reference } from "../image/reference.ts";
import { Staging } from "../image/staging.ts";
import type { ImageStore, PulledLayer } from "../image/store.ts";
import { CapsaError, invalid, notFound } from "../util/errors.ts";
import { shortId } from "../util/ids.ts";
import { blobStream, mapLimit } from "./blobs.ts";
import { checkImageConfig } from "../image/config-check.ts";
import { MANIFEST_ACCEPT, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, hostPlatform, parseManifest, parsePlatform, platformEquals, platformString, selectFromIndex, type Parsed } from "./manifest.ts";
import { errorDetail, header, readLimited, registryError, type RegistryClient } from "./transport.ts";
import type { ProgressFn, PullOptions } from "../types/registry.ts";

const LAYER_CONCURRENCY = 3;


interface Fetched {
  bytes: Buffer;
  digest: string;
  parsed: Parsed;
}

/** GET a manifest by tag or digest, size-limited and verified. */
async function fetchManifest(client: RegistryClient, repo: string, reference: string, scope: string[], what: string, expected?: Descriptor): Promise<Fetched> {
  const res = await client.request("GET", `/v2/${repo}/manifests/${reference}`, { scope, headers: { accept: MANIFEST_ACCEPT } });
  if (res.status === 404) {
    const detail = await errorDetail(res);
    throw notFound(`${what}: manifest unknown: ${detail}`);
  }
  if (res.status !== 200) throw registryError(what, res.status, await errorDetail(res));
  const declared = Number(header(res.headers, "content-length"));
  if (declared > MAX_MANIFEST_BYTES) {
    res.body.destroy();
    throw invalid(`${what}: manifest too large (${declared} bytes; the limit is ${MAX_MANIFEST_BYTES})`);
  }
  const bytes = await readLimited(res.body, MAX_MANIFEST_BYTES, `${what}: manifest`).catch((e: unknown) => {
    if (e instanceof CapsaError) throw invalid(`${what}: manifest too large (the limit is ${MAX_MANIFEST_BYTES} bytes)`);
    throw new CapsaError("system", `${what}: reading the manifest: ${(e as Error).message}`);
  });
  const digest = sha256(bytes);
  if (reference.startsWith("sha256:") && digest !== reference) throw invalid(`${what}: manifest digest mismatch: asked for ${reference}, got ${digest}`);
  if (expected && (expected.digest !== digest || expected.size !== bytes.length)) {
    throw invalid(`${what}: manifest does not match its descriptor: expected ${expected.digest} (${expected.size} bytes), got ${digest} (${bytes.length} bytes)`);
  }
  const claimed = header(res.headers, "docker-content-digest");
  if (claimed && claimed.startsWith("sha256:") && claimed !== digest) {
    throw invalid(`${what}: manifest digest mismatch: the registry says ${claimed}, the content is ${digest}`);
  }
  return { bytes, digest, parsed: parseManifest(bytes, header(res.headers, "content-type"), what) };
}

/** GET a small blob (the config), verified against its descriptor. */
async function fetchSmallBlob(client: RegistryClient, repo: string, desc: Descriptor, scope: string[], limit: number, what: string): Promise<Buffer> {
  if (desc.size > limit) throw invalid(`${what}: too large (${desc.size} bytes; the limit is ${limit})`);
  const res = await client.request("GET", `/v2/${repo}/blobs/${desc.digest}`, { scope });
  if (res.status !== 200) throw registryError(what, res.status, await errorDetail(res));
  const bytes = await readLimited(res.body, desc.size, what).catch((e: unknown) => {
    if (e instanceof CapsaError) throw invalid(`${what}: the registry sent more than the ${desc.size} bytes the manifest promises`);
    throw new CapsaError("system", `${what}: ${(e as Error).message === "aborted" ? "connection lost" : (e as Error).message}`);
  });
  const d = sha256(bytes);
  if (d !== desc.digest) throw invalid(`${what}: digest mismatch: expected ${desc.digest}, got ${d}${bytes.length < desc.size ? ` (truncated: ${bytes.length} of ${desc.size} bytes)` : ""}`);
  return bytes;
}

function parseConfig(bytes: Buffer, layerCount: number, what: string): OciImageConfig {
  let c: unknown;
  try {
    c = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw invalid(`${what}: malformed image config: ${(e as Error).message}`);
  }
  return checkImageConfig(c, layerCount, what);
}

/** The stored form of a pulled manifest: OCI as it came; Docker schema2 converted to OCI media types (as load does). */
function storedManifest(bytes: Buffer, mediaType: string, m: Manifest): Buffer {
  if (mediaType === MEDIA.ociManifest) return bytes;
  const oci: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: m.config.digest, size: m.config.size },
    layers: m.layers.map((l) => ({ mediaType: toOciLayerType(l.mediaType), digest: l.digest, size: l.size })),
  };
  return jsonBytes(oci);
}

/** Emits "Downloading" at most every 250 ms per layer. */
function throttled(progress: ProgressFn | undefined, id: string, total: number): (current: number) => void {
  let last = 0;
  return (current) => {
    const now = Date.now();
    if (progress && now - last >= 250) {
      last = now;
      progress({ id, status: "Downloading", current, total });
    }
  };
}

/**
 * Pulls one image (ref has a tag or a digest) into the store, named ref. The
 * bytes come from `repo` on client's registry: ref's own, or a mirror's.
 */
export async function pullImage(store: ImageStore, client: RegistryClient, ref: Reference, opts: PullOptions = {}, repo = ref.path): Promise<ImageRecord> {
  const progress = opts.progress;
  const scope = [`repository:${repo}:pull`];
  const what = familiarString(ref);
  const want: Platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const top = await fetchManifest(client, repo, ref.digest ?? ref.tag ?? "latest", scope, what);
  let chosen = top;
  for (let depth = 0; chosen.parsed.kind === "index"; depth++) {
    if (depth >= 2) throw invalid(`${what}: indexes nested too deeply`);
    const desc = selectFromIndex(chosen.parsed.index, want, what);
    chosen = await fetchManifest(client, repo, desc.digest, scope, what, desc);
  }
  if (chosen.parsed.kind !== "manifest") throw invalid(`${what}: no image manifest`);
  const { manifest, mediaType } = chosen.parsed;
  const configBytes = await fetchSmallBlob(client, repo, manifest.config, scope, MAX_CONFIG_BYTES, `${what}: config ${manifest.config.digest}`);
  const config = parseConfig(configBytes, manifest.layers.length, what);
  const have: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant) have.variant = config.variant;
  if (top.parsed.kind === "manifest" && !platformEquals(have, want)) {
    if (opts.platform) throw invalid(`${what}: image is for ${platformString(have)}, which does not match the requested platform ${platformString(want)}`);
    progress?.({ status: `WARNING: image platform (${platformString(have)}) does not match this host's (${platformString(want)})` });
  }
  progress?.({ id: ref.tag ?? shortId(ref.digest ?? ""), status: `Pulling from ${ref.path}` });

  const diffIds = config.rootfs.diff_ids;
  const chains = chainIds(diffIds);
  const staging = new Staging(store.content);
  const active = new Set<Readable>();
  try {
    const layers = await mapLimit(manifest.layers, LAYER_CONCURRENCY, async (desc, i): Promise<PulledLayer> => {
      const id = shortId(desc.digest);
      const chainId = chains[i]!;
      const diffId = diffIds[i]!;
      const lwhat = `${what}: layer ${i + 1} of ${manifest.layers.length} (${desc.digest})`;
      const base = { chainId, diffId, blobDigest: desc.digest, blobSize: desc.size, mediaType: toOciLayerType(desc.mediaType) };
      const haveBlob = store.content.has(desc.digest);
      const haveSize = store.layerSize(chainId);
      if (haveBlob && haveSize !== undefined) {
        progress?.({ id, status: "Already exists" });
        return { ...base, size: haveSize };
      }
      if (haveBlob) {
        const size = await store.unpackPulledLayer(staging, store.content.open(desc.digest), chainId, diffId, lwhat).catch((e: unknown) => {
          throw invalid((e as Error).message);
        });
        progress?.({ id, status: "Pull complete" });
        return { ...base, size };
      }
      progress?.({ id, status: "Pulling fs layer" });
      const blob = staging.blob();
      const tick = throttled(progress, id, desc.size);
      let writeErr: Error | undefined;
      const source = blobStream(client, repo, desc, scope, lwhat, {
        onChunk(chunk) {
          try {
            blob.write(chunk);
          } catch (e) {
            writeErr ??= e as Error;
            source.destroy(e as Error);
          }
          tick(blob.size);
        },
        onRetry: (attempt, received) => progress?.({ id, status: `Retrying (${attempt}) from byte ${received}` }),
      });
      active.add(source);
      let sourceErr: Error | undefined;
      let ended = false;
      const settled = new Promise<void>((resolve) => {
        source.on("error", (e) => {
          sourceErr ??= e;
          resolve();
        });
        source.on("end", () => {
          ended = true;
          resolve();
        });
        source.on("close", () => resolve());
      });
      // The unpacker reads a pipe of its own: if it gives up early, the source stays readable.
      const feed = new PassThrough();
      source.on("error", (e) => feed.destroy(e));
      source.pipe(feed);
      let size: number;
      try {
        if (haveSize === undefined) {
          size = await store.unpackPulledLayer(staging, feed, chainId, diffId, lwhat);
        } else {
          const actual = await diffIdOf(feed);
          if (actual !== diffId) throw new Error(`${lwhat}: diff id mismatch: the image config says ${diffId}, the layer content is ${actual}`);
          size = haveSize;
        }
        await settled;
        if (!ended) throw sourceErr ?? new CapsaError("system", `${lwhat}: transfer did not complete`);
      } catch (e) {
        if (writeErr) throw writeErr;
        // The transfer's own error says what happened; the archive reader's is a consequence.
        if (sourceErr instanceof CapsaError) throw sourceErr;
        // Content that does not unpack is most likely not what the digest names: read
        // the rest (bounded by the descriptor's size; every byte is hashed) to say so.
        if (!ended && sourceErr === undefined && !source.destroyed) {
          source.unpipe(feed);
          source.resume();
          await settled;
          const late = sourceErr as Error | undefined;
          if (late instanceof CapsaError) throw late;
        }
        if (ended) {
          const actual = blob.digest();
          if (actual !== desc.digest) throw invalid(`${lwhat}: digest mismatch: expected ${desc.digest}, got ${actual}`);
        }
        source.destroy();
        if (e instanceof CapsaError) throw e;
        const cause = (e as { cause?: unknown }).cause;
        if (cause instanceof CapsaError) throw new CapsaError(cause.kind, (e as Error).message);
        throw invalid((e as Error).message);
      } finally {
        active.delete(source);
      }
      try {
        blob.finish(desc.digest, lwhat);
      } catch (e) {
        if (e instanceof DigestMismatchError) throw invalid(e.message);
        throw e;
      }
      if (blob.size !== desc.size) throw invalid(`${lwhat}: size mismatch: expected ${desc.size} bytes, got ${blob.size}`);
      progress?.({ id, status: "Pull complete" });
      return { ...base, size };
    }).catch((e: unknown) => {
      for (const s of active) s.destroy();
      throw e;
    });
    const tags = ref.digest === undefined ? [referenceString(ref)] : [];
    const digests = [`${repositoryName(ref)}@${top.digest}`];
    const img = store.recordPulled(staging, { configBytes, config, manifestBytes: storedManifest(chosen.bytes, mediaType, manifest), layers, tags, digests });
    progress?.({ status: `Digest: ${top.digest}` });
    return img;
  } finally {
    staging.cleanup();
  }
}

/** Every tag of a repository (following `Link` pagination). */
export async function listTags(client: RegistryClient, repo: string, what: string): Promise<string[]> {
  const scope = [`repository:${repo}:pull`];
  const tags: string[] = [];
  let next: string | undefined = `/v2/${repo}/tags/list?n=1000`;
  for (let pages = 0; next && pages < 100; pages++) {
    const res = await client.request("GET", next, { scope });
    if (res.status !== 200) throw registryError(what, res.status, await errorDetail(res));
    const bytes = await readLimited(res.body, MAX_MANIFEST_BYTES, `${what}: tag list`);
    let j: { tags?: unknown };
    try {
      j = JSON.parse(bytes.toString("utf8")) as { tags?: unknown };
    } catch (e) {
      throw invalid(`${what}: malformed tag list: ${(e as Error).message}`);
    }
    if (j.tags !== null && j.tags !== undefined && !Array.isArray(j.tags)) throw invalid(`${what}: malformed tag list`);
    for (const t of (j.tags as unknown[] | null) ?? []) if (typeof t === "string") tags.push(t);
    const link = header(res.headers, "link");
    next = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
  }
  return tags;
}
