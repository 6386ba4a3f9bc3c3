// Resolving a path inside a container's root file system the way the
// container would see it: every component, symlinks included, is resolved
// relative to the rootfs, so `..` and absolute symlinks never lead out of it.
import fs from "node:fs";
import path from "node:path";

const MAX_SYMLINKS = 255;

/**
 * The host path that `unsafePath` names inside `root`, with symlinks resolved
 * as if `root` were `/`. The result always lies within `root`; components
 * that do not exist are kept as they are (no symlinks left to follow).
 */
export function secureJoin(root: string, unsafePath: string): string {
  const base = path.resolve(root);
  const pending = unsafePath.split("/").filter((c) => c !== "" && c !== ".");
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "..") {
      done.pop();
      continue;
    }
    const candidate = path.join(base, ...done, part);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(candidate);
    } catch {
      st = undefined;
    }
    if (!st?.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++hops > MAX_SYMLINKS) throw new Error(`${unsafePath}: too many levels of symbolic links`);
    const target = fs.readlinkSync(candidate);
    if (target.startsWith("/")) done.length = 0;
    pending.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
  }
  return path.join(base, ...done);
}

/** Reads a file inside `root` (see secureJoin); undefined when it does not exist. */
export function readFileInRoot(root: string, p: string): string | undefined {
  try {
    return fs.readFileSync(secureJoin(root, p), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw e;
  }
}
