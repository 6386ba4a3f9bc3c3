// Tar streams of directories: `export`, `cp` out of a container, and the layer
// a `commit` makes from an overlayfs upper directory. Entries are sorted by
// name so the same tree always gives the same bytes (and the same diff id).
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { WHITEOUT_OPAQUE, WHITEOUT_PREFIX } from "./extract.ts";
import { O_PATH, errnoOf, fdPath, openEntry, openRegularForRead } from "./confined.ts";
import { isOpaque, opaqueDirs } from "./xattr.ts";

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
  /** Trees mounted below src (cp out of a container's view): packed in place of what src has there. */
  mounts?: {
    /** An O_PATH fd of the top of the tree mounted at rel (relative to src), if any. */
    at(rel: string): number | undefined;
    /** The names of the mounts right below the directory rel (its mount point may be missing in src). */
    namesIn(rel: string): string[];
  };
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

/**
 * A tar stream of src (a directory or a single file, not followed if it is a
 * symlink), written lazily as it is read. Only src's own path is trusted:
 * below it, nothing is ever followed (see confined.ts), so a tree that changes
 * while it is packed (a running container's) cannot make this read elsewhere.
 * Entries that vanish meanwhile are left out.
 */
export function packDir(src: string, opts: PackOptions = {}): Readable {
  const fd = fs.openSync(src, O_PATH | fs.constants.O_NOFOLLOW);
  const st = fs.fstatSync(fd);
  const name = opts.name ?? (st.isDirectory() ? undefined : path.basename(src));
  return packFd(fd, { ...opts, ...(name !== undefined ? { name } : {}) }, src);
}

/**
 * packDir of an object already open as an O_PATH fd (e.g. resolved inside a
 * container's root by confined.ts); the stream owns fd and closes it. `top` is
 * its host path, for the opaque-dir lookup of overlayWhiteouts only.
 */
export function packFd(fd: number, opts: PackOptions = {}, top = fdPath(fd)): Readable {
  const pack = tar.pack();
  const links = new Map<string, string>();
  let opaque: Set<string>;
  try {
    opaque = opts.overlayWhiteouts ? opaqueDirs(top) : new Set<string>();
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }

  // tar-stream's streams are streamx ones; hand callers a Node stream.
  const out = Readable.from(pack);
  pack.on("error", () => undefined); // reaches the reader through out; none left after out is destroyed
  // A reader that goes away (destroy) must not leave the walk waiting, holding its fds.
  let finished = false;
  let abort: (e: Error) => void = () => undefined;
  const aborted = new Promise<never>((_, rej) => (abort = rej));
  aborted.catch(() => undefined);
  out.once("close", () => finished || abort(new Error("packing stopped: the reader went away")));
  const guard = <T>(p: Promise<T>): Promise<T> => Promise.race([p, aborted]);

  const add = (h: TarHeader, body?: Buffer): Promise<void> =>
    guard(
      new Promise((res, rej) => {
        pack.entry(h, body ?? Buffer.alloc(0), (err) => (err ? rej(err) : res()));
      }),
    );

  const header = (name: string, st: fs.Stats): TarHeader => ({
    name,
    mode: st.mode & 0o7777,
    uid: opts.owner?.uid ?? st.uid,
    gid: opts.owner?.gid ?? st.gid,
    mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
    size: 0,
  });

  /** fd: an O_PATH fd of the entry (closed by the caller); parent/base: where it was found, to read a symlink. */
  async function visit(fd: number, parent: number | undefined, base: string, rel: string, name: string): Promise<void> {
    if (rel !== "" && opts.exclude?.(rel)) return;
    const st = fs.fstatSync(fd);
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
      // The walk that found opaque dirs went by path: confirm on this directory, found through open ones.
      if (opaque.has(rel) && name !== "" && parent !== undefined && isOpaque(fdPath(parent, base))) await add({ ...header(name + "/" + WHITEOUT_OPAQUE, st), type: "file", mode: st.mode & 0o777 });
      const children = [...new Set([...fs.readdirSync(fdPath(fd)), ...(opts.mounts?.namesIn(rel) ?? [])])].sort();
      for (const c of children) {
        const childRel = rel === "" ? c : rel + "/" + c;
        const child = opts.mounts?.at(childRel) ?? openEntry(fd, c);
        if (child === undefined) continue; // gone meanwhile
        try {
          await visit(child, fd, c, childRel, name === "" ? c : name + "/" + c);
        } finally {
          fs.closeSync(child);
        }
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
      let target: string;
      try {
        // By name in the open parent: at worst another link of the same tree is read.
        // The top itself by the caller's path (/proc/<pid>/fd/<n> would read as the link's own path).
        target = fs.readlinkSync(parent === undefined ? top : fdPath(parent, base));
      } catch (e) {
        if (errnoOf(e) === "ENOENT" || errnoOf(e) === "EINVAL") return; // replaced meanwhile
        throw e;
      }
      await add({ ...h, linkname: target });
    } else if (type === "character-device" || type === "block-device") {
      await add({ ...h, devmajor: major(st.rdev), devminor: minor(st.rdev) });
    } else if (type === "file") {
      await addFile(h, fd);
    } else {
      await add(h);
    }
  }

  /** The file's content as of its size when it was looked at: cut when it grew, padded with zeros when it shrank. */
  async function addFile(h: TarHeader, fd: number): Promise<void> {
    const { fd: rfd, size } = openRegularForRead(fd, h.name);
    const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 1 << 20));
    let pumped: Promise<void> = Promise.resolve();
    try {
      await guard(
        new Promise<void>((res, rej) => {
          const w = pack.entry({ ...h, size }, (err) => (err ? rej(err) : res()));
          w.on("error", () => undefined); // reported through the callback above
          const pump = async (): Promise<void> => {
            let done = 0;
            while (done < size) {
              const { bytesRead } = await readAt(rfd, buf, Math.min(buf.length, size - done), done);
              const chunk = bytesRead > 0 ? Buffer.from(buf.subarray(0, bytesRead)) : Buffer.alloc(Math.min(buf.length, size - done));
              done += chunk.length;
              if (!w.write(chunk)) await guard(new Promise<void>((r) => w.once("drain", () => r())));
            }
            w.end(() => undefined);
          };
          pumped = pump().catch(rej);
        }),
      );
    } finally {
      // No read may still be in flight on rfd when it is closed (its number could be reused).
      await pumped;
      fs.closeSync(rfd);
    }
  }

  const st = fs.fstatSync(fd);
  const rootName = opts.name !== undefined ? opts.name.replace(/^\/+|\/+$/g, "") : st.isDirectory() ? "" : "file";
  visit(fd, undefined, "", "", rootName)
    .finally(() => {
      finished = true;
      fs.closeSync(fd);
    })
    .then(
      () => pack.finalize(),
      (e: unknown) => pack.destroy(e instanceof Error ? e : new Error(String(e))),
    );
  return out;
}

function readAt(fd: number, buf: Buffer, length: number, position: number): Promise<{ bytesRead: number }> {
  return new Promise((res, rej) => fs.read(fd, buf, 0, length, position, (err, bytesRead) => (err ? rej(err) : res({ bytesRead }))));
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
