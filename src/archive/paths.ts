// Path arithmetic for untrusted archives: entry names are cleaned to paths
// relative to the extraction target, and resolved inside a root the way a
// chroot would resolve them, so a symlink can never lead outside that root.
import fs from "node:fs";
import path from "node:path";

export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafePathError";
  }
}

/**
 * An archive entry name as a clean relative path ("" for the root). Leading
 * slashes are dropped (absolute names become relative, as docker and GNU tar
 * do); a name that climbs above the root with ".." is refused.
 */
export function cleanEntryName(name: string): string {
  if (name.includes("\0")) throw new UnsafePathError(`archive entry ${JSON.stringify(name)} contains a NUL byte`);
  const rel = path.posix.normalize("/" + name).replace(/^\/+/, "").replace(/\/+$/, "");
  // An absolute name is cleaned from "/", where ".." stays at "/" (docker's
  // filepath.Clean does the same). A relative one must not climb out.
  if (name.startsWith("/")) return rel === "." ? "" : rel;
  let depth = 0;
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      depth--;
      if (depth < 0) throw new UnsafePathError(`archive entry ${JSON.stringify(name)} points outside the target directory`);
    } else depth++;
  }
  return rel === "." ? "" : rel;
}

const MAX_SYMLINKS = 255;

/**
 * Resolves `rel` (components separated by "/") inside `root`, following
 * symlinks as if root were "/" (absolute targets restart at root, ".." stops
 * at root). Every component, the last one included, is followed. Components
 * that do not exist are kept as they are. The result is always root or below it.
 */
export function resolveInRoot(root: string, rel: string): string {
  let resolved: string[] = [];
  let pending = rel.split("/");
  let hops = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, c);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(candidate);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        resolved.push(c);
        continue;
      }
      throw e;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINKS) throw new UnsafePathError(`too many levels of symbolic links resolving ${rel}`);
      const target = fs.readlinkSync(candidate);
      if (target.startsWith("/")) resolved = [];
      pending = [...target.split("/"), ...pending];
      continue;
    }
    resolved.push(c);
  }
  return path.join(root, ...resolved);
}

/**
 * Resolves the parent of `rel` inside root (following symlinks within root)
 * and joins the last component without following it: the place where an
 * archive entry named rel is created.
 */
export function entryPathInRoot(root: string, rel: string): { parent: string; path: string; base: string } {
  const base = path.posix.basename(rel);
  const parent = resolveInRoot(root, path.posix.dirname(rel));
  return { parent, path: path.join(parent, base), base };
}

/** True when p is dir or inside it (both absolute, normalised). */
export function isWithin(dir: string, p: string): boolean {
  const r = path.relative(dir, p);
  return r === "" || (r !== ".." && !r.startsWith("../") && !path.isAbsolute(r));
}
