// Verbs that read or write a container's file system: cp (both ways), diff,
// export, commit. A stopped container's rootfs is mounted for the duration.
// The container may be running and changing its tree under the copy: every
// one of them works through open directories and never follows a name out of
// the root (archive/confined.ts; decision 0011), so no pause is needed.
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type { CommitOptions, PathStat } from "../../types/engine-api.ts";
import type { ContainerRecord, ImageConfig, ImageRecord } from "../../types/records.ts";
import type { Change } from "../../types/views.ts";
import { packDir, packFd } from "../../archive/pack.ts";
import { extractTar } from "../../archive/extract.ts";
import { type MountTable, O_PATH, type Resolved, Tree, errnoOf } from "../../archive/confined.ts";
import { changesFromUpperDir } from "../../archive/changes.ts";
import { UnsafePathError, cleanEntryName } from "../../archive/paths.ts";
import { mountOverlay, prepareRwLayer, rwLayerPaths, unmount } from "../../snapshot/overlay.ts";
import { isMounted } from "../../util/mounts.ts";
import { CapsaError, invalid, notFound } from "../../util/errors.ts";
import { type Ctx, containerDir } from "./context.ts";
import { pauseContainer, unpauseContainer } from "./lifecycle.ts";
import { refuseForVm } from "../../isolation/level.ts";
import { mountPoints } from "./inspect.ts";

/** A volume or bind of a container, as cp sees it: its host source on its destination. */
interface FileMount {
  source: string;
  readOnly: boolean;
}

/**
 * The container's mount table for file work, keyed by destination (no leading
 * slash): its volumes and binds, and the /etc files capsa binds from the
 * bundle once the container has started. The runtime mounts them only inside
 * the container, so the rootfs seen from the host has empty mount points there.
 */
function fileMounts(ctx: Ctx, c: ContainerRecord): Map<string, FileMount> {
  const out = new Map<string, FileMount>();
  const dir = containerDir(ctx, c.id);
  for (const f of ["hostname", "hosts", "resolv.conf"]) {
    if (fs.existsSync(path.join(dir, f))) out.set(`etc/${f}`, { source: path.join(dir, f), readOnly: false });
  }
  for (const m of mountPoints(ctx, c)) {
    if (m.Type !== "bind" && m.Type !== "volume") continue;
    const dest = path.posix.normalize(m.Destination).replace(/^\/+|\/+$/g, "");
    if (dest && dest !== ".") out.set(dest, { source: m.Source, readOnly: !m.RW });
  }
  return out;
}

/** For writes (`forWrite`), nothing is made or written in a read-only mount (confined.ts checkWritable). */
function mountTable(mounts: Map<string, FileMount>, forWrite = false): MountTable {
  return {
    ...(forWrite ? { readOnly: (at: string) => mounts.get(at)?.readOnly ?? false } : {}),
    open(rel) {
      const m = mounts.get(rel);
      // The source is the engine's own (a volume's directory) or the user's bind: its path may be followed.
      return m ? fs.openSync(m.source, O_PATH) : undefined;
    },
    isAbove(rel) {
      for (const dest of mounts.keys()) if (dest.startsWith(`${rel}/`)) return true;
      return false;
    },
  };
}

/** Runs fn with the container's rootfs mounted; unmounts afterwards if it mounted it. */
export async function withRootfs<T>(ctx: Ctx, c: ContainerRecord, fn: (rootfs: string) => Promise<T>): Promise<T> {
  refuseForVm(c.hostConfig, "cp", c.name);
  const layer = prepareRwLayer(containerDir(ctx, c.id));
  const mountedHere = !isMounted(layer.merged);
  if (mountedHere) mountOverlay(ctx.images.layerDirs(c.imageId), layer);
  try {
    return await fn(layer.merged);
  } finally {
    // Only unmount what this call mounted, and never under a running container.
    if (mountedHere && !ctx.store.find(c.id)?.state.Running) unmount(layer.merged);
  }
}

/**
 * Opens p inside the container's root as the container would resolve it
 * (symlinks followed inside the root), through open directories only: the
 * container may be running and changing the tree meanwhile (confined.ts).
 * The caller closes the returned fd.
 */
function openInContainer(c: ContainerRecord, rootfs: string, p: string, mounts: Map<string, FileMount>): Resolved {
  if (!p) throw invalid("path cannot be empty");
  let rel: string;
  try {
    rel = cleanEntryName(path.posix.resolve("/", p));
  } catch (e) {
    throw invalid(e instanceof UnsafePathError ? e.message : String(e));
  }
  const tree = Tree.open(rootfs);
  try {
    return tree.resolve(rel, { mounts: mountTable(mounts) });
  } catch (e) {
    const code = errnoOf(e);
    if (code === "ENOENT" || code === "ENOTDIR") throw notFound(`Could not find the file ${p} in container ${c.name}`);
    if (code === "ELOOP") throw invalid(`${p} in container ${c.name}: too many levels of symbolic links`);
    throw e;
  } finally {
    tree.close();
  }
}

function statOf(fd: number, name: string): PathStat {
  const st = fs.fstatSync(fd);
  return {
    name,
    size: st.size,
    mode: st.mode,
    mtime: st.mtime.toISOString(),
    // The path is resolved with its last link followed: a link here is one that loops or changed meanwhile.
    linkTarget: "",
  };
}

export async function statPath(ctx: Ctx, c: ContainerRecord, p: string): Promise<PathStat> {
  return withRootfs(ctx, c, async (rootfs) => {
    const { fd } = openInContainer(c, rootfs, p, fileMounts(ctx, c));
    try {
      return statOf(fd, path.posix.basename(p) || "/");
    } finally {
      fs.closeSync(fd);
    }
  });
}

export async function copyFrom(ctx: Ctx, c: ContainerRecord, p: string): Promise<{ stat: PathStat; tar: Readable }> {
  refuseForVm(c.hostConfig, "cp", c.name);
  // The mount must outlive this call while the tar is read: keep it mounted
  // until the stream ends.
  const layer = prepareRwLayer(containerDir(ctx, c.id));
  const mountedHere = !isMounted(layer.merged);
  if (mountedHere) mountOverlay(ctx.images.layerDirs(c.imageId), layer);
  const release = (): void => {
    if (mountedHere && !ctx.store.find(c.id)?.state.Running) unmount(layer.merged);
  };
  try {
    const mounts = fileMounts(ctx, c);
    const { fd, rel } = openInContainer(c, layer.merged, p, mounts);
    const name = path.posix.basename(path.posix.resolve("/", p)) || ".";
    let stat: PathStat;
    try {
      stat = statOf(fd, name);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    // Mounts below the copied directory are packed from their sources, as the container sees them.
    const table = mountTable(mounts);
    const view = (sub: string): string => (rel === "" ? sub : sub === "" ? rel : `${rel}/${sub}`);
    const namesIn = (sub: string): string[] => {
      const prefix = view(sub) === "" ? "" : `${view(sub)}/`;
      return [...mounts.keys()].filter((d) => d.startsWith(prefix)).map((d) => d.slice(prefix.length).split("/")[0]!);
    };
    const tar = packFd(fd, { name, mounts: { at: (sub) => table.open(view(sub)), namesIn } });
    tar.once("end", release);
    tar.once("error", release);
    tar.once("close", release);
    return { stat, tar };
  } catch (e) {
    release();
    throw e;
  }
}

export async function copyTo(ctx: Ctx, c: ContainerRecord, p: string, tar: Readable, opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
  // gVisor caches a running sandbox's root file system (decision 0005): files put there from the host would stay unseen inside.
  if (c.state.Running && c.hostConfig.Isolation === "sandbox") {
    throw new CapsaError("conflict", `cannot copy into the running sandbox ${c.name}: gVisor caches its root file system and would not see the files; stop it first, or use a volume`);
  }
  await withRootfs(ctx, c, async (rootfs) => {
    const mounts = fileMounts(ctx, c);
    const { fd, rel, mount } = openInContainer(c, rootfs, p, mounts);
    try {
      if (!fs.fstatSync(fd).isDirectory()) throw invalid(`extraction point is not a directory: ${p}`);
    } finally {
      fs.closeSync(fd);
    }
    // docker's words for a target in a read-only mount or root.
    const m = mount ? mounts.get(mount.at) : undefined;
    if (m?.readOnly) throw new CapsaError("forbidden", "mounted volume is marked read-only");
    if (!m && c.hostConfig.ReadonlyRootfs) throw new CapsaError("forbidden", "container rootfs is marked read-only");
    try {
      // Confined: the extraction resolves the target and every entry again, through open directories only,
      // in the container's view: an entry below a volume or bind goes into its source (a read-only one refuses it).
      await extractTar(tar, path.join(rootfs, rel), { whiteouts: "keep", root: rootfs, confined: true, mounts: mountTable(mounts, true), noOverwriteDirNonDir: opts.noOverwriteDirNonDir, sameOwner: opts.copyUIDGID ?? true });
    } catch (e) {
      if (e instanceof CapsaError) throw e;
      throw invalid(`copy into ${c.name}:${p}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
}

export async function containerChanges(ctx: Ctx, c: ContainerRecord): Promise<Change[]> {
  refuseForVm(c.hostConfig, "diff", c.name);
  const { upper } = rwLayerPaths(containerDir(ctx, c.id));
  if (!fs.existsSync(upper)) return [];
  return withoutMountPoints(changesFromUpperDir(upper, ctx.images.layerDirs(c.imageId)), mountDestinations(containerDir(ctx, c.id)));
}

/** Where the container's config.json mounts things (/proc, /dev, /etc/hosts, volumes…). */
function mountDestinations(bundle: string): Set<string> {
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8")) as { mounts?: { destination: string }[] };
    return new Set((spec.mounts ?? []).map((m) => path.posix.normalize(m.destination)));
  } catch {
    return new Set();
  }
}

/**
 * As dockerd, which keeps them in an init layer: the empty files and
 * directories the runtime made as mount points are not the workload's
 * changes, nor is a directory "changed" only because they were added to it.
 */
export function withoutMountPoints(changes: Change[], mountPoints: Set<string>): Change[] {
  const kept = changes.filter((ch) => !(ch.Kind === 1 && mountPoints.has(ch.Path)));
  const dropped = changes.filter((ch) => !kept.includes(ch));
  return kept.filter((ch) => {
    if (ch.Kind !== 0) return true;
    const under = (p: string): boolean => p.startsWith(ch.Path === "/" ? "/" : `${ch.Path}/`);
    return !dropped.some((d) => under(d.Path)) || kept.some((k) => k !== ch && under(k.Path));
  });
}

export async function exportContainer(ctx: Ctx, c: ContainerRecord): Promise<Readable> {
  refuseForVm(c.hostConfig, "export", c.name);
  const layer = prepareRwLayer(containerDir(ctx, c.id));
  const mountedHere = !isMounted(layer.merged);
  if (mountedHere) mountOverlay(ctx.images.layerDirs(c.imageId), layer);
  const tar = packDir(layer.merged);
  const release = (): void => {
    if (mountedHere && !ctx.store.find(c.id)?.state.Running) unmount(layer.merged);
  };
  tar.once("end", release);
  tar.once("error", release);
  tar.once("close", release);
  return tar;
}

export async function commitContainer(ctx: Ctx, c: ContainerRecord, opts: CommitOptions = {}): Promise<ImageRecord> {
  refuseForVm(c.hostConfig, "commit", c.name);
  const pause = (opts.pause ?? true) && c.state.Running && !c.state.Paused;
  if (pause) await pauseContainer(ctx, c);
  try {
    const { upper } = prepareRwLayer(containerDir(ctx, c.id));
    return await ctx.images.commitLayer({
      parentImageId: c.imageId,
      upperDir: upper,
      containerConfig: c.config,
      config: opts.config ? withContainerEnv(opts.config, c.config.Env ?? []) : undefined,
      changes: opts.changes ?? [],
      ref: opts.ref,
      comment: opts.comment,
      author: opts.author,
    });
  } finally {
    if (pause) await unpauseContainer(ctx, ctx.store.get(c.id));
  }
}

/** As dockerd's commit merge: the container's variables the given config does not set are kept. */
function withContainerEnv(config: Partial<ImageConfig>, env: string[]): Partial<ImageConfig> {
  if (!config.Env?.length) return config;
  const keyOf = (e: string): string => e.split("=")[0]!;
  const set = new Set(config.Env.map(keyOf));
  return { ...config, Env: [...config.Env, ...env.filter((e) => !set.has(keyOf(e)))] };
}
