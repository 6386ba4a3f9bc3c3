// docker's `diff`: what a container changed, read from its overlayfs upper
// directory and compared with the image's layer directories.
import fs from "node:fs";
import path from "node:path";
import type { Change } from "../types/views.ts";
import { Tree, fdPath, openEntry } from "./confined.ts";
import { opaqueDirs } from "./xattr.ts";

const isWhiteout = (st: fs.Stats | null): boolean => !!st && st.isCharacterDevice() && st.rdev === 0;

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

/** Looks a path up through overlay-format layer dirs (topmost first), honouring whiteouts and opaque dirs. */
class LowerView {
  private readonly opaque = new Map<string, Set<string>>();
  constructor(private readonly lowers: string[]) {}

  private opaqueIn(layer: string): Set<string> {
    let s = this.opaque.get(layer);
    if (!s) {
      s = opaqueDirs(layer);
      this.opaque.set(layer, s);
    }
    return s;
  }

  exists(rel: string): boolean {
    const parts = rel.split("/");
    for (const layer of this.lowers) {
      let stop = false;
      for (let i = 1; i <= parts.length; i++) {
        const prefix = parts.slice(0, i).join("/");
        const st = lstatOrNull(path.join(layer, prefix));
        if (isWhiteout(st)) return false;
        if (i === parts.length) {
          if (st) return true;
        } else if (st && !st.isDirectory()) {
          return false; // a file in this layer hides everything below its name
        } else if (st && this.opaqueIn(layer).has(prefix)) {
          stop = true; // lower layers cannot contribute below an opaque dir
        }
      }
      if (stop) return false;
    }
    return false;
  }
}

/**
 * Kind 0: modified (was in the image), 1: added, 2: deleted — sorted by path.
 * The upper dir belongs to a container that may be running: it is walked
 * through open directories (confined.ts), never by following a name.
 */
export function changesFromUpperDir(upperDir: string, lowerDirs: string[]): Change[] {
  const view = new LowerView(lowerDirs);
  const out: Change[] = [];
  const walk = (dirFd: number, rel: string): void => {
    for (const name of fs.readdirSync(fdPath(dirFd)).sort()) {
      const fd = openEntry(dirFd, name);
      if (fd === undefined) continue; // gone meanwhile
      try {
        const r = rel === "" ? name : rel + "/" + name;
        const st = fs.fstatSync(fd);
        if (isWhiteout(st)) {
          out.push({ Path: "/" + r, Kind: 2 });
          continue;
        }
        const existed = view.exists(r);
        out.push({ Path: "/" + r, Kind: existed ? 0 : 1 });
        // Children of an added directory are reported too (docker does).
        if (st.isDirectory()) walk(fd, r);
      } finally {
        fs.closeSync(fd);
      }
    }
  };
  const top = Tree.open(upperDir);
  try {
    walk(top.fd, "");
  } finally {
    top.close();
  }
  return out;
}
