// /images/*: list, inspect, history, tag, delete, load, get (save), create
// (import with fromSrc, pull with fromImage), push, prune.
import { PassThrough } from "node:stream";
import type { ImageRecord } from "../../types/records.ts";
import { familiarString } from "../../engine/index.ts";
import type { Credentials, ProgressEvent } from "../../types/registry.ts";
import { invalid } from "../../util/errors.ts";
import { HttpError, jsonStream, lazyJsonStream, sendJson, writeStreamError } from "../http.ts";
import type { Call, Router } from "../router.ts";

const unix = (iso: string | undefined): number => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);
const familiar = (refs: string[]): string[] => refs.map((r) => familiarString(r));

export function imageSummary(img: ImageRecord): Record<string, unknown> {
  return {
    Id: img.id,
    ParentId: "",
    RepoTags: familiar(img.repoTags),
    RepoDigests: familiar(img.repoDigests),
    Created: unix(img.created),
    Size: img.size,
    SharedSize: -1,
    VirtualSize: img.size,
    Labels: img.config.config?.Labels ?? null,
    Containers: -1,
  };
}

/** docker's ImageInspect. */
export function imageInspect(img: ImageRecord): Record<string, unknown> {
  const c = img.config.config ?? {};
  const last = img.config.history?.at(-1);
  return {
    Id: img.id,
    RepoTags: familiar(img.repoTags),
    RepoDigests: familiar(img.repoDigests),
    Parent: "",
    Comment: last?.comment ?? "",
    Created: img.created,
    Container: "",
    DockerVersion: "",
    Author: img.config.author ?? "",
    Config: {
      Hostname: "",
      Domainname: "",
      User: c.User ?? "",
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: c.ExposedPorts,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.Env ?? null,
      Cmd: c.Cmd ?? null,
      Healthcheck: c.Healthcheck,
      Image: "",
      Volumes: c.Volumes ?? null,
      WorkingDir: c.WorkingDir ?? "",
      Entrypoint: c.Entrypoint ?? null,
      OnBuild: c.OnBuild ?? null,
      Labels: c.Labels ?? null,
      StopSignal: c.StopSignal,
      Shell: c.Shell,
    },
    Architecture: img.config.architecture,
    Variant: img.config.variant,
    Os: img.config.os,
    Size: img.size,
    VirtualSize: img.size,
    GraphDriver: { Name: "overlay2", Data: null },
    RootFS: { Type: "layers", Layers: img.config.rootfs.diff_ids },
    Metadata: { LastTagTime: "0001-01-01T00:00:00Z" },
  };
}

async function list(call: Call): Promise<void> {
  const imgs = call.api.engine.images.list({ all: call.query.bool("all"), filters: call.query.filters() });
  sendJson(call.res!, 200, imgs.map(imageSummary));
}

async function inspect(call: Call): Promise<void> {
  sendJson(call.res!, 200, imageInspect(call.api.engine.images.inspect(call.params[0]!)));
}

async function history(call: Call): Promise<void> {
  sendJson(call.res!, 200, call.api.engine.images.history(call.params[0]!));
}

async function tag(call: Call): Promise<void> {
  const repo = call.query.str("repo");
  if (!repo) throw invalid("repository name must have at least one component");
  const t = call.query.str("tag");
  const target = t ? `${repo}:${t}` : repo;
  call.api.engine.images.tag(call.params[0]!, target);
  call.res!.writeHead(201);
  call.res!.end();
}

async function remove(call: Call): Promise<void> {
  const out = call.api.engine.images.remove(call.params[0]!, { force: call.query.bool("force"), noPrune: call.query.bool("noprune") });
  sendJson(call.res!, 200, out.map((r) => (r.Untagged ? { Untagged: familiarString(r.Untagged) } : r)));
}

/** POST /images/load: a `docker save` (or OCI) archive in the body. */
async function load(call: Call): Promise<void> {
  // As dockerd: the answer is 200 from the start and a failure (a truncated or
  // foreign archive) arrives in the stream, where clients look for it.
  const write = jsonStream(call.res!);
  try {
    const lines = await call.api.engine.images.load(call.req);
    for (const l of lines) write({ stream: l.endsWith("\n") ? l : l + "\n" });
  } catch (e) {
    writeStreamError(write, e);
    call.req.resume(); // the rest of the body, unread
  }
  call.res!.end();
}

/** GET /images/get?names=a&names=b and GET /images/{name}/get: a docker-archive tar. */
async function save(call: Call): Promise<void> {
  const names = call.params[0] ? [call.params[0]] : call.query.all("names");
  if (names.length === 0) throw invalid("no image names given");
  for (const n of names) call.api.engine.images.inspect(n); // 404 before the 200 header
  const res = call.res!;
  const out = new PassThrough();
  res.writeHead(200, { "Content-Type": "application/x-tar" });
  out.pipe(res);
  try {
    await call.api.engine.images.save(names, out);
  } finally {
    out.end();
  }
}

function progressMessage(e: ProgressEvent): Record<string, unknown> {
  const m: Record<string, unknown> = { status: e.status };
  if (e.id) m.id = e.id;
  if (e.current !== undefined || e.total !== undefined) m.progressDetail = { current: e.current, total: e.total };
  return m;
}

/**
 * docker's X-Registry-Auth: base64url JSON, {"username","password","serveraddress"}
 * or {"identitytoken"}. Credentials for this request only; absent or empty
 * ("{}", what the CLI sends without a login): the stored ones apply.
 */
export function registryAuth(call: Call): Credentials | undefined {
  const raw = call.req.headers["x-registry-auth"];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value || value.trim() === "") return undefined;
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(value.trim(), "base64url").toString("utf8"));
  } catch {
    throw invalid("invalid X-Registry-Auth header: not base64url-encoded JSON");
  }
  if (j === null || typeof j !== "object" || Array.isArray(j)) throw invalid("invalid X-Registry-Auth header: not a JSON object");
  const o = j as Record<string, unknown>;
  const str = (k: string): string => (typeof o[k] === "string" ? o[k] : "");
  // docker also accepts "auth": base64("user:password").
  let username = str("username");
  let password = str("password");
  if (!username && !password && str("auth")) {
    const text = Buffer.from(str("auth"), "base64").toString("utf8");
    const colon = text.indexOf(":");
    if (colon !== -1) [username, password] = [text.slice(0, colon), text.slice(colon + 1)];
  }
  const identityToken = str("identitytoken");
  if (!username && !password && !identityToken) return undefined;
  return { username, password, ...(identityToken ? { identityToken } : {}) };
}

/** POST /images/create: import (fromSrc=- with the tar as body) or pull (fromImage). */
async function create(call: Call): Promise<void> {
  const q = call.query;
  const fromSrc = q.str("fromSrc");
  const fromImage = q.str("fromImage");
  if (fromSrc !== undefined) {
    if (fromSrc !== "-") throw new HttpError(501, "importing from a URL is not supported by capsa: pass the archive as the request body (fromSrc=-)");
    const repo = q.str("repo");
    const t = q.str("tag");
    const ref = repo ? (t ? `${repo}:${t}` : repo) : undefined;
    const img = await call.api.engine.images.importRootfs(call.req, { ref, changes: q.all("changes"), message: q.str("message") });
    const write = jsonStream(call.res!);
    write({ status: img.id });
    call.res!.end();
    return;
  }
  if (!fromImage) throw invalid("fromImage or fromSrc is required");
  const t = q.str("tag");
  const platform = q.str("platform") || undefined;
  const credentials = registryAuth(call);
  // An error before the first progress line (no such image, denied) is the request's status, as dockerd.
  const { write, fail } = lazyJsonStream(call.res!);
  const progress = (e: ProgressEvent): void => write(progressMessage(e));
  try {
    if (!t && !fromImage.includes("@") && !/:[^/]+$/.test(fromImage)) {
      const imgs = await call.api.engine.images.pullAllTags(fromImage, { platform, progress, credentials });
      write({ status: `Status: Downloaded ${imgs.length} tags for ${fromImage}` });
    } else {
      const ref = t ? (t.startsWith("sha256:") ? `${fromImage}@${t}` : `${fromImage}:${t}`) : fromImage;
      const img = await call.api.engine.images.pull(ref, { platform, progress, credentials });
      if (img.repoDigests[0]) write({ status: `Digest: ${img.repoDigests[0].split("@")[1] ?? ""}` });
      write({ status: `Status: Image is up to date for ${familiarString(ref)}` });
    }
  } catch (e) {
    fail(e);
  }
  call.res!.end();
}

/** POST /images/{name}/push?tag=. Credentials: X-Registry-Auth, else capsa's stored ones. */
async function push(call: Call): Promise<void> {
  const name = call.params[0]!;
  const t = call.query.str("tag");
  const ref = t ? `${name}:${t}` : name;
  const credentials = registryAuth(call);
  const write = jsonStream(call.res!);
  write({ status: `The push refers to repository [${familiarString(name)}]` });
  try {
    const r = await call.api.engine.images.push(ref, undefined, { progress: (e) => write(progressMessage(e)), credentials });
    write({ status: `${r.tag}: digest: ${r.digest} size: ${r.size}` });
    write({ progressDetail: {}, aux: { Tag: r.tag, Digest: r.digest, Size: r.size } });
  } catch (e) {
    writeStreamError(write, e);
  }
  call.res!.end();
}

async function prune(call: Call): Promise<void> {
  const f = call.query.filters();
  const dangling = f?.dangling?.[0];
  const r = call.api.engine.images.prune({ all: dangling === "false" || dangling === "0" });
  sendJson(call.res!, 200, { ImagesDeleted: r.ImagesDeleted.length ? r.ImagesDeleted : null, SpaceReclaimed: r.SpaceReclaimed });
}

export function imageRoutes(r: Router): void {
  r.add("GET", "/images/json", list);
  r.add("POST", "/images/load", load);
  r.add("GET", "/images/get", save);
  r.add("POST", "/images/create", create);
  r.add("POST", "/images/prune", prune);
  r.add("GET", "/images/search", () => Promise.reject(new HttpError(501, "image search is not supported by capsa")));
  r.add("GET", "/images/{name*}/json", inspect);
  r.add("GET", "/images/{name*}/history", history);
  r.add("GET", "/images/{name*}/get", save);
  r.add("POST", "/images/{name*}/tag", tag);
  r.add("POST", "/images/{name*}/push", push);
  r.add("DELETE", "/images/{name*}", remove);
}
