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
  return resolveComponents(root, [], rel.split("/"), rel);
}

/**
 * The walk of resolveInRoot from `resolved` (components already resolved, all
 * real directories) through `pending`. `direct` is told of each directory
 * reached before any symlink, "..", or missing component: its logical path is
 * its real one.
 */
function resolveComponents(root: string, resolved: string[], pending: string[], rel: string, direct?: (component: string) => void): string {
  // pending is used from the end (pop), so it is kept reversed: shifting an array of a thousand components a thousand times was quadratic.
  let todo = pending.reverse();
  let hops = 0;
  let straight = !!direct;
  while (todo.length > 0) {
    const c = todo.pop()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      resolved.pop();
      straight = false;
      continue;
    }
    const candidate = path.join(root, ...resolved, c);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(candidate);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        resolved.push(c);
        straight = false;
        continue;
      }
      throw e;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINKS) throw new UnsafePathError(`too many levels of symbolic links resolving ${rel}`);
      const target = fs.readlinkSync(candidate);
      if (target.startsWith("/")) resolved = [];
      todo = [...todo, ...target.split("/").reverse()];
      straight = false;
      continue;
    }
    resolved.push(c);
    if (straight) {
      if (st.isDirectory()) direct!(c);
      else straight = false;
    }
  }
  return path.join(root, ...resolved);
}

interface DirNode {
  children: Map<string, DirNode>;
}

/**
 * resolveInRoot for the many entries of one extraction. The directories it
 * reaches without a symlink on the way are remembered (a tree of names), so an
 * entry whose parent was seen costs map lookups instead of an lstat per
 * component: an archive of entries a thousand directories deep took time
 * quadratic in the depth. Only real directories are remembered, and their
 * logical path is their real one; whoever removes a directory under the root
 * while using a resolver calls forget().
 */
export class RootResolver {
  private top: DirNode = { children: new Map() };

  constructor(readonly root: string) {}

  forget(): void {
    this.top = { children: new Map() };
  }

  resolve(rel: string): string {
    const comps = rel.split("/").filter((c) => c !== "" && c !== ".");
    if (comps.includes("..")) return resolveInRoot(this.root, rel);
    let node = this.top;
    let i = 0;
    for (; i < comps.length; i++) {
      const next = node.children.get(comps[i]!);
      if (!next) break;
      node = next;
    }
    if (i === comps.length) return path.join(this.root, ...comps);
    let at = node;
    return resolveComponents(this.root, comps.slice(0, i), comps.slice(i), rel, (c) => {
      let next = at.children.get(c);
      if (!next) at.children.set(c, (next = { children: new Map() }));
      at = next;
    });
  }

  /**
   * Where an archive entry named rel is created: its parent resolved inside
   * the root (symlinks followed within it), the last component not followed.
   */
  entryPath(rel: string): { parent: string; path: string; base: string } {
    const base = path.posix.basename(rel);
    const parent = this.resolve(path.posix.dirname(rel));
    return { parent, path: path.join(parent, base), base };
  }
}


/** True when p is dir or inside it (both absolute, normalised). */
export function isWithin(dir: string, p: string): boolean {
  const r = path.relative(dir, p);
  return r === "" || (r !== ".." && !r.startsWith("../") && !path.isAbsolute(r));
}
