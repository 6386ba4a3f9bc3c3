// A transaction's worth of files: blobs and layer directories prepared in the
// state root's tmp dir, published (renamed into place) only inside the SQLite
// transaction that records them, or removed if anything fails. Publishing and
// deleting both happen under the database's write lock, so a concurrent
// `rmi`/`prune` never deletes a blob or layer dir that a load is about to use.
import fs from "node:fs";
import type { BlobWriter, ContentStore } from "./content.ts";
import { installDir } from "../archive/install.ts";

export class Staging {
  private readonly writers: BlobWriter[] = [];
  private readonly dirs: { tmp: string; final: string }[] = [];

  constructor(readonly content: ContentStore) {}

  /** A new staged blob. finish() it before publish. */
  blob(): BlobWriter {
    const w = this.content.writer();
    this.writers.push(w);
    return w;
  }

  /** Stages bytes as a blob and returns its digest. */
  bytes(data: Buffer, expected?: string, what?: string): string {
    const w = this.blob();
    w.write(data);
    return w.finish(expected, what);
  }

  /** A directory to rename to `final` on publish (discarded if final exists by then). */
  dir(tmp: string, final: string): void {
    this.dirs.push({ tmp, final });
  }

  /** Synchronous: call inside the database transaction. */
  publish(keep: (digest: string) => boolean = () => true): void {
    for (const w of this.writers) {
      if (keep(w.digest())) w.publish();
      else w.abort();
    }
    this.writers.length = 0;
    for (const d of this.dirs) installDir(d.tmp, d.final);
    this.dirs.length = 0;
  }

  /** Removes whatever was not published. Safe to call more than once. */
  cleanup(): void {
    for (const w of this.writers) w.abort();
    this.writers.length = 0;
    for (const d of this.dirs) fs.rmSync(d.tmp, { recursive: true, force: true });
    this.dirs.length = 0;
  }
}
