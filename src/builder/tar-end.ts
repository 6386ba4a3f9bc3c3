// The docker CLI sends a build context whose Dockerfile lies outside the
// context directory (`docker build -f ../x ctx`) through Go's
// ReplaceFileTarWrapper, which closes its pipe before the tar writer: the
// last entry's padding and the end-of-archive blocks never come. Go's tar
// reader (dockerd) takes such a stream, tar-stream calls it truncated. This
// pass-through walks the tar's blocks and, when the stream ends inside the
// last entry's padding or between entries, supplies the rest. A stream cut
// inside a header or an entry's data stays cut (and fails as truncated).
import { Transform, type TransformCallback } from "node:stream";

const BLOCK = 512;

/** An entry's size from its header: octal, or base-256 when the high bit of the first byte is set. */
function entrySize(h: Buffer): number {
  const field = h.subarray(124, 136);
  if (field[0]! & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  return parseInt(field.toString("ascii").replace(/\0.*$/s, "").trim() || "0", 8);
}

export function completeTarEnd(): Transform {
  let header = Buffer.alloc(0); // the header block being read
  let data = 0; // bytes of entry data still to come
  let pad = 0; // bytes of padding still to come
  let ended = false; // a zero block (the end of the archive) was seen
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let i = 0;
      while (i < chunk.length && !ended) {
        if (data > 0 || pad > 0) {
          const take = Math.min(chunk.length - i, data > 0 ? data : pad);
          if (data > 0) data -= take;
          else pad -= take;
          i += take;
          continue;
        }
        const take = Math.min(chunk.length - i, BLOCK - header.length);
        header = Buffer.concat([header, chunk.subarray(i, i + take)]);
        i += take;
        if (header.length < BLOCK) continue;
        if (header.every((b) => b === 0)) ended = true;
        else {
          const size = entrySize(header);
          data = size;
          pad = (BLOCK - (size % BLOCK)) % BLOCK;
        }
        header = Buffer.alloc(0);
      }
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (!ended && data === 0 && header.length === 0) this.push(Buffer.alloc(pad + 2 * BLOCK));
      cb();
    },
  });
}
