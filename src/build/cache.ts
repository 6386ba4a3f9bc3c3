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
