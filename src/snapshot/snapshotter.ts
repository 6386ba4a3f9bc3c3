// Snapshotters: where a container's writable root file system comes from, in
// the spirit of containerd's (prepare a writable snapshot over a parent,
// measure it, remove it), sized to what capsa does. A snapshot's key is the
// directory it lives in (the container's own); its parent is an image's
// unpacked layer directories, topmost first (src/image owns those).
//
//   overlay.ts  containers: overlayfs upper and work dirs, mounted on <key>/rootfs
//   vm-disk.ts  VMs: an ext4 base per layer chain, shared read-only, under a
//               qcow2 overlay per container that the VM attaches as its disk
//
// Left out on purpose: commit and diff. capsa commits by packing an overlay's
// upper dir (the image store's commitLayer), which only the overlay has
// (OverlaySnapshotter.upperDir); a VM's writes sit inside a qcow2 image the
// host cannot read without mounting it, so VM containers refuse commit, diff,
// export and cp.

/** What a prepared snapshot is handed to a runtime as. */
export type SnapshotMount =
  /** A directory on the host: the container's root file system, mounted. */
  | { type: "overlay"; target: string }
  /** A disk image for a VM to attach (the guest mounts it). */
  | { type: "disk"; source: string };

export interface Snapshotter {
  /** The writable snapshot `key` over `parent`: made on first use, reused (and remounted where needed) after. */
  prepare(key: string, parent: string[]): Promise<SnapshotMount>;
  /** Bytes written into the snapshot (docker's SizeRw); 0 when there is none. */
  usage(key: string): number;
  /** Unmounts and deletes the snapshot's files; the key's directory stays for its other files. Idempotent. */
  remove(key: string): void;
}
