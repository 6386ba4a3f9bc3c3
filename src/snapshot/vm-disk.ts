// A VM's root file system as a snapshot (see snapshotter.ts): the image's
// layers as one ext4 file system (the base, made once per layer chain and
// shared by every VM of the image), under a qcow2 overlay per container that
// takes the VM's writes. The overlay lives in the container's directory, so a
// stopped and restarted VM keeps its writes, as a container keeps its upper
// layer; `rm` removes it.
//
// Why a block device rather than virtio-fs for the root: the guest kernel's
// own ext4 gives the workload exactly the file system semantics it expects
// (ownership, devices, xattrs, mmap, locks) with no host process per VM,
// and it starts faster (no virtiofsd in the boot path). See docs/decisions/0007.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { Paths } from "../types/paths.ts";
import { systemError } from "../util/errors.ts";
import { dirSize } from "./dir-size.ts";
import type { Snapshotter } from "./snapshotter.ts";

const run = promisify(execFile);

/** Free space the guest gets on top of the image's content (the file is sparse: unused space costs nothing). */
const HEADROOM_BYTES = 4 * 1024 ** 3;

function baseDiskPath(paths: Pick<Paths, "vmDisks">, topLayerDir: string): string {
  return path.join(paths.vmDisks, `${path.basename(topLayerDir)}.ext4`);
}

/** Removes the base made from a layer chain (its top layer's directory), if any: the image store calls it when the layer goes. */
export function removeBaseDisk(paths: Pick<Paths, "vmDisks">, topLayerDir: string): void {
  fs.rmSync(baseDiskPath(paths, topLayerDir), { force: true });
}

/** The ext4 base of an image (layer dirs topmost first), made on first use. */
async function ensureBaseDisk(paths: Pick<Paths, "vmDisks" | "tmp">, layerDirs: string[]): Promise<string> {
  if (!layerDirs.length) throw systemError("prepare VM disk", new Error("the image has no layers"));
  const base = baseDiskPath(paths, layerDirs[0]!);
  if (fs.existsSync(base)) return base;
  fs.mkdirSync(paths.vmDisks, { recursive: true });
  fs.mkdirSync(paths.tmp, { recursive: true });
  const tmp = `${base}.${process.pid}.tmp`;
  // One layer is already the whole tree; several are merged by a read-only overlay mount.
  let source = layerDirs[0]!;
  let mnt: string | undefined;
  try {
    if (layerDirs.length > 1) {
      mnt = fs.mkdtempSync(path.join(paths.tmp, "vmdisk-"));
      await run("mount", ["-t", "overlay", "overlay", "-o", `ro,lowerdir=${layerDirs.join(":")}`, mnt]);
      source = mnt;
    }
    const size = Math.ceil((dirSize(source) * 1.2 + HEADROOM_BYTES) / (1024 * 1024));
    fs.rmSync(tmp, { force: true });
    // mke2fs copies the tree with owners, modes, devices, symlinks, hard links and xattrs.
    await run("mkfs.ext4", ["-q", "-F", "-L", "capsa-root", "-E", "lazy_itable_init=1,lazy_journal_init=1", "-d", source, tmp, `${size}M`]);
    fs.renameSync(tmp, base);
    return base;
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw systemError("prepare VM disk", e);
  } finally {
    if (mnt) {
      await run("umount", [mnt]).catch(() => undefined);
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  }
}

const containerDiskPath = (containerDir: string): string => path.join(containerDir, "vm-disk.qcow2");

/** The container's writable disk (a qcow2 overlay on the base), made at its first start. */
async function ensureContainerDisk(containerDir: string, base: string): Promise<string> {
  const disk = containerDiskPath(containerDir);
  if (fs.existsSync(disk)) return disk;
  const tmp = `${disk}.tmp`;
  try {
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, tmp]);
    fs.renameSync(tmp, disk);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw systemError("create the VM's disk", e);
  }
  return disk;
}

/** VMs' root disks as snapshots: the key is the container's directory. */
export class VmDiskSnapshotter implements Snapshotter {
  constructor(private readonly paths: Pick<Paths, "vmDisks" | "tmp">) {}

  /** The base for the image's layers (made once per chain), then the container's qcow2 overlay on it. */
  async prepare(key: string, parent: string[]): Promise<{ type: "disk"; source: string }> {
    const base = await ensureBaseDisk(this.paths, parent);
    return { type: "disk", source: await ensureContainerDisk(key, base) };
  }

  /** The bytes the overlay holds on the host (qcow2 allocates as the guest writes). */
  usage(key: string): number {
    try {
      return fs.statSync(containerDiskPath(key)).size;
    } catch {
      return 0;
    }
  }

  remove(key: string): void {
    fs.rmSync(containerDiskPath(key), { force: true });
  }
}
