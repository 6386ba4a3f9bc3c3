// Tar streams of directories: `export`, `cp` out of a container, and the layer
// a `commit` makes from an overlayfs upper directory. Entries are sorted by
// name so the same tree always gives the same bytes (and the same diff id).
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { WHITEOUT_OPAQUE, WHITEOUT_PREFIX } from "./extract.ts";
import { opaqueDirs } from "./xattr.ts";

type TarHeader = Partial<tar.Header> & { name: string };

export interface PackOptions {
  /**
   * Name of `src` itself in the archive. Omitted (the default): a directory's
   * content is stored relative to it, without an entry for the directory itself
   * (as `export` and layers do); a non-directory is named by its basename.
   */
  name?: string;
  /** Turn overlayfs whiteouts (char 0/0, opaque xattr) into OCI `.wh.` entries. */
  overlayWhiteouts?: boolean;
  /** Leave out paths (relative to src, "/"-separated) for which this returns true. */
  exclude?: (rel: string) => boolean;
  /** Force one owner on every entry (cp without -a). */
  owner?: { uid: number; gid: number };
}

function typeOf(st: fs.Stats): tar.Header["type"] | null {
  if (st.isDirectory()) return "directory";
  if (st.isFile()) return "file";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "character-device";
  if (st.isBlockDevice()) return "block-device";
  if (st.isFIFO()) return "fifo";
  return null; // sockets: tar has no type for them, they are skipped
}

const isWhiteoutDevice = (st: fs.Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

/** A tar stream of src (a directory or a single file), written lazily as it is read. */
export function packDir(src: string, opts: PackOptions = {}): Readable {
  const pack = tar.pack();
  const opaque = opts.overlayWhiteouts ? opaqueDirs(src) : new Set<string>();
  const links = new Map<string, string>();

  const add = (h: TarHeader, body?: Buffer): Promise<void> =>
    new Promise((res, rej) => {
      pack.entry(h, body ?? Buffer.alloc(0), (err) => (err ? rej(err) : res()));
    });

  const header = (name: string, st: fs.Stats): TarHeader => ({
    name,
    mode: st.mode & 0o7777,
    uid: opts.owner?.uid ?? st.uid,
    gid: opts.owner?.gid ?? st.gid,
    mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
    size: 0,
  });

  async function visit(abs: string, rel: string, name: string): Promise<void> {
    if (rel !== "" && opts.exclude?.(rel)) return;
    const st = fs.lstatSync(abs);
    const type = typeOf(st);
    if (!type) return;
    if (opts.overlayWhiteouts && isWhiteoutDevice(st)) {
      const dir = path.posix.dirname(name);
      const wh = (dir === "." ? "" : dir + "/") + WHITEOUT_PREFIX + path.posix.basename(name);
      await add({ ...header(wh, st), type: "file", mode: st.mode & 0o777 });
      return;
    }
    const h = { ...header(name, st), type };
    if (type === "directory") {
      if (name !== "") await add({ ...h, name: name + "/" });
      if (opaque.has(rel) && name !== "") await add({ ...header(name + "/" + WHITEOUT_OPAQUE, st), type: "file", mode: st.mode & 0o777 });
      const children = fs.readdirSync(abs).sort();
      for (const c of children) {
        await visit(path.join(abs, c), rel === "" ? c : rel + "/" + c, name === "" ? c : name + "/" + c);
      }
      return;
    }
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        await add({ ...h, type: "link", linkname: first });
        return;
      }
      links.set(key, name);
    }
    if (type === "symlink") {
      await add({ ...h, linkname: fs.readlinkSync(abs) });
    } else if (type === "character-device" || type === "block-device") {
      await add({ ...h, devmajor: major(st.rdev), devminor: minor(st.rdev) });
    } else if (type === "file") {
      await new Promise<void>((res, rej) => {
        const w = pack.entry({ ...h, size: st.size }, (err) => (err ? rej(err) : res()));
        const r = fs.createReadStream(abs);
        r.on("error", (e) => {
          w.destroy(e);
          rej(e);
        });
        r.pipe(w);
      });
    } else {
      await add(h);
    }
  }

  const st = fs.lstatSync(src);
  const rootName = opts.name !== undefined ? opts.name.replace(/^\/+|\/+$/g, "") : st.isDirectory() ? "" : path.basename(src);
  visit(src, "", rootName).then(
    () => pack.finalize(),
    (e: unknown) => pack.destroy(e instanceof Error ? e : new Error(String(e))),
  );
  // tar-stream's streams are streamx ones; hand callers a Node stream.
  return Readable.from(pack);
}

/** The changes recorded in an overlayfs upper directory, as an OCI layer tar. */
export function packUpperDir(upperDir: string): Readable {
  return packDir(upperDir, { overlayWhiteouts: true });
}

// Linux's dev_t encoding (glibc's gnu_dev_major/minor).
export function major(dev: number): number {
  return Number(((BigInt(dev) >> 8n) & 0xfffn) | ((BigInt(dev) >> 32n) & ~0xfffn));
}
export function minor(dev: number): number {
  return Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & ~0xffn));
}
