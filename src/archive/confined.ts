// File work inside a directory tree that something else may be changing at the
// same time: a running container's root, its overlay upper dir. Every step is
// taken relative to a directory that is already open, one name at a time, and
// the kernel is never asked to follow a symlink or "..": links are read here
// and resolved as if the tree's top were "/" (what openat2's RESOLVE_IN_ROOT
// does). A directory swapped for a symlink after it was checked changes
// nothing: the open directory is still the one that was checked.
//
// Node has neither openat nor openat2, so a directory held open (O_PATH) is
// named by its /proc/<pid>/fd/<n> link: the kernel resolves that link to the
// open file itself, and the next component is looked up inside it. The same
// path works for a child process (setfattr, mknod) run as root.
import fs from "node:fs";
import path from "node:path";

/** Linux's O_PATH (x86-64 and arm64); Node does not export it. */
export const O_PATH = 0o10000000;
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = fs.constants;
const MAX_HOPS = 255;

/** A path naming the open file fd itself, or `name` inside the open directory fd. */
export function fdPath(fd: number, name?: string): string {
  if (name === undefined) return `/proc/${process.pid}/fd/${fd}`;
  if (name === "" || name === "." || name === ".." || name.includes("/")) throw new Error(`not a single path component: ${JSON.stringify(name)}`);
  return `/proc/${process.pid}/fd/${fd}/${name}`;
}

export function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function fail(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** An object inside a Tree: an O_PATH fd the caller closes, and its path below the tree's top ("" for the top). */
export interface Resolved {
  fd: number;
  rel: string;
  /** When the object is in a mount (ResolveOptions.mounts): the mount's path below the top, and the object's path below the mount. */
  mount?: { at: string; sub: string };
}

/**
 * Trees mounted on a Tree, as a container's volumes and binds are on its
 * root: each one's top replaces what the tree has at that path. The tops are
 * the caller's own paths; below them nothing is followed, and a symlink in a
 * mount resolves in the whole view (an absolute one restarts at the tree's
 * top, ".." at a mount's top goes to the directory it is mounted on).
 */
export interface MountTable {
  /** An O_PATH fd of the top of the mount at `rel` (a path below the tree's top, no leading slash), or undefined when nothing is mounted there. */
  open(rel: string): number | undefined;
  /** Whether a mount is below `rel`: a missing directory there is made, as the runtime makes it to mount on. */
  isAbove(rel: string): boolean;
  /** For writes: whether the mount at `at` takes none (its source is writable from the host, not from the container). */
  readOnly?(at: string): boolean;
}

/** EROFS when `r` is in a mount of `mounts` that is read-only (a write there is refused). */
export function checkWritable(r: Resolved, mounts: MountTable | undefined): void {
  if (r.mount && mounts?.readOnly?.(r.mount.at)) throw fail("EROFS", `/${r.mount.at}: mounted volume is marked read-only`);
}

export interface ResolveOptions {
  /** Follow a symlink in the last component too (inside the tree). Default true. */
  followLast?: boolean;
  /** Create missing directories (mode 0755) on the way, the last component included. */
  mkdir?: boolean;
  /** Trees mounted on this one (see MountTable). */
  mounts?: MountTable;
}

/** A directory tree whose content is not trusted, opened once at its top. */
export class Tree {
  private constructor(
    /** O_PATH fd of the top. */
    readonly fd: number,
    /** The top's host path, for messages. */
    readonly top: string,
    /** Trees mounted on this one, used by every resolve that names none. */
    readonly mounts?: MountTable,
  ) {}

  /** `dir` is the caller's own path (it may be followed); everything below it is not. */
  static open(dir: string, mounts?: MountTable): Tree {
    return new Tree(fs.openSync(dir, O_PATH | O_DIRECTORY), dir, mounts);
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  /** A host path for messages (never for file work). */
  describe(rel: string): string {
    return path.join(this.top, rel);
  }

  /**
   * Opens `rel` inside the tree as a chroot would resolve it: symlinks are
   * read and followed inside the tree (an absolute target restarts at the
   * top), ".." stops at the top. Throws ENOENT / ENOTDIR / ELOOP errors that
   * name the path inside the tree.
   */
  resolve(rel: string, opts: ResolveOptions = {}): Resolved {
    const followLast = opts.followLast ?? true;
    const mounts = opts.mounts ?? this.mounts;
    const fds: number[] = [];
    const done: string[] = [];
    // Per component of done: whether it is the top of a mount.
    const isMount: boolean[] = [];
    const cur = (): number => fds[fds.length - 1] ?? this.fd;
    const pop = (): void => {
      fs.closeSync(fds.pop()!);
      done.pop();
      isMount.pop();
    };
    let pending = rel.split("/");
    let hops = 0;
    try {
      while (pending.length > 0) {
        const c = pending.shift()!;
        if (c === "" || c === ".") continue;
        if (c === "..") {
          if (fds.length > 0) pop();
          continue;
        }
        if (++hops > MAX_HOPS * 4) throw fail("ELOOP", `${rel}: too many levels of symbolic links`);
        const last = pending.every((p) => p === "" || p === ".");
        const here = cur();
        let fd: number;
        const mounted = mounts?.open([...done, c].join("/"));
        if (mounted !== undefined) {
          const st = fs.fstatSync(mounted);
          if (!last && !st.isDirectory()) {
            fs.closeSync(mounted);
            throw fail("ENOTDIR", `${[...done, c].join("/")}: not a directory`);
          }
          fds.push(mounted);
          done.push(c);
          isMount.push(true);
          continue;
        }
        try {
          fd = fs.openSync(fdPath(here, c), O_PATH | O_NOFOLLOW);
        } catch (e) {
          if (errnoOf(e) !== "ENOENT") throw e;
          if (!opts.mkdir && !mounts?.isAbove([...done, c].join("/"))) throw fail("ENOENT", `${[...done, c].join("/")}: no such file or directory`);
          const inMount = isMount.lastIndexOf(true);
          if (inMount >= 0 && mounts?.readOnly?.(done.slice(0, inMount + 1).join("/"))) throw fail("EROFS", `/${done.slice(0, inMount + 1).join("/")}: mounted volume is marked read-only`);
          try {
            fs.mkdirSync(fdPath(here, c), 0o755);
          } catch (e2) {
            if (errnoOf(e2) !== "EEXIST") throw e2;
          }
          pending.unshift(c); // look again at what is there now
          continue;
        }
        const st = fs.fstatSync(fd);
        if (st.isSymbolicLink() && (!last || followLast)) {
          fs.closeSync(fd);
          let target: string;
          try {
            target = fs.readlinkSync(fdPath(here, c));
          } catch (e) {
            // Replaced meanwhile: look at it again.
            if (errnoOf(e) === "EINVAL" || errnoOf(e) === "ENOENT") {
              pending.unshift(c);
              continue;
            }
            throw e;
          }
          if (target.startsWith("/")) while (fds.length > 0) pop();
          pending = [...target.split("/"), ...pending];
          continue;
        }
        if (!last && !st.isDirectory()) {
          fs.closeSync(fd);
          throw fail("ENOTDIR", `${[...done, c].join("/")}: not a directory`);
        }
        fds.push(fd);
        done.push(c);
        isMount.push(false);
      }
      const fd = fds.pop() ?? fs.openSync(fdPath(this.fd), O_PATH | O_DIRECTORY);
      const top = isMount.lastIndexOf(true);
      if (top < 0) return { fd, rel: done.join("/") };
      return { fd, rel: done.join("/"), mount: { at: done.slice(0, top + 1).join("/"), sub: done.slice(top + 1).join("/") } };
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
  }

  /** Resolves a directory (see resolve); ENOTDIR when it is something else. */
  resolveDir(rel: string, opts: { mkdir?: boolean } = {}): Resolved {
    const r = this.resolve(rel, { followLast: true, mkdir: opts.mkdir });
    if (!fs.fstatSync(r.fd).isDirectory()) {
      fs.closeSync(r.fd);
      throw fail("ENOTDIR", `${r.rel || "/"}: not a directory`);
    }
    return r;
  }
}

/** Opens `name` inside the open directory dirFd without following it: an O_PATH fd, or undefined when it is gone. */
export function openEntry(dirFd: number, name: string): number | undefined {
  try {
    return fs.openSync(fdPath(dirFd, name), O_PATH | O_NOFOLLOW);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return undefined;
    throw e;
  }
}

/**
 * Opens the regular file behind an O_PATH fd for reading. The fd already pins
 * the inode, so a FIFO or a device put there is refused before it is ever
 * opened (opening a FIFO blocks, opening some devices has effects).
 */
export function openRegularForRead(fd: number, what: string): { fd: number; size: number } {
  const st = fs.fstatSync(fd);
  if (!st.isFile()) throw fail("EINVAL", `${what}: not a regular file (${kindOf(st)})`);
  const rfd = fs.openSync(fdPath(fd), O_RDONLY | O_NONBLOCK);
  return { fd: rfd, size: st.size };
}

export function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isSymbolicLink()) return "a symlink";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "a regular file";
}

/** Reads at most maxBytes of a regular file; an error when it is larger. */
export function readRegular(fd: number, what: string, maxBytes: number): Buffer {
  const r = openRegularForRead(fd, what);
  try {
    if (r.size > maxBytes) throw fail("EFBIG", `${what}: larger than ${maxBytes} bytes`);
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const got = fs.readSync(r.fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > maxBytes) throw fail("EFBIG", `${what}: larger than ${maxBytes} bytes`);
    }
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(r.fd);
  }
}

/** chmod of `name` in dirFd, never through a symlink (a symlink there is left alone). */
export function chmodAt(dirFd: number, name: string, mode: number): void {
  const fd = fs.openSync(fdPath(dirFd, name), O_PATH | O_NOFOLLOW);
  try {
    if (!fs.fstatSync(fd).isSymbolicLink()) fs.chmodSync(fdPath(fd), mode);
  } finally {
    fs.closeSync(fd);
  }
}

/** Removes `name` in dirFd and, for a directory, everything below it, without following any link. */
export function removeAt(dirFd: number, name: string): void {
  for (let attempt = 0; attempt < 16; attempt++) {
    try {
      fs.unlinkSync(fdPath(dirFd, name));
      return;
    } catch (e) {
      const code = errnoOf(e);
      if (code === "ENOENT") return;
      if (code !== "EISDIR" && code !== "EPERM") throw e;
    }
    let fd: number;
    try {
      fd = fs.openSync(fdPath(dirFd, name), O_PATH | O_NOFOLLOW | O_DIRECTORY);
    } catch (e) {
      if (errnoOf(e) === "ENOENT") return;
      if (errnoOf(e) === "ENOTDIR" || errnoOf(e) === "ELOOP") continue; // replaced by a non-directory meanwhile
      throw e;
    }
    try {
      for (const child of fs.readdirSync(fdPath(fd))) removeAt(fd, child);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.rmdirSync(fdPath(dirFd, name));
      return;
    } catch (e) {
      const code = errnoOf(e);
      if (code === "ENOENT") return;
      if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOTDIR") throw e;
    }
  }
  throw fail("EBUSY", `remove ${name}: it keeps changing`);
}
