// Bytes held by a directory tree (files and symlinks, not directory entries),
// as docker's size answers count them: a writable layer, a volume, an image's
// merged tree.
import fs from "node:fs";
import path from "node:path";

export function dirSize(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      try {
        const st = fs.lstatSync(p);
        total += st.isDirectory() ? 0 : st.size;
        if (st.isDirectory()) walk(p);
      } catch {
        /* raced with a delete */
      }
    }
  };
  walk(dir);
  return total;
}
