// Scratch file systems for COPY/ADD and for reading other stages: the image's
// layers overlay-mounted under a private writable layer in the state root's
// tmp dir. The upper dir becomes the step's layer; everything is unmounted and
// removed when the step ends, whatever happens.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { mountOverlay, prepareRwLayer, unmount, type RwLayer } from "../snapshot/overlay.ts";
import { isMounted } from "../util/mounts.ts";

export interface LayerStore {
  layerDirs(imageId: string): string[];
}

export class ScratchRootfs {
  readonly layer: RwLayer;
  private constructor(readonly dir: string) {
    this.layer = prepareRwLayer(dir);
  }

  /** Mounts imageId's layers (none for scratch) under a fresh writable layer. */
  static mount(images: LayerStore, tmpRoot: string, imageId: string | null): ScratchRootfs {
    fs.mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
    const dir = path.join(tmpRoot, `build-${process.pid}-${crypto.randomBytes(6).toString("hex")}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    const r = new ScratchRootfs(dir);
    try {
      fs.chmodSync(r.layer.upper, 0o755);
      mountOverlay(imageId ? images.layerDirs(imageId) : [], r.layer);
    } catch (e) {
      r.release();
      throw e;
    }
    return r;
  }

  get root(): string {
    return this.layer.merged;
  }

  /** Unmounts (the upper dir stays readable until release). */
  unmount(): void {
    if (isMounted(this.layer.merged)) unmount(this.layer.merged);
  }

  release(): void {
    try {
      this.unmount();
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Unmounts and removes scratch dirs (`build-<pid>-*`) of builds whose process is gone (killed with SIGKILL, a crash). */
export function removeStaleScratch(tmpRoot: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(tmpRoot);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^build-(\d+)-/.exec(n);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    const dir = path.join(tmpRoot, n);
    const merged = path.join(dir, "rootfs");
    try {
      if (isMounted(merged)) unmount(merged);
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* still busy: a later build retries */
    }
  }
}
