// The content store: blobs addressed by their sha256 digest. A blob is written
// to a temp file while it is hashed, checked against the expected digest,
// fsync'ed and renamed into place; a reader never sees a partial blob. Nothing
// outside this module knows where blobs live.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";

const DIGEST = /^sha256:([a-f0-9]{64})$/;

export function sha256(data: Buffer | string): string {
  return "sha256:" + crypto.createHash("sha256").update(data).digest("hex");
}

export function hexOf(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new Error(`unsupported digest ${JSON.stringify(digest)} (only sha256 is supported)`);
  return m[1]!;
}

export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
    what: string,
  ) {
    super(`${what}: digest mismatch: expected ${expected}, got ${actual}`);
    this.name = "DigestMismatchError";
  }
}

/**
 * A blob being written. `write` and then `commit` (which verifies and
 * publishes) or `abort` (which removes the temp file).
 */
export class BlobWriter {
  private readonly hash = crypto.createHash("sha256");
  private fd: number;
  private closed = false;
  size = 0;

  constructor(
    private readonly store: ContentStore,
    readonly tmpPath: string,
  ) {
    this.fd = fs.openSync(tmpPath, "wx", 0o644);
  }

  write(chunk: Uint8Array): void {
    this.hash.update(chunk);
    let off = 0;
    while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off);
    this.size += chunk.length;
  }

  /** Copies a whole stream in. */
  async writeStream(source: AsyncIterable<Uint8Array | string>): Promise<void> {
    for await (const c of source) this.write(typeof c === "string" ? Buffer.from(c) : c);
  }

  /** The digest of what was written (finishes hashing; call once). */
  private digestValue?: string;
  digest(): string {
    this.digestValue ??= "sha256:" + this.hash.digest("hex");
    return this.digestValue;
  }

  private close(): void {
    if (!this.closed) {
      this.closed = true;
      fs.closeSync(this.fd);
    }
  }

  /**
   * Verifies (when expected is given) and syncs the blob without publishing
   * it: it stays a private temp file (readable with openStaged) until publish.
   */
  finish(expected?: string, what = "blob"): string {
    const actual = this.digest();
    if (expected !== undefined && expected !== actual) {
      this.abort();
      throw new DigestMismatchError(expected, actual, what);
    }
    if (!this.closed) fs.fsyncSync(this.fd);
    this.close();
    return actual;
  }

  /** Reads a finished, not yet published blob. */
  openStaged(): Readable {
    return fs.createReadStream(this.tmpPath);
  }

  readStaged(): Buffer {
    return fs.readFileSync(this.tmpPath);
  }

  /** Moves a finished blob into the store (atomic rename); a no-op when the store already has it. */
  publish(): void {
    const d = this.digest();
    if (this.store.has(d)) fs.rmSync(this.tmpPath, { force: true });
    else this.store.publish(this.tmpPath, d);
  }

  /** finish + publish. Returns the digest. */
  commit(expected?: string, what = "blob"): string {
    const d = this.finish(expected, what);
    this.publish();
    return d;
  }

  abort(): void {
    this.close();
    fs.rmSync(this.tmpPath, { force: true });
  }
}

export class ContentStore {
  constructor(
    private readonly dir: string,
    private readonly tmpDir: string,
  ) {}

  private pathOf(digest: string): string {
    return path.join(this.dir, hexOf(digest));
  }

  has(digest: string): boolean {
    return fs.existsSync(this.pathOf(digest));
  }

  size(digest: string): number {
    return fs.statSync(this.pathOf(digest)).size;
  }

  /** Starts a new blob. The temp file lives in the state root's tmp dir (same file system: rename is atomic). */
  writer(): BlobWriter {
    fs.mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
    return new BlobWriter(this, path.join(this.tmpDir, `blob-${crypto.randomBytes(8).toString("hex")}`));
  }

  /** @internal used by BlobWriter.commit */
  publish(tmpPath: string, digest: string): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const dst = this.pathOf(digest);
    // Same digest, same bytes: if another writer got there first, either copy is fine.
    fs.renameSync(tmpPath, dst);
    const dirFd = fs.openSync(this.dir, "r");
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
  }

  /** Stores bytes, verifying them against expected when given. */
  put(data: Buffer | string, expected?: string): string {
    const w = this.writer();
    try {
      w.write(typeof data === "string" ? Buffer.from(data) : data);
    } catch (e) {
      w.abort();
      throw e;
    }
    return w.commit(expected);
  }

  /** Stores a stream, verifying it against expected when given. */
  async ingest(source: Readable | AsyncIterable<Uint8Array>, expected?: string, what?: string): Promise<{ digest: string; size: number }> {
    const w = this.writer();
    try {
      await w.writeStream(source);
    } catch (e) {
      w.abort();
      throw e;
    }
    return { digest: w.commit(expected, what), size: w.size };
  }

  read(digest: string): Buffer {
    return fs.readFileSync(this.pathOf(digest));
  }

  /** The first n bytes of a blob (to sniff its compression). */
  head(digest: string, n = 8): Buffer {
    const fd = fs.openSync(this.pathOf(digest), "r");
    try {
      const b = Buffer.alloc(n);
      return b.subarray(0, fs.readSync(fd, b, 0, n, 0));
    } finally {
      fs.closeSync(fd);
    }
  }

  open(digest: string): Readable {
    return fs.createReadStream(this.pathOf(digest));
  }

  remove(digest: string): void {
    fs.rmSync(this.pathOf(digest), { force: true });
  }

  /** Every digest held. */
  list(): string[] {
    try {
      return fs.readdirSync(this.dir).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => "sha256:" + n);
    } catch {
      return [];
    }
  }
}
