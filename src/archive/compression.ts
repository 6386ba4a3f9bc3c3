// Compression of archives and layers, detected by magic bytes (never by file
// name or media type alone: both lie). gzip is handled by node:zlib; zstd by
// the `zstd` binary (Node 20's zlib has no zstd), found on the PATH when needed.
import { spawn } from "node:child_process";
import { PassThrough, type Readable, type Transform } from "node:stream";
import zlib from "node:zlib";

export type Compression = "none" | "gzip" | "zstd" | "xz" | "bzip2";

const MAGIC: [Compression, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["bzip2", [0x42, 0x5a, 0x68]],
];

export function detectCompression(head: Buffer): Compression {
  for (const [kind, magic] of MAGIC) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return kind;
  }
  return "none";
}

/**
 * Reads the first bytes of `source` to detect its compression and returns a
 * stream of the same bytes (nothing consumed) plus what was found.
 */
export async function peekCompression(source: Readable): Promise<{ compression: Compression; stream: Readable }> {
  const chunks: Buffer[] = [];
  let have = 0;
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  let done = false;
  while (have < 6) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = typeof r.value === "string" ? Buffer.from(r.value) : r.value;
    chunks.push(b);
    have += b.length;
  }
  const head = Buffer.concat(chunks);
  const out = new PassThrough();
  out.write(head);
  if (done) {
    out.end();
  } else {
    // Pump the rest by hand: the iterator already owns the source.
    out.once("close", () => void it.return?.());
    void (async () => {
      try {
        for (;;) {
          const r = await it.next();
          if (r.done || out.destroyed) break;
          if (!out.write(r.value)) await new Promise<void>((res) => out.once("drain", res));
        }
        out.end();
      } catch (e) {
        out.destroy(e instanceof Error ? e : new Error(String(e)));
      }
    })();
  }
  return { compression: detectCompression(head), stream: out };
}

/** Pipes `source` through `transform`; an error on either side destroys the output with a message naming `label`. */
function pipeThrough(source: Readable, transform: Transform, label: string): Readable {
  const out = new PassThrough();
  const fail = (e: Error): void => {
    if (!out.destroyed) out.destroy(new Error(`${label}: ${e.message}`));
    transform.destroy();
  };
  source.on("error", fail);
  transform.on("error", fail);
  source.pipe(transform).pipe(out);
  return out;
}

function zstdDecompress(source: Readable): Readable {
  const child = spawn("zstd", ["-dcq"], { stdio: ["pipe", "pipe", "pipe"] });
  const out = new PassThrough();
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin.on("error", () => {
    /* reported through the exit status */
  });
  source.on("error", (e) => {
    child.kill();
    out.destroy(new Error(`zstd: ${e.message}`));
  });
  source.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  child.on("error", (e) => out.destroy(new Error(`zstd: ${e.message}`)));
  child.on("close", (code) => {
    if (code === 0) out.end();
    else if (!out.destroyed) out.destroy(new Error(`zstd: ${stderr.trim().split("\n").pop() || `exit status ${code}`}`));
  });
  out.on("close", () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}

/** The decompressed bytes of `source`, whatever (supported) compression it uses. */
export async function decompressStream(source: Readable): Promise<{ compression: Compression; stream: Readable }> {
  const { compression, stream } = await peekCompression(source);
  switch (compression) {
    case "none":
      return { compression, stream };
    case "gzip":
      return { compression, stream: pipeThrough(stream, zlib.createGunzip(), "gzip") };
    case "zstd":
      return { compression, stream: zstdDecompress(stream) };
    default:
      stream.destroy();
      throw new Error(`unsupported compression: ${compression}`);
  }
}
