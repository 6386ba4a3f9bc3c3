// Resolving a path inside a container's root file system the way the
// container would see it: every component, symlinks included, is resolved
// relative to the rootfs, so `..` and absolute symlinks never lead out of it.
import fs from "node:fs";
import path from "node:path";
import { Tree, errnoOf, readRegular } from "../archive/confined.ts";
import { invalid } from "../util/errors.ts";

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

/** The most readFileInRoot reads: /etc/passwd and /etc/group of real images are kilobytes. */
export const MAX_ROOTFS_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Reads a file the image controls, inside `root` (symlinks resolved within
 * it, through open directories: see archive/confined.ts); undefined when it
 * does not exist. It must be a regular file of at most
 * MAX_ROOTFS_FILE_BYTES: a FIFO would block this thread (the whole API
 * service) and a device could be read without end, so neither is ever opened.
 */
export function readFileInRoot(root: string, p: string): string | undefined {
  const tree = Tree.open(root);
  try {
    let fd: number;
    try {
      ({ fd } = tree.resolve(p));
    } catch (e) {
      const code = errnoOf(e);
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      if (code === "ELOOP") throw invalid(`reading ${p} in the container's root file system: too many levels of symbolic links`);
      throw e;
    }
    try {
      return readRegular(fd, p, MAX_ROOTFS_FILE_BYTES).toString("utf8");
    } catch (e) {
      if (errnoOf(e) === "EINVAL" || errnoOf(e) === "EFBIG") throw invalid(`reading ${p} in the container's root file system: ${(e as Error).message.replace(`${p}: `, "")}`);
      throw e;
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    tree.close();
  }
}
