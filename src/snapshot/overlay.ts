// A container's root file system: an overlay mount of the image's unpacked
// layers (read-only, shared between containers) under the container's own
// writable layer. Node has no mount(2), so mount(8) does the syscall; it runs
// with the layers directory as its working directory so lowerdir can use short
// relative names and stay under the kernel's one-page limit for options.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { systemError } from "../util/errors.ts";
import { dirSize } from "./dir-size.ts";
import type { Snapshotter } from "./snapshotter.ts";
import { isMounted, mountPoints } from "../util/mounts.ts";

export interface RwLayer {
  upper: string;
  work: string;
  /** Mount point; the OCI bundle's rootfs. */
  merged: string;
}

export function rwLayerPaths(containerDir: string): RwLayer {
  return { upper: path.join(containerDir, "diff"), work: path.join(containerDir, "work"), merged: path.join(containerDir, "rootfs") };
}

/** Creates the writable layer's directories (idempotent). */
export function prepareRwLayer(containerDir: string): RwLayer {
  const l = rwLayerPaths(containerDir);
  for (const d of [l.upper, l.work, l.merged]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  return l;
}

/**
 * Mounts the overlay. `lowerDirs` are absolute layer directories, topmost
 * first. With no layers (FROM scratch) the upper layer is bind-mounted alone.
 */
export function mountOverlay(lowerDirs: string[], layer: RwLayer): void {
  if (isMounted(layer.merged)) return;
  let r;
  if (lowerDirs.length === 0) {
    r = spawnSync("mount", ["--bind", layer.upper, layer.merged], { encoding: "utf8" });
  } else {
    // Relative lowerdirs resolved from the common parent keep the option string short.
    const base = path.dirname(lowerDirs[0]!);
    const allShareBase = lowerDirs.every((d) => path.dirname(d) === base);
    const lowers = allShareBase ? lowerDirs.map((d) => path.basename(d)) : lowerDirs;
    // No redirect_dir or metacopy: the upper layer must hold whole files and real directories for diff and commit.
    const opts = `lowerdir=${lowers.join(":")},upperdir=${layer.upper},workdir=${layer.work},redirect_dir=off,metacopy=off`;
    r = spawnSync("mount", ["-t", "overlay", "overlay", "-o", opts, layer.merged], { encoding: "utf8", cwd: allShareBase ? base : undefined });
  }
  if (r.status !== 0) {
    throw systemError(`mount overlay on ${layer.merged}`, (r.stderr || r.error?.message || "mount failed").trim());
  }
}

export function unmount(target: string): void {
  if (!isMounted(target)) return;
  const r = spawnSync("umount", [target], { encoding: "utf8" });
  if (r.status !== 0 && isMounted(target)) {
    // Busy (a process still holds it): detach lazily rather than leak the mount.
    const lazy = spawnSync("umount", ["-l", target], { encoding: "utf8" });
    if (lazy.status !== 0 && isMounted(target)) throw systemError(`unmount ${target}`, (r.stderr || "umount failed").trim());
  }
}

/**
 * Mount points strictly below dir, deepest first. Never dir itself: a state
 * root may be a file system of its own that must stay mounted.
 */
function mountsBelow(dir: string): string[] {
  const root = path.resolve(dir);
  return mountPoints()
    .filter((m) => m.startsWith(root + "/"))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts everything below dir, deepest first, lazily where busy; best effort. */
export function unmountBelow(dir: string): void {
  for (const m of mountsBelow(dir)) {
    try {
      unmount(m);
    } catch {
      /* still busy after a lazy unmount: the caller's rm will say so */
    }
  }
}


/** Containers' root file systems as snapshots (see snapshotter.ts): the key is the container's directory. */
export class OverlaySnapshotter implements Snapshotter {
  /** Makes the writable layer (idempotent) and mounts it over the image's layers, unless mounted already. */
  async prepare(key: string, parent: string[]): Promise<{ type: "overlay"; target: string }> {
    const layer = prepareRwLayer(key);
    mountOverlay(parent, layer);
    return { type: "overlay", target: layer.merged };
  }

  /** The container's changes: what commit packs and diff lists. */
  upperDir(key: string): string {
    return rwLayerPaths(key).upper;
  }

  usage(key: string): number {
    return dirSize(this.upperDir(key));
  }

  remove(key: string): void {
    const layer = rwLayerPaths(key);
    unmount(layer.merged);
    for (const d of [layer.merged, layer.work, layer.upper]) fs.rmSync(d, { recursive: true, force: true });
  }
}

export const overlaySnapshotter = new OverlaySnapshotter();
