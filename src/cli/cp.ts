// cp between a container and the local file system, with docker's rules for
// where things land (dest exists as a directory → inside it; otherwise → renamed
// to dest; "src/." → the contents), and `-` for a tar on stdin/stdout.
// Tars are packed and extracted with the project's safe archive code: entries
// can never land outside the destination.
import fs from "node:fs";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { extractTar, packDir } from "../engine/index.ts";
import { CapsaError } from "../util/errors.ts";
import { newCommand, UsageError } from "./command.ts";
import { humanSize } from "./units.ts";
import { passThroughTo, type CliContext, type VerbTable } from "./verb.ts";

/** docker's splitCpArg: "ctr:/path" names a container unless the argument starts with "/" or ".". */
export function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith("/") || arg.startsWith(".")) return { path: arg };
  const colon = arg.indexOf(":");
  if (colon <= 0) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/** Renames the archive's top entry `from` to `to` ("" = its contents, the top entry dropped). */
export function rebaseName(name: string, from: string, to: string): string | undefined {
  if (from === ".") {
    // The archive of a container's "/": "." is the root, "./x" below it.
    const n = name.replace(/\/+$/, "");
    if (n === ".") return to === "" ? undefined : to;
    if (!n.startsWith("./")) return n;
    return (to === "" ? "" : to + "/") + n.slice(2);
  }
  const n = name.replace(/\/+$/, "").replace(/^\.\//, "");
  if (n === from) return to === "" ? undefined : to;
  if (n.startsWith(from + "/")) return (to === "" ? "" : to + "/") + n.slice(from.length + 1);
  return n;
}

function rebaseTar(src: Readable, from: string, to: string): Readable {
  if (from === to) return src;
  const ex = tar.extract();
  const pk = tar.pack();
  ex.on("entry", (h, stream, next) => {
    const name = rebaseName(h.name, from, to);
    if (name === undefined) {
      stream.resume();
      stream.on("end", next);
      return;
    }
    h.name = h.type === "directory" ? name + "/" : name;
    if (h.type === "link" && h.linkname) h.linkname = rebaseName(h.linkname, from, to) ?? h.linkname;
    stream.pipe(pk.entry(h, (err) => next(err ?? undefined)));
  });
  ex.on("finish", () => pk.finalize());
  ex.on("error", (e) => pk.destroy(e));
  src.on("error", (e) => pk.destroy(e));
  src.pipe(ex);
  return pk as unknown as Readable;
}

function counter(): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _e, cb) {
      t.bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

const isDir = (mode: number): boolean => (mode & 0o170000) === 0o040000;
const contentsOnly = (p: string): boolean => p.endsWith("/.") || p === ".";

async function copyFromContainer(ctx: CliContext, container: string, src: string, dest: string): Promise<number> {
  const engine = await ctx.engine();
  if (dest !== "-") {
    // Check the local side first, so a bad destination costs no container work.
    const parent = path.dirname(path.resolve(ctx.cwd, dest));
    if (!fs.existsSync(parent)) throw new CapsaError("not-found", `destination directory ${parent} does not exist`);
  }
  const { stat, tar: archive } = await engine.containers.copyFrom(container, src);
  if (dest === "-") {
    await pipeline(archive, passThroughTo(ctx.stdout));
    return 0;
  }
  const abs = path.resolve(ctx.cwd, dest);
  const destStat = fs.statSync(abs, { throwIfNoEntry: false });
  let target: string;
  let stream: Readable;
  const srcDir = isDir(stat.mode);
  if (destStat?.isDirectory()) {
    target = abs;
    stream = srcDir && contentsOnly(src) ? rebaseTar(archive, stat.name, "") : archive;
  } else {
    if (destStat && srcDir) throw new CapsaError("invalid", `cannot copy a directory to a file: ${dest}`);
    if (!destStat && dest.endsWith("/") && !srcDir) throw new CapsaError("not-found", `destination directory ${dest} does not exist`);
    target = path.dirname(abs);
    stream = rebaseTar(archive, stat.name, path.basename(abs));
  }
  const count = counter();
  const copying = extractTar(stream.pipe(count), target, { whiteouts: "keep", sameOwner: false, devices: false, noOverwriteDirNonDir: true });
  await copying;
  return count.bytes;
}

async function copyToContainer(ctx: CliContext, src: string, container: string, dest: string, opts: { archive: boolean; followLink: boolean }): Promise<number> {
  const engine = await ctx.engine();
  const count = counter();
  if (src === "-") {
    if (ctx.stdin.isTTY) throw new UsageError(ctx.verb, "requested a tar on stdin, but stdin is a terminal", 1);
    await engine.containers.copyTo(container, dest, ctx.stdin.pipe(count), { noOverwriteDirNonDir: true, copyUIDGID: opts.archive });
    return count.bytes;
  }
  let local = path.resolve(ctx.cwd, src);
  const lst = fs.lstatSync(local, { throwIfNoEntry: false });
  if (!lst) throw new CapsaError("not-found", `lstat ${local}: no such file or directory`);
  if (opts.followLink && lst.isSymbolicLink()) local = fs.realpathSync(local);
  const st = opts.followLink ? fs.statSync(local) : lst;
  let destStat;
  try {
    destStat = await engine.containers.statPath(container, dest);
  } catch (e) {
    if (!(e instanceof CapsaError) || e.kind !== "not-found") throw e;
  }
  const owner = opts.archive ? undefined : { uid: 0, gid: 0 };
  const pack = (name: string | undefined): Readable => packDir(local, { ...(name !== undefined ? { name } : {}), ...(owner ? { owner } : {}) });
  let archive: Readable;
  let into: string;
  if (destStat && isDir(destStat.mode)) {
    into = dest;
    archive = st.isDirectory() && contentsOnly(src) ? pack(undefined) : pack(path.basename(src.replace(/\/+\.?$/, "")) || path.basename(local));
  } else {
    if (destStat && st.isDirectory()) throw new CapsaError("invalid", `cannot copy a directory to a file: ${container}:${dest}`);
    if (!destStat && dest.endsWith("/")) throw new CapsaError("not-found", `destination directory ${container}:${dest} does not exist`);
    into = path.posix.dirname(path.posix.resolve("/", dest));
    archive = pack(path.posix.basename(dest));
  }
  await engine.containers.copyTo(container, into, archive.pipe(count), { noOverwriteDirNonDir: true, copyUIDGID: true });
  return count.bytes;
}

export const verbs: VerbTable = {
  cp: {
    command: (v) =>
      newCommand(v, "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       capsa cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH", "Copy files/folders between a container and the local filesystem")
        .option("-a, --archive", "Archive mode (copy all uid/gid information)")
        .option("-L, --follow-link", "Always follow symbol link in SRC_PATH")
        .option("-q, --quiet", "Suppress progress output during copy (automatic without a terminal)"),
    args: [2, 2],
    async run(ctx, opts, args) {
      const o = opts as { archive?: boolean; followLink?: boolean; quiet?: boolean };
      const src = splitCpArg(args[0] as string);
      const dst = splitCpArg(args[1] as string);
      if (src.container !== undefined && dst.container !== undefined) throw new UsageError(ctx.verb, "copying between containers is not supported", 1);
      if (src.container === undefined && dst.container === undefined) throw new UsageError(ctx.verb, "must specify at least one container source", 1);
      let bytes: number;
      let where: string;
      if (src.container !== undefined) {
        bytes = await copyFromContainer(ctx, src.container, src.path, dst.path);
        where = dst.path;
      } else {
        bytes = await copyToContainer(ctx, src.path, dst.container as string, dst.path, { archive: !!o.archive, followLink: !!o.followLink });
        where = args[1] as string;
      }
      if (!o.quiet && ctx.stderr.isTTY && where !== "-") ctx.err(`Successfully copied ${humanSize(bytes)} to ${where}\n`);
      return 0;
    },
  },
};
