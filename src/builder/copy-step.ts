// COPY and ADD as build steps: the sources grouped by origin (the context,
// another stage or image, here-documents, URLs), the step's cache key from
// their content, and the copy into a scratch overlay of the previous image
// whose upper dir becomes the layer. The file mechanics are copy.ts's.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { errorMessage } from "../util/errors.ts";
import { BuildCache } from "./cache.ts";
import { copyInto, hashSources, parseChmod, resolveOwner, resolveSources, type CopySource, type SourceTree } from "./copy.ts";
import { BuildError } from "./errors.ts";
import { IgnoreMatcher } from "./ignore.ts";
import { flagValue, type Instruction } from "./parse.ts";
import { short, wrap, type BuildSession, type StageState } from "./session.ts";
import { expandRaw } from "./words.ts";

export async function copyStep(s: BuildSession, state: StageState, ins: Instruction): Promise<void> {
  const err = s.errAt(ins.line);
  const isAdd = ins.keyword === "ADD";
  const from = flagValue(ins, "from");
  if (isAdd && from !== undefined) throw err("ADD does not support --from (use COPY)");
  for (const f of ["parents", "exclude", "keep-git-dir"]) if (flagValue(ins, f) !== undefined) throw err(`${ins.keyword} --${f} is not supported yet`);
  const checksum = flagValue(ins, "checksum");
  const chown = flagValue(ins, "chown");
  const chmodSpec = flagValue(ins, "chmod");
  const chmod = chmodSpec !== undefined ? wrap(err, () => parseChmod(s.expandOne(state, ins, chmodSpec))) : undefined;
  let words: string[];
  const heredocFiles = new Map<string, string>();
  if (ins.heredocs.length) {
    words = s.expandAll(state, ins, ins.heredocCommand ?? "");
    for (const h of ins.heredocs) heredocFiles.set(h.name, h.expand ? expandRaw(h.content, s.lookup(state), s.file.escape) : h.content);
  } else {
    words = ins.json ? ins.json.map((w) => s.expandOne(state, ins, w)) : s.expandAll(state, ins, ins.args);
  }
  if (words.length < 2) throw err(`${ins.keyword} requires at least two arguments`);
  const destWord = words.pop()!;
  const workdir = state.config.WorkingDir || "/";
  const dest = destWord.startsWith("/") ? destWord : workdir.replace(/\/?$/, "/") + destWord;

  // Sources by origin: the context, another stage or image, here-documents, URLs.
  const groups: { tree: SourceTree; sources: CopySource[]; hash: string }[] = [];
  let fromTree: (SourceTree & { imageId: string | null }) | undefined;
  if (from !== undefined) fromTree = await s.stageTree(from, state, ins);
  const contextTree: SourceTree = { dir: s.contextDir, ignore: s.ignore, context: true };
  for (const w of words) {
    const hd = /^<<-?["']?(\w+)["']?$/.exec(w);
    if (hd && heredocFiles.has(hd[1]!)) {
      const dir = s.tmpDir("heredoc");
      fs.writeFileSync(path.join(dir, hd[1]!), heredocFiles.get(hd[1]!)!);
      const tree: SourceTree = { dir, ignore: IgnoreMatcher.none(), context: false };
      const sources = resolveSources(tree, hd[1]!);
      groups.push({ tree, sources, hash: hashSources(tree, sources) });
    } else if (/^https?:\/\//i.test(w)) {
      if (!isAdd) throw err(`source can't be a URL for COPY`);
      const { tree, sources } = await download(s, w, ins, checksum);
      groups.push({ tree, sources, hash: hashSources(tree, sources) });
    } else if (fromTree) {
      const sources = wrap(err, () => resolveSources(fromTree, w));
      groups.push({ tree: fromTree, sources, hash: `${fromTree.imageId ?? "scratch"}:${sources.map((x) => x.rel).join("\0")}` });
    } else {
      const sources = wrap(err, () => resolveSources(contextTree, w));
      groups.push({ tree: contextTree, sources, hash: hashSources(contextTree, sources) });
    }
  }
  const count = groups.reduce((n, g) => n + g.sources.length, 0);
  if (count > 1 && !(dest.endsWith("/") || /\/\.$/.test(dest))) {
    throw err(`When using ${ins.keyword} with more than one source file, the destination must be a directory and end with a /`);
  }
  const digest = crypto.createHash("sha256").update(groups.map((g) => g.hash).join("\n")).digest("hex");
  const kind = groups.length === 1 && groups[0]!.sources.length === 1 && !groups[0]!.sources[0]!.isDir ? "file" : "dir";
  const flagsShown = [from !== undefined ? `--from=${from}` : "", chown ? `--chown=${chown}` : "", chmodSpec ? `--chmod=${chmodSpec}` : ""].filter(Boolean).join(" ");
  const createdBy = `/bin/sh -c #(nop) ${ins.keyword} ${flagsShown ? flagsShown + " " : ""}${kind}:${digest} in ${dest} `;
  const key = BuildCache.key(["copy", state.imageId ?? "scratch", createdBy, state.config]);
  const hit = s.lookupCache(key);
  if (hit) {
    s.say(` ---> Using cache\n ---> ${short(hit)}`);
    state.imageId = hit;
    return;
  }
  const rootfs = s.mount(state.imageId);
  try {
    const owner = chown !== undefined ? wrap(err, () => resolveOwner(rootfs.root, s.expandOne(state, ins, chown))) : undefined;
    for (const g of groups) {
      await copyInto(g.tree, g.sources, { rootfs: rootfs.root, dest, owner, chmod, extractArchives: isAdd && g.tree.context }).catch((e: unknown) => {
        throw e instanceof BuildError ? err(e.message) : err(`${ins.keyword} failed: ${errorMessage(e)}`);
      });
    }
    rootfs.unmount();
    s.checkAborted();
    const img = await s.engine.images.commitLayer({ parentImageId: state.imageId, upperDir: rootfs.layer.upper, config: state.config, createdBy });
    s.cache.put(key, img.id);
    s.result.executed.push(s.step);
    state.imageId = img.id;
  } finally {
    s.release(rootfs);
  }
  s.say(` ---> ${short(state.imageId)}`);
}

/**
 * ADD <url>: the body is streamed into a private temp dir under a fixed name
 * (mode 0600, as docker): nothing on the host is named after the URL or a
 * header. The name in the image is urlFileName()'s, confined to one component.
 */
async function download(s: BuildSession, url: string, ins: Instruction, checksum: string | undefined): Promise<{ tree: SourceTree; sources: CopySource[] }> {
  const err = s.errAt(ins.line);
  const verify = checksum !== undefined ? wrap(err, () => parseChecksum(checksum)) : undefined;
  let res: Response;
  try {
    res = await fetch(url, { signal: s.opts.signal });
  } catch (e) {
    throw err(`ADD failed: ${url}: ${errorMessage(e)}`);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw err(`ADD failed: ${url}: HTTP ${res.status} ${res.statusText}`);
  }
  const name = urlFileName(url);
  const file = path.join(s.tmpDir("url"), "download");
  const hash = verify ? crypto.createHash(verify.algorithm) : undefined;
  try {
    const body = res.body ? Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) : Readable.from([]);
    const digest = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash?.update(chunk);
        cb(null, chunk);
      },
    });
    // "wx": the fresh directory is ours; an existing file there is not, and is never written through.
    await pipeline(body, digest, fs.createWriteStream(file, { flags: "wx", mode: 0o600 }), { signal: s.opts.signal });
  } catch (e) {
    if (s.opts.signal?.aborted) throw new BuildError("build canceled", "system");
    throw err(`ADD failed: ${url}: ${errorMessage(e)}`);
  }
  if (verify && hash) {
    const actual = `${verify.algorithm}:${hash.digest("hex")}`;
    if (actual !== `${verify.algorithm}:${verify.hex}`) throw err(`ADD failed: ${url}: digest mismatch: expected ${checksum}, got ${actual}`);
  }
  const lm = res.headers.get("last-modified");
  if (lm && !Number.isNaN(Date.parse(lm))) fs.utimesSync(file, new Date(lm), new Date(lm));
  const tree: SourceTree = { dir: path.dirname(file), ignore: IgnoreMatcher.none(), context: false };
  return { tree, sources: [{ abs: file, rel: name, isDir: false, mode: 0o600, name }] };
}

/** ADD --checksum=<algorithm>:<hex> (BuildKit's digests: sha256, sha384, sha512). */
function parseChecksum(spec: string): { algorithm: "sha256" | "sha384" | "sha512"; hex: string } {
  const m = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(spec);
  const lengths = { sha256: 64, sha384: 96, sha512: 128 };
  if (!m || m[2]!.length !== lengths[m[1] as keyof typeof lengths]) throw new BuildError(`invalid --checksum ${JSON.stringify(spec)}: expected sha256:, sha384: or sha512: and the hex digest`);
  return { algorithm: m[1] as "sha256" | "sha384" | "sha512", hex: m[2]! };
}

/**
 * The file name an ADD of a URL gets in the image, as BuildKit's Dockerfile
 * frontend names it: the last component of the percent-decoded path (so
 * "%2F" separates components too). A name that is empty, "." or "..", has a
 * NUL or does not decode is "__unnamed__"; Content-Disposition is not used.
 */
export function urlFileName(url: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(new URL(url).pathname);
  } catch {
    return "__unnamed__";
  }
  const base = decoded.replace(/\/+$/, "").split("/").pop() ?? "";
  return base === "" || base === "." || base === ".." || base.includes("\0") ? "__unnamed__" : base;
}
