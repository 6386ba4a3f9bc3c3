// Where an extracted entry goes, in the two ways extract.ts works on a target:
// by path (a private tree no one else writes to: layers, build scratch) and
// confined (through open directory fds, never following a name: a running
// container's root during `cp`). The entry loop in extract.ts is written once
// against the Places interface.
import fs from "node:fs";
import path from "node:path";
import { RootResolver, UnsafePathError, isWithin } from "./paths.ts";
import { type MountTable, type Resolved, Tree, checkWritable, chmodAt, errnoOf, fdPath, removeAt } from "./confined.ts";

/**
 * Where an entry goes. `path` and `parent` are for file work: the operations
 * used on `path` never follow its last component, and in confined mode its
 * parent is an open directory (/proc/<pid>/fd/<n>). `logical` is the path as
 * seen from the root's host path, for checks and bookkeeping.
 */
export interface Place {
  path: string;
  parent: string;
  base: string;
  logical: string;
  dirFd?: number;
}

/** The file work that differs between the by-path and the confined modes. */
export interface Places {
  /** The root's host path (logical paths start with it). */
  root: string;
  /** Resolved target (usable path), its logical path and its path below root. */
  target: string;
  targetLogical: string;
  targetRel: string;
  /** The place of rel (below root), its parents created when `mkdir`. A place from `own` is closed with release(). */
  at(rel: string, opts?: { own?: boolean; mkdir?: boolean }): Place;
  release(p: Place): void;
  /** Another name in the same directory. */
  sibling(p: Place, name: string): Place;
  mkdirParents(p: Place): void;
  /** p was just made a directory (by path: its children need no mkdir). */
  created(p: Place): void;
  /** Works through open directory fds: a Place's path is only good while its entry is handled. */
  confined: boolean;
  remove(p: Place): void;
  chmod(p: Place, mode: number): void;
  /** A deferred utimes of a directory entry (run after its children are written). */
  timesLater(p: Place, t: Date): () => void;
  close(): void;
}

export function pathPlaces(targetDir: string, rootDir: string | undefined): Places {
  const target = fs.realpathSync(targetDir);
  const root = rootDir ? fs.realpathSync(rootDir) : target;
  if (!isWithin(root, target)) throw new UnsafePathError(`extraction target ${targetDir} is not inside ${rootDir}`);
  const toPlace = (w: { parent: string; path: string; base: string }): Place => ({ ...w, logical: w.path });
  // Directories already resolved, and those known to exist, are remembered for
  // the next entries; every removal forgets them.
  const resolver = new RootResolver(root);
  const dirs = new Set<string>();
  return {
    confined: false,
    root,
    target,
    targetLogical: target,
    targetRel: path.relative(root, target),
    at: (rel) => toPlace(resolver.entryPath(rel)),
    release: () => undefined,
    sibling: (p, name) => toPlace({ parent: p.parent, path: path.join(p.parent, name), base: name }),
    mkdirParents: (p) => {
      if (dirs.has(p.parent)) return;
      mkdirParents(root, p.parent);
      dirs.add(p.parent);
    },
    created: (p) => void dirs.add(p.path),
    remove: (p) => {
      fs.rmSync(p.path, { recursive: true, force: true });
      resolver.forget();
      dirs.clear();
    },
    chmod: (p, mode) => fs.chmodSync(p.path, mode),
    // Run after every entry: the directory may have been replaced since (a later
    // entry of the same name, a symlink to anywhere), so its place is resolved
    // again inside the root and a link is never followed.
    timesLater: (p, t) => () => {
      const again = resolver.entryPath(path.relative(root, p.path));
      let isDir = false;
      try {
        isDir = fs.lstatSync(again.path).isDirectory();
      } catch {
        /* gone */
      }
      if (isDir) fs.lutimesSync(again.path, t, t);
    },
    close: () => undefined,
  };
}

export function confinedPlaces(targetDir: string, rootDir: string | undefined, mounts?: MountTable): Places {
  const root = path.resolve(rootDir ?? targetDir);
  const lexical = path.relative(root, path.resolve(targetDir));
  if (lexical.startsWith("..") || path.isAbsolute(lexical)) throw new UnsafePathError(`extraction target ${targetDir} is not inside ${rootDir}`);
  const tree = Tree.open(root, mounts);
  let targetFd: number;
  let targetRel: string;
  try {
    const t = tree.resolveDir(lexical);
    ({ fd: targetFd, rel: targetRel } = t);
    try {
      checkWritable(t, mounts);
    } catch (e) {
      fs.closeSync(targetFd);
      throw e;
    }
  } catch (e) {
    tree.close();
    throw e;
  }
  // One cached parent: consecutive entries mostly share theirs.
  let cached: { rel: string; fd: number; resolved: string } | undefined;
  const dropCache = (): void => {
    if (cached) fs.closeSync(cached.fd);
    cached = undefined;
  };
  // Every entry is written in the directory resolved for its parent: one in a read-only mount is refused.
  const writableDir = (dir: string, mkdir: boolean | undefined): Resolved => {
    const d = tree.resolveDir(dir, { mkdir });
    try {
      checkWritable(d, mounts);
    } catch (e) {
      fs.closeSync(d.fd);
      throw e;
    }
    return d;
  };
  const placeIn = (dirFd: number, dirRel: string, base: string): Place => ({
    path: fdPath(dirFd, base),
    parent: fdPath(dirFd),
    base,
    logical: path.join(root, dirRel, base),
    dirFd,
  });
  return {
    confined: true,
    root,
    target: fdPath(targetFd),
    targetLogical: path.join(root, targetRel),
    targetRel,
    at(rel, opts = {}) {
      const base = path.posix.basename(rel);
      const dir = path.posix.dirname(rel);
      if (opts.own) {
        const d = writableDir(dir === "." ? "" : dir, opts.mkdir);
        return placeIn(d.fd, d.rel, base);
      }
      if (cached?.rel !== dir) {
        dropCache();
        const d = writableDir(dir === "." ? "" : dir, opts.mkdir ?? true);
        cached = { rel: dir, fd: d.fd, resolved: d.rel };
      }
      return placeIn(cached.fd, cached.resolved, base);
    },
    release(p) {
      if (p.dirFd !== undefined && p.dirFd !== cached?.fd) fs.closeSync(p.dirFd);
    },
    sibling: (p, name) => placeIn(p.dirFd!, path.relative(root, path.dirname(p.logical)), name),
    mkdirParents: () => undefined,
    created: () => undefined,
    remove: (p) => removeAt(p.dirFd!, p.base),
    chmod: (p, mode) => chmodAt(p.dirFd!, p.base, mode),
    timesLater(p, t) {
      if (p.dirFd === undefined) return () => fs.utimesSync(p.path, t, t);
      const rel = path.relative(root, p.logical);
      return () => {
        let d;
        try {
          d = tree.resolveDir(path.posix.dirname(rel) === "." ? "" : path.posix.dirname(rel));
        } catch (e) {
          if (errnoOf(e) === "ENOENT" || errnoOf(e) === "ENOTDIR") return; // changed meanwhile
          throw e;
        }
        try {
          fs.lutimesSync(fdPath(d.fd, path.posix.basename(rel)), t, t);
        } catch (e) {
          if (errnoOf(e) !== "ENOENT") throw e;
        } finally {
          fs.closeSync(d.fd);
        }
      };
    },
    close() {
      dropCache();
      fs.closeSync(targetFd);
      tree.close();
    },
  };
}

function mkdirParents(root: string, dir: string): void {
  // dir came from resolveInRoot: no component of it is a symlink, so a plain
  // recursive mkdir cannot leave the root. Missing parents get 0755, as docker.
  if (!isWithin(root, dir)) throw new UnsafePathError(`refusing to create ${dir} outside ${root}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
}
