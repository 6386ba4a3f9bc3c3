// Safe extraction of untrusted tar streams: image layers, `cp` input, build
// contexts. Nothing is ever written outside the target: names are cleaned
// (absolute → relative, ".." above the target refused), parent directories
// are resolved inside the root like a chroot would (an attacker's symlink
// `link -> /` makes `link/etc/x` land in <root>/etc/x), the last component is
// never followed (an existing symlink there is replaced, not written through),
// and hard links may only point at files inside the root.
//
// Two ways to work on the target. By path (the default): fast, for trees no
// one else writes to while they are extracted (layers go to private temp
// dirs). Confined (`confined: true`): through open directory fds, never
// following a name (confined.ts), for a tree that may change meanwhile, such
// as a running container's root during `cp`.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import tar from "tar-stream";
import { decompressStream } from "./compression.ts";
import { UnsafePathError, cleanEntryName, isWithin, resolveInRoot } from "./paths.ts";
import { type MountTable, errnoOf } from "./confined.ts";
import { type Place, type Places, confinedPlaces, pathPlaces } from "./places.ts";
import { setXattr } from "./xattr.ts";
import { DeferredNodes, type NodeKind, mknod } from "./nodes.ts";

export const WHITEOUT_PREFIX = ".wh.";
export const WHITEOUT_META_PREFIX = ".wh..wh.";
export const WHITEOUT_OPAQUE = ".wh..wh..opq";

/**
 * What to do with AUFS/OCI whiteout entries (`.wh.name`, `.wh..wh..opq`):
 * - "overlay": write overlayfs whiteouts (char device 0/0, trusted.overlay.opaque=y) — for layer dirs;
 * - "apply": delete the named files / the opaque dir's older content — for flattening onto one tree;
 * - "keep": write them as the ordinary files they look like — for `cp`.
 */
export type WhiteoutMode = "overlay" | "apply" | "keep";

export interface ExtractOptions {
  whiteouts: WhiteoutMode;
  /**
   * Symlinks are resolved as if this directory were "/" (default: the target
   * itself). For `cp` into a container, pass the container's root file system
   * and a target inside it.
   */
  root?: string;
  /** Create block/char device nodes with mknod. Default: when running as root. */
  devices?: boolean;
  /** Apply the archive's numeric uid/gid (lchown). Default: when running as root. */
  sameOwner?: boolean;
  /** Apply PAX `SCHILY.xattr.*` records. Default true; skipped (and reported) when they cannot be set. */
  xattrs?: boolean;
  /** Refuse to replace a directory by a non-directory or the reverse (docker's noOverwriteDirNonDir). */
  noOverwriteDirNonDir?: boolean;
  /**
   * The tree under root may change while it is extracted (a running
   * container's root): work through open directories and never follow a name
   * (confined.ts). Slower; not for "overlay" whiteouts.
   */
  confined?: boolean;
  /** Confined only: trees mounted on root, as a container's volumes are (confined.ts MountTable); entries below one go into it. */
  mounts?: MountTable;
}

export interface ExtractResult {
  /** Entries read from the archive. */
  entries: number;
  /** Bytes of regular-file content written. */
  fileBytes: number;
  /** Entries deliberately not created, with the reason (device nodes without root, …). */
  skipped: { path: string; reason: string }[];
}

const isRoot = (): boolean => process.getuid?.() === 0;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if (errno(e) === "ENOENT") return null;
    throw e;
  }
}

/** An overlayfs whiteout: a character device 0/0. */
export function makeOverlayWhiteout(p: string): void {
  mknod(p, "c", 0o000, 0, 0);
}

type Entry = AsyncIterable<Uint8Array>;

async function drain(entry: Entry): Promise<void> {
  for await (const _ of entry) {
    /* discard */
  }
}

/**
 * Writes an entry's content to fd, a file just created exclusively, applies
 * what can be applied through it (`meta`) and closes it. Synchronous writes:
 * a layer is extracted on a thread of its own (threaded.ts).
 */
async function writeNewFile(fd: number, entry: Entry, meta: () => void): Promise<void> {
  try {
    for await (const chunk of entry) {
      for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off);
    }
    meta();
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Extracts an uncompressed tar stream into targetDir (which must exist).
 * Throws on a corrupt or truncated archive or an entry that tries to leave the
 * target; what was written before stays (callers that need all-or-nothing use
 * extractToNewDir).
 */
export async function extractTar(source: Readable, targetDir: string, opts: ExtractOptions): Promise<ExtractResult> {
  if (opts.confined && opts.whiteouts === "overlay") throw new Error("confined extraction does not write overlay whiteouts");
  if (opts.mounts && !opts.confined) throw new Error("mounts need a confined extraction");
  const places = opts.confined ? confinedPlaces(targetDir, opts.root, opts.mounts) : pathPlaces(targetDir, opts.root);
  try {
    return await extractInto(source, places, opts);
  } finally {
    places.close();
  }
}

const isExists = (e: unknown): boolean => errno(e) === "EEXIST";

async function extractInto(source: Readable, places: Places, opts: ExtractOptions): Promise<ExtractResult> {
  const target = places.target;
  const targetRel = places.targetRel;
  const sameOwner = opts.sameOwner ?? isRoot();
  const devices = (opts.devices ?? true) && isRoot();
  const wantXattrs = opts.xattrs ?? true;
  const result: ExtractResult = { entries: 0, fileBytes: 0, skipped: [] };
  /** Directory mtimes are set last: creating children would change them again. */
  const dirTimes: (() => void)[] = [];
  /** Paths (logical) this archive created, so an opaque marker in "apply" mode keeps them. */
  const written = new Set<string>();
  /** By path, nodes and xattrs are made together at the end (nodes.ts); confined, at once (its paths are open fds). */
  const deferred = places.confined ? undefined : new DeferredNodes();

  const extract = tar.extract();
  source.on("error", (e) => extract.destroy(e));
  source.pipe(extract);

  const inRoot = (rel: string): string => (targetRel ? path.posix.join(targetRel, rel) : rel);
  const rootPlace: Place = { path: target, parent: target, base: "", logical: places.targetLogical };

  const remove = (p: Place): void => {
    places.remove(p);
    deferred?.dropBelow(p.path);
  };
  /** Replaces whatever is at p so that an entry of the given kind can be created; the existing directory when one is kept. */
  const clearFor = (p: Place, wantDir: boolean, name: string): fs.Stats | null => {
    if (deferred?.hasNode(p.path)) {
      if (wantDir && opts.noOverwriteDirNonDir) throw new Error(`cannot overwrite non-directory ${JSON.stringify(name)} with a directory`);
      deferred.drop(p.path);
    }
    const st = lstatOrNull(p.path);
    if (!st) return null;
    if (st.isDirectory()) {
      if (wantDir) return st;
      if (opts.noOverwriteDirNonDir) throw new Error(`cannot overwrite directory ${JSON.stringify(name)} with a non-directory`);
      remove(p);
      return null;
    }
    if (wantDir && opts.noOverwriteDirNonDir) throw new Error(`cannot overwrite non-directory ${JSON.stringify(name)} with a directory`);
    fs.unlinkSync(p.path);
    deferred?.drop(p.path);
    return null;
  };
  /**
   * Creates the entry at p with `make`, which fails with EEXIST when the name
   * is taken (every call here creates exclusively and never follows the last
   * component); then clears the name and makes it again. Most names of a
   * layer are new: they cost no lstat.
   */
  const create = <T>(p: Place, name: string, make: () => T): T => {
    places.mkdirParents(p);
    if (deferred?.hasNode(p.path)) clearFor(p, false, name);
    try {
      return make();
    } catch (e) {
      if (!isExists(e)) throw e;
    }
    clearFor(p, false, name);
    return make();
  };
  const makeNode = (p: Place, kind: NodeKind, mode: number, major: number, minor: number, after?: () => void): void => {
    if (deferred) return deferred.node(p.path, kind, mode, major, minor, after);
    mknod(p.path, kind, mode, major, minor);
    after?.();
  };

  try {
    for await (const source_ of extract) {
      // streamx streams are async-iterable over their chunks (its typings are loose).
      const entry = source_ as unknown as Entry;
      const h = source_.header;
      result.entries++;
      const rel = cleanEntryName(h.name);
      const mode = h.mode ?? 0o644;
      const mtime = h.mtime ?? new Date(0);

      if (rel === "") {
        // "./": the target itself; only its metadata is taken.
        if (h.type === "directory") applyMeta(rootPlace, h, mode, true);
        await drain(entry);
        continue;
      }
      const where = places.at(inRoot(rel));
      const dst = where.path;
      if (!isWithin(places.root, where.logical)) {
        throw new UnsafePathError(`archive entry ${JSON.stringify(h.name)} resolves outside the target`);
      }
      const base = where.base;

      if (opts.whiteouts !== "keep" && base.startsWith(WHITEOUT_PREFIX)) {
        await drain(entry);
        places.mkdirParents(where);
        if (base === WHITEOUT_OPAQUE) {
          if (opts.whiteouts === "overlay") {
            const y = Buffer.from("y");
            if (deferred) deferred.xattr(where.parent, "trusted.overlay.opaque", y);
            else setXattr(where.parent, "trusted.overlay.opaque", y);
          } else {
            for (const child of fs.readdirSync(where.parent)) {
              const victim = places.sibling(where, child);
              if (!written.has(victim.logical)) remove(victim);
            }
          }
          continue;
        }
        if (base.startsWith(WHITEOUT_META_PREFIX)) {
          result.skipped.push({ path: rel, reason: "whiteout metadata entry" });
          continue;
        }
        const hidden = base.slice(WHITEOUT_PREFIX.length);
        if (hidden === "" || hidden === "." || hidden === ".." || hidden.includes("/")) {
          throw new UnsafePathError(`invalid whiteout entry ${JSON.stringify(h.name)}`);
        }
        const victim = places.sibling(where, hidden);
        if (opts.whiteouts === "overlay") {
          if (!isRoot()) throw new Error("overlay whiteouts need root (mknod of a 0/0 character device)");
          clearFor(victim, false, rel);
          makeNode(victim, "c", 0o000, 0, 0);
          written.add(victim.logical);
        } else {
          remove(victim);
        }
        continue;
      }

      switch (h.type) {
        case "directory": {
          places.mkdirParents(where);
          if (deferred?.hasNode(dst)) clearFor(where, true, rel);
          try {
            fs.mkdirSync(dst, { mode: 0o700 });
          } catch (e) {
            if (!isExists(e)) throw e;
            if (!clearFor(where, true, rel)) fs.mkdirSync(dst, { mode: 0o700 });
          }
          places.created(where);
          written.add(where.logical);
          applyMeta(where, h, mode, false);
          dirTimes.push(places.timesLater(where, mtime));
          await drain(entry);
          break;
        }
        case "file":
        case "contiguous-file": {
          const fd = create(where, rel, () => fs.openSync(dst, "wx", 0o600));
          await writeNewFile(fd, entry, () => {
            if (sameOwner) fs.fchownSync(fd, h.uid ?? 0, h.gid ?? 0);
            // chmod after chown: chown clears setuid/setgid bits.
            fs.fchmodSync(fd, mode & 0o7777);
            fs.futimesSync(fd, mtime, mtime);
          });
          result.fileBytes += h.size ?? 0;
          written.add(where.logical);
          applyXattrs(where, h, false);
          break;
        }
        case "symlink": {
          await drain(entry);
          // The target is just data: it is only dangerous when followed, and
          // this code never follows a link except through resolveInRoot.
          create(where, rel, () => fs.symlinkSync(h.linkname ?? "", dst));
          written.add(where.logical);
          applyMeta(where, h, mode, false);
          fs.lutimesSync(dst, mtime, mtime);
          break;
        }
        case "link": {
          await drain(entry);
          const linkRel = cleanEntryName(h.linkname ?? "");
          if (linkRel === "") throw new UnsafePathError(`hard link ${JSON.stringify(h.name)} points at the target directory`);
          let src: Place;
          try {
            src = places.at(inRoot(linkRel), { own: true, mkdir: false });
          } catch (e) {
            if (errnoOf(e) === "ENOENT" || errnoOf(e) === "ENOTDIR") throw new Error(`hard link ${JSON.stringify(h.name)}: target ${JSON.stringify(h.linkname)} does not exist`);
            throw e;
          }
          try {
            if (!isWithin(places.targetLogical, src.logical)) throw new UnsafePathError(`hard link ${JSON.stringify(h.name)} points outside the target`);
            // A node or xattr still to be made there belongs to the inode both names will share.
            if (deferred?.has(src.path)) deferred.flush();
            const st = lstatOrNull(src.path);
            if (!st) throw new Error(`hard link ${JSON.stringify(h.name)}: target ${JSON.stringify(h.linkname)} does not exist`);
            if (st.isDirectory()) throw new UnsafePathError(`hard link ${JSON.stringify(h.name)} points at a directory`);
            if (src.logical === where.logical) break;
            // link(2) does not follow a symlink at src: at worst this makes another symlink.
            create(where, rel, () => fs.linkSync(src.path, dst));
          } finally {
            places.release(src);
          }
          written.add(where.logical);
          break;
        }
        case "character-device":
        case "block-device":
        case "fifo": {
          await drain(entry);
          const kind: NodeKind = h.type === "fifo" ? "p" : h.type === "character-device" ? "c" : "b";
          if (kind !== "p" && !devices) {
            result.skipped.push({ path: rel, reason: isRoot() ? "device nodes disabled" : "device nodes need root" });
            break;
          }
          places.mkdirParents(where);
          clearFor(where, false, rel);
          makeNode(where, kind, mode, h.devmajor ?? 0, h.devminor ?? 0, () => {
            applyMeta(where, h, mode, false);
            fs.lutimesSync(dst, mtime, mtime);
          });
          written.add(where.logical);
          break;
        }
        default:
          await drain(entry);
          result.skipped.push({ path: rel, reason: `unsupported entry type ${String(h.type)}` });
      }
    }
    deferred?.flush();
  } catch (e) {
    extract.destroy();
    source.destroy();
    throw e instanceof UnsafePathError ? e : new Error(describeTarError(e));
  }
  for (let i = dirTimes.length - 1; i >= 0; i--) dirTimes[i]!();
  return result;

  /** isTargetRoot: p is the target itself, a real directory (by path) or an open one (/proc/<pid>/fd/<n>): followed. */
  function applyMeta(p: Place, h: tar.Header, mode: number, isTargetRoot: boolean): void {
    const isLink = h.type === "symlink";
    if (sameOwner) (isTargetRoot ? fs.chownSync : fs.lchownSync)(p.path, h.uid ?? 0, h.gid ?? 0);
    // chmod after chown: chown clears setuid/setgid bits.
    if (!isLink) {
      if (isTargetRoot) fs.chmodSync(p.path, mode & 0o7777);
      else places.chmod(p, mode & 0o7777);
    }
    applyXattrs(p, h, isTargetRoot);
    if (isTargetRoot) {
      const t = h.mtime ?? new Date(0);
      dirTimes.push(() => fs.utimesSync(p.path, t, t));
    }
  }

  function applyXattrs(p: Place, h: tar.Header, isTargetRoot: boolean): void {
    const pax = h.pax as Record<string, string> | null | undefined;
    if (!wantXattrs || !pax) return;
    for (const [k, v] of Object.entries(pax)) {
      if (!k.startsWith("SCHILY.xattr.")) continue;
      const name = k.slice("SCHILY.xattr.".length);
      // tar-stream decodes PAX values as UTF-8; a binary value (file
      // capabilities) would be corrupted, so it is skipped rather than mangled.
      if (v.includes("\uFFFD")) {
        result.skipped.push({ path: h.name, reason: `xattr ${name}: binary value not supported` });
        continue;
      }
      const skip = (reason: string): void => void result.skipped.push({ path: h.name, reason: `xattr ${name}: ${reason}` });
      if (deferred && !isTargetRoot) {
        deferred.xattr(p.path, name, Buffer.from(v, "utf8"), skip);
        continue;
      }
      try {
        setXattr(p.path, name, Buffer.from(v, "utf8"), { deref: isTargetRoot });
      } catch (e) {
        skip(e instanceof Error ? e.message : String(e));
      }
    }
  }
}

function describeTarError(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (/unexpected end of (data|file)/i.test(msg)) return `truncated archive: ${msg}`;
  return msg;
}

/** Extracts a tar that may be gzip- or zstd-compressed (detected by magic bytes). */
export async function extractArchive(source: Readable, targetDir: string, opts: ExtractOptions): Promise<ExtractResult> {
  const { stream } = await decompressStream(source);
  return extractTar(stream, targetDir, opts);
}

import { installDir } from "./install.ts";

export { installDir };

/** A fresh private directory under tmpRoot, for extraction before installDir. */
export function makeTempDir(tmpRoot: string, label: string): string {
  fs.mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  const dir = path.join(tmpRoot, `${label}-${crypto.randomBytes(6).toString("hex")}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  return dir;
}

/**
 * Extracts a (possibly gzip/zstd-compressed) tar into a private temp dir under tmpRoot, runs `verify` (e.g. a digest
 * check), then installs it at finalDir atomically. Any failure removes the temp
 * dir: finalDir is either complete or absent.
 */
export async function extractToNewDir(
  source: Readable,
  finalDir: string,
  opts: ExtractOptions & { tmpRoot: string; verify?: (r: ExtractResult) => void | Promise<void> },
): Promise<ExtractResult & { installed: boolean }> {
  const tmp = makeTempDir(opts.tmpRoot, "extract");
  try {
    const r = await extractArchive(source, tmp, opts);
    await opts.verify?.(r);
    return { ...r, installed: installDir(tmp, finalDir) };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export { resolveInRoot };
