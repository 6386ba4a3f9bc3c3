// The container's files: archives for `docker cp`, changes, export; and
// POST /commit, which makes an image of them.
import type { PathStat } from "../../types/engine-api.ts";
import type { ImageConfig } from "../../types/records.ts";
import { invalid } from "../../util/errors.ts";
import { readObject, sendJson } from "../http.ts";
import { type Call, response } from "../router.ts";

export async function changes(call: Call): Promise<void> {
  const ch = await call.api.engine.containers.changes(call.params[0]!);
  sendJson(response(call), 200, ch.length ? ch : null);
}

export async function exportFs(call: Call): Promise<void> {
  const tar = await call.api.engine.containers.export(call.params[0]!);
  const r = response(call);
  r.writeHead(200, { "Content-Type": "application/x-tar" });
  tar.pipe(r);
  await new Promise<void>((ok) => r.once("close", ok));
}

/** Go's os.FileMode bits, which docker's path stat carries (the CLI checks IsDir and symlinks). */
export function goFileMode(unixMode: number): number {
  // Go's type bits sit above bit 20, past JavaScript's signed 32-bit bitwise operators: add, don't OR.
  const type = unixMode & 0o170000;
  let m = unixMode & 0o777;
  if (type === 0o040000) m += 2 ** 31;
  else if (type === 0o120000) m += 2 ** 27;
  else if (type === 0o060000) m += 2 ** 26;
  else if (type === 0o020000) m += 2 ** 26 + 2 ** 21;
  else if (type === 0o010000) m += 2 ** 25;
  else if (type === 0o140000) m += 2 ** 24;
  if (unixMode & 0o4000) m += 2 ** 23;
  if (unixMode & 0o2000) m += 2 ** 22;
  if (unixMode & 0o1000) m += 2 ** 20;
  return m;
}

function statHeader(s: PathStat): string {
  return Buffer.from(JSON.stringify({ name: s.name, size: s.size, mode: goFileMode(s.mode), mtime: s.mtime, linkTarget: s.linkTarget })).toString("base64");
}

function archivePath(call: Call): string {
  const p = call.query.str("path");
  if (!p) throw invalid("path cannot be empty");
  return p;
}

export async function archiveHead(call: Call): Promise<void> {
  const s = await call.api.engine.containers.statPath(call.params[0]!, archivePath(call));
  const r = response(call);
  r.writeHead(200, { "X-Docker-Container-Path-Stat": statHeader(s), "Content-Type": "application/x-tar" });
  r.end();
}

export async function archiveGet(call: Call): Promise<void> {
  if (call.req.method === "HEAD") return archiveHead(call);
  const { stat, tar } = await call.api.engine.containers.copyFrom(call.params[0]!, archivePath(call));
  const r = response(call);
  r.writeHead(200, { "X-Docker-Container-Path-Stat": statHeader(stat), "Content-Type": "application/x-tar" });
  // A failure mid-stream (the container changed the tree under the copy) cuts the response: the client sees a truncated tar, not a hang.
  tar.once("error", () => r.destroy());
  r.once("close", () => tar.destroy());
  tar.pipe(r);
  await new Promise<void>((ok) => r.once("close", ok));
}

export async function archivePut(call: Call): Promise<void> {
  await call.api.engine.containers.copyTo(call.params[0]!, archivePath(call), call.req, {
    noOverwriteDirNonDir: call.query.bool("noOverwriteDirNonDir"),
    copyUIDGID: call.query.bool("copyUIDGID"),
  });
  response(call).writeHead(200);
  response(call).end();
}

export async function commit(call: Call): Promise<void> {
  const q = call.query;
  const container = q.str("container");
  if (!container) throw invalid("container is required");
  const body = await readObject(call.req);
  const repo = q.str("repo");
  const tag = q.str("tag");
  const img = await call.api.engine.containers.commit(container, {
    ref: repo ? (tag ? `${repo}:${tag}` : repo) : undefined,
    comment: q.str("comment"),
    author: q.str("author"),
    changes: q.all("changes").flatMap((c) => c.split("\n")).filter(Boolean),
    pause: q.bool("pause", true),
    config: commitConfig(body),
  });
  sendJson(response(call), 201, { Id: img.id });
}

/** The image settings of a commit body (a container config): what it leaves empty or null is the container's. */
function commitConfig(body: Record<string, unknown>): Partial<ImageConfig> | undefined {
  const keys = ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "Healthcheck", "Shell", "OnBuild"] as const;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = body[k];
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v) ? v.length === 0 : typeof v === "object" && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return Object.keys(out).length ? (out) : undefined;
}
