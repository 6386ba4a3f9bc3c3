// Shared fixtures for the image and archive tests: temp dirs that are always
// removed, tars built in memory with tar-stream, hand-made image archives, and
// an ImageStore on a private state root.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import tar from "tar-stream";
import { resolvePaths, type Paths } from "../../src/types/paths.ts";
import { openDb, type DB } from "../../src/store/db.ts";
import { ImageStore } from "../../src/image/store.ts";
import { unmountBelow } from "../helpers.ts";

export interface TarEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";
  body?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  })();
  for (const e of entries) {
    const body = typeof e.body === "string" ? Buffer.from(e.body) : e.body;
    const type = e.type ?? "file";
    await new Promise<void>((res, rej) => {
      pack.entry(
        {
          name: e.name,
          type,
          mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
          uid: e.uid ?? 0,
          gid: e.gid ?? 0,
          mtime: e.mtime ?? new Date(1_600_000_000_000),
          linkname: e.linkname,
          devmajor: e.devmajor,
          devminor: e.devminor,
          pax: e.pax,
          size: body?.length ?? 0,
        },
        body ?? Buffer.alloc(0),
        (err) => (err ? rej(err) : res()),
      );
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function sha256(b: Buffer | string): string {
  return "sha256:" + crypto.createHash("sha256").update(b).digest("hex");
}
export const hex = (d: string): string => d.replace(/^sha256:/, "");

export function streamOf(b: Buffer): Readable {
  return Readable.from([b]);
}

/** Collects what a writer-taking function writes. */
export async function collect(write: (dest: PassThrough) => Promise<void>): Promise<Buffer> {
  const dest = new PassThrough();
  const chunks: Buffer[] = [];
  dest.on("data", (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((res, rej) => {
    dest.on("end", res);
    dest.on("error", rej);
  });
  await write(dest);
  await ended;
  return Buffer.concat(chunks);
}

/** Runs fn with a fresh temp dir that is unmounted below and removed afterwards, even on failure. */
export async function withTempDir<T>(label: string, fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `capsa-${label}-`));
  try {
    return await fn(dir);
  } finally {
    unmountBelow(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface StoreFixture {
  root: string;
  paths: Paths;
  db: DB;
  store: ImageStore;
}

/** An ImageStore on a private state root inside dir. */
export function openStore(dir: string): StoreFixture {
  const root = path.join(dir, "state");
  const paths = resolvePaths({ root });
  const db = openDb(paths.db);
  return { root, paths, db, store: new ImageStore(db, paths) };
}

export async function withStore<T>(label: string, fn: (f: StoreFixture, dir: string) => Promise<T>): Promise<T> {
  return withTempDir(label, async (dir) => {
    const f = openStore(dir);
    try {
      return await fn(f, dir);
    } finally {
      f.db.close();
    }
  });
}

/** Everything the store holds on disk and in the db, to check that a failed operation left nothing. */
export function snapshotState(f: StoreFixture): { images: number; layers: number; refs: number; blobs: string[]; layerDirs: string[]; tmp: string[] } {
  const count = (t: string): number => (f.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
  const ls = (d: string): string[] => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);
  return { images: count("images"), layers: count("layers"), refs: count("image_refs"), blobs: ls(f.paths.blobs), layerDirs: ls(f.paths.layers), tmp: ls(f.paths.tmp) };
}

export interface HandImage {
  config: Buffer;
  configDigest: string;
  layers: Buffer[];
  diffIds: string[];
}

/** An image config over the given layer tars (layers may be gzip'd: diff ids are of the uncompressed tars). */
export function handImage(uncompressed: Buffer[], stored?: Buffer[], extra: Record<string, unknown> = {}): HandImage {
  const diffIds = uncompressed.map((l) => sha256(l));
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created: "2024-01-02T03:04:05Z",
      config: { Cmd: ["sh"], Env: ["PATH=/bin"] },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: uncompressed.map((_, i) => ({ created: "2024-01-02T03:04:05Z", created_by: `step ${i}` })),
      ...extra,
    }),
  );
  return { config, configDigest: sha256(config), layers: stored ?? uncompressed, diffIds };
}

/** A legacy `docker save` archive (<id>/layer.tar, <config hex>.json, manifest.json, repositories). */
export async function legacyDockerArchive(img: HandImage, repoTags: string[]): Promise<Buffer> {
  const entries: TarEntry[] = [];
  const layerPaths: string[] = [];
  img.layers.forEach((l, i) => {
    const id = hex(sha256(`v1-${i}-${img.configDigest}`));
    entries.push({ name: `${id}/`, type: "directory" }, { name: `${id}/VERSION`, body: "1.0" }, { name: `${id}/json`, body: "{}" }, { name: `${id}/layer.tar`, body: l });
    layerPaths.push(`${id}/layer.tar`);
  });
  entries.push({ name: `${hex(img.configDigest)}.json`, body: img.config });
  entries.push({ name: "manifest.json", body: JSON.stringify([{ Config: `${hex(img.configDigest)}.json`, RepoTags: repoTags, Layers: layerPaths }]) });
  return makeTar(entries);
}

/** An OCI image layout tar; `index` lets a test wrap the manifest in nested indexes. */
export async function ociLayout(
  img: HandImage,
  opts: { layerMediaType?: string; annotations?: Record<string, string>; wrap?: (manifest: { digest: string; size: number }, add: (b: Buffer) => string) => { mediaType: string; digest: string; size: number } } = {},
): Promise<Buffer> {
  const blobs = new Map<string, Buffer>();
  const add = (b: Buffer): string => {
    const d = sha256(b);
    blobs.set(d, b);
    return d;
  };
  add(img.config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: img.configDigest, size: img.config.length },
      layers: img.layers.map((l) => ({ mediaType: opts.layerMediaType ?? "application/vnd.oci.image.layer.v1.tar", digest: add(l), size: l.length })),
    }),
  );
  const mDigest = add(manifest);
  const top = opts.wrap
    ? opts.wrap({ digest: mDigest, size: manifest.length }, add)
    : { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: mDigest, size: manifest.length };
  const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ ...top, annotations: opts.annotations }] };
  const entries: TarEntry[] = [{ name: "oci-layout", body: JSON.stringify({ imageLayoutVersion: "1.0.0" }) }, { name: "index.json", body: JSON.stringify(index) }];
  entries.push({ name: "blobs/", type: "directory" }, { name: "blobs/sha256/", type: "directory" });
  for (const [d, b] of blobs) entries.push({ name: `blobs/sha256/${hex(d)}`, body: b });
  return makeTar(entries);
}

/** Reads a tar into a map name → content (files) or link target. */
export async function readTar(b: Buffer): Promise<Map<string, { type: string; body: Buffer; linkname?: string; mode: number; uid: number }>> {
  const out = new Map<string, { type: string; body: Buffer; linkname?: string; mode: number; uid: number }>();
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e as unknown as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
      out.set(e.header.name, { type: e.header.type, body: Buffer.concat(chunks), linkname: e.header.linkname, mode: e.header.mode, uid: e.header.uid });
    }
  })();
  ex.end(b);
  await done;
  return out;
}

export const isRoot = process.getuid?.() === 0;
