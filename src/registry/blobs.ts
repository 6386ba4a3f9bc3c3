// Blob transfer helpers: a download stream that resumes with a Range request
// when the connection drops, bounded by the descriptor's size; and a small
// concurrency limiter for per-layer work.
import { PassThrough, type Readable } from "node:stream";
import { CapsaError, invalid } from "../util/errors.ts";
import type { Descriptor } from "../image/oci.ts";
import { errorDetail, registryError, type RegistryClient } from "./transport.ts";

/** How often a dropped blob download is resumed before the pull fails. */
const BLOB_RETRIES = (() => {
  const n = Number(process.env.CAPSA_PULL_RETRIES);
  return Number.isInteger(n) && n >= 0 ? n : 3;
})();

/** Network trouble worth another attempt (not a registry's considered answer). */
function retryable(e: unknown): boolean {
  if (e instanceof CapsaError) return e.kind === "system";
  return true;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The bytes of a blob. A transfer cut short is resumed from where it stopped
 * (`Range: bytes=N-`, up to BLOB_RETRIES times); a registry that cannot resume
 * (no 206) or sends more than the descriptor's size fails the stream.
 */
export function blobStream(
  client: RegistryClient,
  repo: string,
  desc: Descriptor,
  scope: string[],
  what: string,
  hooks: {
    /** Sees every byte received, in order, before the stream's reader does (hash and store it here). */
    onChunk?: (chunk: Buffer) => void;
    onRetry?: (attempt: number, received: number, err: unknown) => void;
  } = {},
): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let received = 0;
  const pump = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const headers: Record<string, string> = received > 0 ? { range: `bytes=${received}-` } : {};
        const res = await client.request("GET", `/v2/${repo}/blobs/${desc.digest}`, { scope, headers });
        if (received > 0 && res.status !== 206) {
          const detail = res.status === 200 ? "the registry cannot resume transfers" : await errorDetail(res);
          res.body.destroy();
          throw new CapsaError("invalid", `${what}: connection lost after ${received} of ${desc.size} bytes, and resuming failed: ${detail}`);
        }
        if (received === 0 && res.status !== 200) throw registryError(what, res.status, await errorDetail(res));
        for await (const c of res.body) {
          const chunk = c as Buffer;
          received += chunk.length;
          if (received > desc.size) {
            res.body.destroy();
            throw invalid(`${what}: the registry sent more than the ${desc.size} bytes the manifest promises`);
          }
          if (out.destroyed) {
            res.body.destroy();
            return;
          }
          hooks.onChunk?.(chunk);
          if (!out.write(chunk)) await new Promise<void>((r) => {
            const done = (): void => {
              out.off("drain", done);
              out.off("close", done);
              r();
            };
            out.on("drain", done);
            out.on("close", done);
          });
        }
        if (received < desc.size) throw new Error(`connection closed after ${received} of ${desc.size} bytes`);
        out.end();
        return;
      } catch (e) {
        if (out.destroyed) return;
        if (!retryable(e) || attempt >= BLOB_RETRIES) {
          const msg = e instanceof Error ? e.message : String(e);
          out.destroy(e instanceof CapsaError ? e : new CapsaError("system", `${what}: ${msg === "aborted" ? `connection lost after ${received} of ${desc.size} bytes` : msg}`));
          return;
        }
        hooks.onRetry?.(attempt + 1, received, e);
        await sleep(250 * (attempt + 1));
      }
    }
  };
  void pump();
  return out;
}

export { mapLimit } from "../util/map-limit.ts";
