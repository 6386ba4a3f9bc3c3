// The layer cache: key → the image a step produced. One small file per key
// under <root>/build-cache (written by rename, so concurrent builds are safe);
// an entry whose image was removed (rmi, prune) is a miss.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export class BuildCache {
  constructor(readonly dir: string) {}

  static key(parts: unknown[]): string {
    return crypto.createHash("sha256").update(JSON.stringify(parts)).digest("hex");
  }

  get(key: string, exists: (imageId: string) => boolean): string | undefined {
    let id: string;
    try {
      id = fs.readFileSync(path.join(this.dir, key), "utf8").trim();
    } catch {
      return undefined;
    }
    if (exists(id)) return id;
    fs.rmSync(path.join(this.dir, key), { force: true });
    return undefined;
  }

  put(key: string, imageId: string): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.dir, `.${key}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, imageId + "\n");
    fs.renameSync(tmp, path.join(this.dir, key));
  }

  /** Forgets every entry (builder prune); returns how many there were. */
  clear(): number {
    let n = 0;
    try {
      for (const f of fs.readdirSync(this.dir)) {
        fs.rmSync(path.join(this.dir, f), { force: true });
        n++;
      }
    } catch {
      /* no cache yet */
    }
    return n;
  }

  /** Image ids the cache points at. */
  images(): string[] {
    try {
      return fs.readdirSync(this.dir).flatMap((f) => {
        try {
          return [fs.readFileSync(path.join(this.dir, f), "utf8").trim()];
        } catch {
          return [];
        }
      });
    } catch {
      return [];
    }
  }
}

function du(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((n, c) => n + du(path.join(p, c)), 0);
}

/** `builder prune`: every cache entry and every RUN --mount=type=cache directory under the state root. */
export function pruneCacheDirs(root: string): { CachesDeleted: string[]; SpaceReclaimed: number } {
  const deleted: string[] = [];
  let reclaimed = 0;
  const cache = new BuildCache(path.join(root, "build-cache"));
  for (const f of fs.existsSync(cache.dir) ? fs.readdirSync(cache.dir) : []) if (!f.startsWith(".")) deleted.push(f);
  cache.clear();
  const mounts = path.join(root, "build-cache-mounts");
  for (const d of fs.existsSync(mounts) ? fs.readdirSync(mounts) : []) {
    reclaimed += du(path.join(mounts, d));
    fs.rmSync(path.join(mounts, d), { recursive: true, force: true });
    deleted.push(d);
  }
  return { CachesDeleted: deleted, SpaceReclaimed: reclaimed };
}
