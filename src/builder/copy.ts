// COPY and ADD: sources resolved in the build context (or another stage's file
// system), never outside it; docker's destination rules (a trailing "/" or an
// existing directory receives files by name, a directory source copies its
// content); --chown/--chmod; ADD extracts local tar archives. Files are
// written through the safe extractor into the step's mounted root file system,
// so a destination path with symlinks in the image stays inside it.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { detectCompression } from "../archive/compression.ts";
import { extractArchive, extractTar } from "../archive/extract.ts";
import { packDir } from "../archive/pack.ts";
import { isWithin, resolveInRoot } from "../archive/paths.ts";
import { readFileInRoot } from "../engine/index.ts";
import { BuildError } from "./errors.ts";
import { componentMatcher, hasGlob, type IgnoreMatcher } from "./ignore.ts";

/** Where sources come from: the build context, or a stage's / image's root file system. */
export interface SourceTree {
  dir: string;
  ignore: IgnoreMatcher;
  /** The build context: paths leaving it are refused and ownership becomes root's. */
  context: boolean;
}

export interface CopySource {
  abs: string;
  /** Relative to the tree's root. */
  rel: string;
  isDir: boolean;
  /** Mode override (ADD of a URL: 0600). */
  mode?: number;
  /** Name to use when the destination is a directory. */
  name: string;
}

export interface Owner {
  uid: number;
  gid: number;
}

const notFound = (src: string): BuildError => new BuildError(`COPY failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`, "not-found");

/** Expands one COPY source (maybe a glob) into the files it names. */
export function resolveSources(tree: SourceTree, src: string): CopySource[] {
  const norm = path.posix.normalize(src.replace(/\\/g, "/"));
  if (tree.context && (norm === ".." || norm.startsWith("../"))) {
    throw new BuildError(`COPY failed: forbidden path outside the build context: ${src}`, "forbidden");
  }
  const rel = norm.replace(/^\/+/, "").replace(/\/+$/, "").replace(/^\.$/, "");
  const rels = hasGlob(rel) ? globIn(tree, rel) : [rel];
  if (rels.length === 0) throw new BuildError(`COPY failed: no source files were specified (no match for ${src})`, "not-found");
  const out: CopySource[] = [];
  for (const r of rels) {
    if (r !== "" && tree.context && tree.ignore.excluded(r)) throw notFound(src);
    if (tree.context) {
      // A symlink on the way may point anywhere on the host: refuse one that leaves the context.
      let real: string;
      try {
        real = fs.realpathSync(path.join(tree.dir, r));
      } catch {
        throw notFound(src);
      }
      if (!isWithin(fs.realpathSync(tree.dir), real)) throw new BuildError(`COPY failed: forbidden path outside the build context: ${src} (resolves to ${real})`, "forbidden");
    }
    const abs = resolveInRoot(tree.dir, r);
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch {
      throw notFound(src);
    }
    out.push({ abs, rel: r, isDir: st.isDirectory(), name: path.posix.basename(r) || path.basename(tree.dir) });
  }
  return out;
}

function globIn(tree: SourceTree, pattern: string): string[] {
  let found = [""];
  for (const part of pattern.split("/")) {
    const next: string[] = [];
    for (const base of found) {
      if (!hasGlob(part)) {
        const r = base ? `${base}/${part}` : part;
        if (fs.existsSync(resolveInRoot(tree.dir, r))) next.push(r);
        continue;
      }
      const re = componentMatcher(part);
      let names: string[] = [];
      try {
        names = fs.readdirSync(resolveInRoot(tree.dir, base)).sort();
      } catch {
        /* not a directory */
      }
      for (const n of names) if (re.test(n)) next.push(base ? `${base}/${n}` : n);
    }
    found = next;
  }
  return found.filter((r) => !(tree.context && tree.ignore.excluded(r)));
}

/** A content hash of the sources (names, types, modes, link targets, file bytes), for the layer cache. */
export function hashSources(tree: SourceTree, sources: CopySource[]): string {
  const h = crypto.createHash("sha256");
  const visit = (abs: string, rel: string, top: boolean): void => {
    const st = top ? fs.statSync(abs) : fs.lstatSync(abs);
    if (!top && tree.context && tree.ignore.excluded(rel) && (!st.isDirectory() || tree.ignore.skipDir(rel))) return;
    h.update(`${rel}\0${st.mode}\0`);
    if (st.isSymbolicLink()) h.update(`L${fs.readlinkSync(abs)}\0`);
    else if (st.isFile()) {
      h.update(`F${st.size}\0`);
      hashFile(h, abs);
    } else if (st.isDirectory()) {
      for (const c of fs.readdirSync(abs).sort()) visit(path.join(abs, c), rel ? `${rel}/${c}` : c, false);
    }
  };
  for (const s of sources) {
    h.update(`S${s.rel}\0${s.mode ?? ""}\0`);
    visit(s.abs, s.rel, true);
  }
  return "sha256:" + h.digest("hex");
}

/** Feeds a file to the hash in 1 MiB reads (contexts may hold large files). */
function hashFile(h: crypto.Hash, file: string): void {
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
}

export interface CopyOptions {
  /** The step's mounted root file system. */
  rootfs: string;
  /** Absolute destination in the image (after WORKDIR), keeping a trailing "/". */
  dest: string;
  owner?: Owner;
  chmod?: number;
  /** ADD: local tar archives are extracted at the destination. */
  extractArchives?: boolean;
}

export async function copyInto(tree: SourceTree, sources: CopySource[], opts: CopyOptions): Promise<void> {
  const destIsDir = opts.dest.endsWith("/") || /\/\.$/.test(opts.dest);
  const destRel = path.posix.normalize(opts.dest).replace(/^\/+/, "").replace(/\/+$/, "").replace(/^\.$/, "");
  if (sources.length > 1 && !destIsDir) {
    throw new BuildError("When using COPY with more than one source file, the destination must be a directory and end with a /");
  }
  for (const s of sources) {
    if (s.isDir) {
      mkdirInImage(opts.rootfs, destRel, opts.owner);
      const prefix = s.rel;
      const exclude = (rel: string): boolean => {
        if (!tree.context) return false;
        const r = prefix ? `${prefix}/${rel}` : rel;
        if (!tree.ignore.excluded(r)) return false;
        if (!tree.ignore.hasNegations) return true;
        return fs.lstatSync(path.join(s.abs, rel)).isDirectory() ? tree.ignore.skipDir(r) : true;
      };
      const stream = packDir(s.abs, { name: destRel, exclude });
      await extractInto(opts.rootfs, retar(stream, (h) => (stripSlash(h.name) === destRel ? null : fixHeader(h, tree, opts))));
      continue;
    }
    if (opts.extractArchives && isArchive(s.abs)) {
      mkdirInImage(opts.rootfs, destRel, opts.owner);
      const target = resolveInRoot(opts.rootfs, destRel);
      await extractArchive(fs.createReadStream(s.abs), target, { whiteouts: "keep", root: opts.rootfs, sameOwner: true }).catch((e: unknown) => {
        throw new BuildError(`ADD failed: extract ${s.rel}: ${e instanceof Error ? e.message : String(e)}`);
      });
      continue;
    }
    let fileRel = destRel;
    const existing = resolveInRoot(opts.rootfs, destRel);
    if (destIsDir || destRel === "" || isDir(existing)) fileRel = destRel ? `${destRel}/${s.name}` : s.name;
    const parent = path.posix.dirname(fileRel);
    if (parent !== ".") mkdirInImage(opts.rootfs, parent, opts.owner);
    const stream = packDir(s.abs, { name: fileRel });
    await extractInto(opts.rootfs, retar(stream, (h) => fixHeader({ ...h, mode: s.mode ?? h.mode }, tree, opts)));
  }
}

function stripSlash(n: string): string {
  return n.replace(/\/+$/, "");
}

function fixHeader(h: tar.Header, tree: SourceTree, opts: CopyOptions): tar.Header {
  const out = { ...h };
  if (opts.owner) {
    out.uid = opts.owner.uid;
    out.gid = opts.owner.gid;
  } else if (tree.context) {
    out.uid = 0;
    out.gid = 0;
  }
  if (opts.chmod !== undefined && out.type !== "symlink") out.mode = opts.chmod;
  out.uname = "";
  out.gname = "";
  return out;
}

async function extractInto(rootfs: string, stream: Readable): Promise<void> {
  try {
    await extractTar(stream, rootfs, { whiteouts: "keep", root: rootfs, sameOwner: true });
  } catch (e) {
    if (e instanceof BuildError) throw e;
    throw new BuildError(`COPY failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** mkdir -p inside the image; directories it creates get the owner (--chown), as docker. */
export function mkdirInImage(rootfs: string, rel: string, owner: Owner | undefined): void {
  let cur = "";
  for (const part of rel.split("/").filter(Boolean)) {
    cur = cur ? `${cur}/${part}` : part;
    const abs = resolveInRoot(rootfs, cur);
    if (!isWithin(rootfs, abs)) throw new BuildError(`refusing to create ${cur} outside the image`);
    if (fs.existsSync(abs)) {
      if (!isDir(abs)) throw new BuildError(`cannot copy to ${"/" + cur}: it is not a directory`);
      continue;
    }
    fs.mkdirSync(abs, { mode: 0o755 });
    fs.chmodSync(abs, 0o755);
    if (owner) fs.lchownSync(abs, owner.uid, owner.gid);
  }
}

function isArchive(file: string): boolean {
  // Only a regular file can be an archive; a FIFO or device in the context is copied as what it is,
  // never opened (an open of a FIFO blocks the builder, and the API service with it).
  if (!fs.lstatSync(file).isFile()) return false;
  const fd = fs.openSync(file, "r");
  try {
    const head = Buffer.alloc(512);
    const n = fs.readSync(fd, head, 0, 512, 0);
    const c = detectCompression(head.subarray(0, n));
    if (c !== "none") return true;
    return n >= 262 && head.subarray(257, 262).toString("latin1") === "ustar";
  } finally {
    fs.closeSync(fd);
  }
}

/** Rewrites (or drops, when fn returns null) each entry's header of a tar stream. */
export function retar(src: Readable, fn: (h: tar.Header) => tar.Header | null): Readable {
  const ex = tar.extract();
  const pack = tar.pack();
  ex.on("entry", (h, body, next) => {
    const nh = fn(h);
    if (!nh) {
      body.on("end", () => next());
      body.resume();
      return;
    }
    const w = pack.entry(nh, (err) => next(err ?? undefined));
    body.pipe(w);
  });
  ex.on("finish", () => pack.finalize());
  ex.on("error", (e: Error) => pack.destroy(e));
  src.on("error", (e) => ex.destroy(e));
  src.pipe(ex);
  return Readable.from(pack);
}

/** --chown: "user[:group]", names looked up in the image's /etc/passwd and /etc/group. */
export function resolveOwner(rootfs: string, spec: string): Owner {
  const [u = "", g] = spec.split(":");
  // The image's files, read as the engine reads them for -u (readFileInRoot): a FIFO
  // or a device there is an error, never a build that hangs or reads forever.
  const table = (file: string): string[][] => {
    let text: string | undefined;
    try {
      text = readFileInRoot(rootfs, file);
    } catch (e) {
      throw new BuildError(`--chown: ${e instanceof Error ? e.message : String(e)}`);
    }
    return (text ?? "").split("\n").map((l) => l.split(":"));
  };
  let uid: number;
  let primary: number | undefined;
  if (/^\d+$/.test(u)) uid = Number(u);
  else {
    const row = table("/etc/passwd").find((r) => r[0] === u);
    if (!row) throw new BuildError(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${u}: no such user: ${u}`);
    uid = Number(row[2]);
    primary = Number(row[3]);
  }
  let gid: number;
  if (g === undefined || g === "") gid = primary ?? uid;
  else if (/^\d+$/.test(g)) gid = Number(g);
  else {
    const row = table("/etc/group").find((r) => r[0] === g);
    if (!row) throw new BuildError(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${g}: no such group: ${g}`);
    gid = Number(row[2]);
  }
  return { uid, gid };
}

export function parseChmod(spec: string): number {
  if (!/^[0-7]{3,4}$/.test(spec)) throw new BuildError(`invalid chmod parameter: ${spec} (an octal mode such as 0755)`);
  return parseInt(spec, 8);
}
