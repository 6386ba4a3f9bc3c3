// POST /build, the classic builder's endpoint: the body is the context as a
// tar (plain or compressed), the output is docker's JSON stream ({"stream"}
// lines, then {"aux":{"ID"}}), errors arrive in-stream as {"error"}.
// RUN --network=host in the Containerfile needs the entitlement the service was
// started with (--allow-insecure-entitlement network.host); a request cannot grant it.
import { Writable } from "node:stream";
import { build as buildImage, pruneBuildCache } from "../../builder/index.ts";
import { invalid } from "../../util/errors.ts";
import { HttpError, lazyJsonStream, sendJson } from "../http.ts";
import type { Call, Router } from "../router.ts";

function jsonMap(raw: string | undefined, what: string): Record<string, string> | undefined {
  if (!raw) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw invalid(`invalid ${what}: ${raw}`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw invalid(`invalid ${what}: ${raw}`);
  // buildargs values may be null (take the value from the environment: there is none here).
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== null).map(([k, x]) => [k, String(x as string)]));
}

async function build(call: Call): Promise<void> {
  const q = call.query;
  if (q.str("remote")) throw new HttpError(501, "building from a remote context is not supported by capsa: send the context as the request body");
  const tags = q.all("t").filter(Boolean);
  const abort = new AbortController();
  const res = call.res!;
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  const opts = {
    contextTar: call.req,
    dockerfile: q.str("dockerfile") || undefined,
    tags,
    buildArgs: jsonMap(q.str("buildargs"), "buildargs"),
    labels: jsonMap(q.str("labels"), "labels"),
    target: q.str("target") || undefined,
    noCache: q.bool("nocache"),
    pull: q.bool("pull"),
    // networkmode is the caller's own choice (docker build --network host), as dockerd takes it;
    // what the Containerfile may ask for itself (RUN --network=host) is the operator's decision.
    network: q.str("networkmode") || undefined,
    extraHosts: q.all("extrahosts").flatMap((h) => h.split(",")).filter(Boolean),
    allow: call.api.entitlements ?? [],
    quiet: q.bool("q"),
    markStderr: true,
    signal: abort.signal,
  };
  // As dockerd: an error before any output (no Containerfile, a bad context) is the request's status; later ones go into the stream.
  const { write, fail } = lazyJsonStream(res);
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      write({ stream: chunk.toString("utf8") });
      cb();
    },
  });
  try {
    // dockerd's order: the aux message with the id, then "Successfully built/tagged".
    // q=1: dockerd's whole output is the id, which the docker CLI prints (`docker build -q`).
    const onImage = (id: string): void => {
      if (!opts.quiet) write({ aux: { ID: id } });
    };
    const r = await buildImage(call.api.engine, { ...opts, output, onImage });
    if (opts.quiet) write({ stream: `${r.id}\n` });
  } catch (e) {
    fail(e);
  }
  res.end();
}

/** POST /build/prune (docker builder prune, and the last step of docker system prune): the classic builder's step cache. */
async function prune(call: Call): Promise<void> {
  sendJson(call.res!, 200, await pruneBuildCache(call.api.engine));
}

export function buildRoutes(r: Router): void {
  r.add("POST", "/build", build);
  r.add("POST", "/build/prune", prune);
}
