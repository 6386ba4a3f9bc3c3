// How images leave: `rmi` (docker's rules on names, forcing and images in
// use), `image prune`, and the garbage collection behind both: a deleted
// image's layers and blobs go when no other image uses them.
import fs from "node:fs";
import path from "node:path";
import type { ImageRecord } from "../types/records.ts";
import type { Paths } from "../types/paths.ts";
import type { ContainerStore } from "../store/containers.ts";
import type { ImageRows } from "../store/images.ts";
import { removeBaseDisk } from "../snapshot/vm-disk.ts";
import { conflict } from "../util/errors.ts";
import type { ContentStore } from "./content.ts";
import type { ImageLookup } from "./lookup.ts";
import { familiarString, parseReference, referenceString, repositoryName, withDefaultTag } from "./reference.ts";
import { shortId } from "../util/ids.ts";

export type RemoveResult = { Untagged?: string; Deleted?: string }[];

export class ImageRemoval {
  constructor(
    private readonly rows: ImageRows,
    private readonly content: ContentStore,
    private readonly paths: Pick<Paths, "layers" | "vmDisks">,
    private readonly lookup: ImageLookup,
    private readonly containers: ContainerStore,
    private readonly event: (action: string, id: string, name?: string) => void,
  ) {}

  /** untag/delete events for what a removal did (docker's actor: the image id, the tag as name). */
  private removalEvents(imageId: string, result: RemoveResult): RemoveResult {
    for (const r of result) {
      if (r.Untagged) this.event("untag", imageId, r.Untagged);
      else if (r.Deleted === imageId) this.event("delete", imageId);
    }
    return result;
  }

  /** A container using the image, if any (a running one first), and whether it runs. */
  private usedBy(imageId: string): { id: string; running: boolean } | undefined {
    const users = this.containers.usersOfImage(imageId);
    return users.find((u) => u.running) ?? users[0];
  }

  remove(refOrId: string, opts: { force?: boolean; noPrune?: boolean } = {}): RemoveResult {
    const img = this.lookup.resolve(refOrId);
    return this.removalEvents(img.id, this.removeResolved(refOrId, img, opts));
  }

  private removeResolved(refOrId: string, img: ImageRecord, opts: { force?: boolean }): RemoveResult {
    const byTag = this.tagNamed(refOrId, img);
    const user = this.usedBy(img.id);
    const out: RemoveResult = [];
    const untag = (ref: string): void => {
      this.rows.deleteRef(ref);
      out.push({ Untagged: familiarString(ref) });
    };
    if (byTag) {
      const others = img.repoTags.filter((t) => t !== byTag);
      if (others.length > 0) {
        untag(byTag);
        return out;
      }
      if (user && !opts.force) {
        throw conflict(`conflict: unable to remove repository reference "${refOrId}" (must force) - container ${shortId(user.id)} is using its referenced image ${shortId(img.id)}`);
      }
      untag(byTag);
      for (const d of img.repoDigests) untag(d);
      if (user) return out; // forced: the name goes, the image stays for its container
      return [...out, ...this.deleteImage(img.id).deleted];
    }
    if (user) {
      if (user.running) throw conflict(`conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image is being used by running container ${shortId(user.id)}`);
      if (!opts.force) throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is being used by stopped container ${shortId(user.id)}`);
    }
    const repos = new Set(img.repoTags.map((t) => repositoryName(parseReference(t))));
    if (repos.size > 1 && !opts.force) {
      throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`);
    }
    for (const t of [...img.repoTags, ...img.repoDigests]) untag(t);
    if (user) return out;
    return [...out, ...this.deleteImage(img.id).deleted];
  }

  /** The stored tag that refOrId names when it was given as a name (not an ID). */
  private tagNamed(refOrId: string, img: ImageRecord): string | undefined {
    const s = refOrId.trim();
    if (s.startsWith("sha256:")) return undefined;
    try {
      const ref = parseReference(s);
      if (ref.digest !== undefined) return undefined;
      const full = referenceString(withDefaultTag(ref));
      return img.repoTags.includes(full) ? full : undefined;
    } catch {
      return undefined;
    }
  }

  /** Deletes an image and whatever of its layers and blobs nothing else uses; under the write lock. */
  private deleteImage(id: string): { deleted: RemoveResult; reclaimed: number } {
    const deleted: RemoveResult = [];
    let reclaimed = 0;
    this.rows.writeLocked(() => {
      const gone = this.rows.deleteImage(id);
      if (!gone) return;
      deleted.push({ Deleted: id });
      for (const l of gone.orphans) {
        if (l.dir !== undefined) {
          fs.rmSync(path.join(this.paths.layers, l.dir), { recursive: true, force: true });
          // A VM's base disk made from this layer chain goes with it.
          removeBaseDisk(this.paths, l.dir);
          reclaimed += l.size;
        }
        deleted.push({ Deleted: l.chainId });
      }
      for (const d of [id, gone.manifestDigest, ...gone.blobDigests]) {
        if (d && !this.rows.blobReferenced(d)) this.content.remove(d);
      }
    });
    return { deleted, reclaimed };
  }

  prune(opts: { all?: boolean } = {}): { ImagesDeleted: RemoveResult; SpaceReclaimed: number } {
    const out: RemoveResult = [];
    let reclaimed = 0;
    // Removing an image can leave its (intermediate) parent dangling: repeat until nothing changes.
    for (let progress = true; progress; ) {
      progress = false;
      for (const img of this.lookup.list()) {
        if (!opts.all && img.repoTags.length > 0) continue;
        if (this.usedBy(img.id)) continue;
        const mine: RemoveResult = [];
        for (const t of [...img.repoTags, ...img.repoDigests]) {
          this.rows.deleteRef(t);
          mine.push({ Untagged: familiarString(t) });
        }
        const r = this.deleteImage(img.id);
        out.push(...this.removalEvents(img.id, [...mine, ...r.deleted]));
        reclaimed += r.reclaimed;
        progress = true;
      }
    }
    reclaimed += this.collectGarbage();
    return { ImagesDeleted: out, SpaceReclaimed: reclaimed };
  }

  /**
   * Removes layer dirs without a row and blobs nothing references (left by a
   * crash between publish and commit, which a transaction cannot cover).
   */
  collectGarbage(): number {
    let reclaimed = 0;
    this.rows.writeLocked(() => {
      const dirs = this.rows.layerDirs();
      let names: string[] = [];
      try {
        names = fs.readdirSync(this.paths.layers);
      } catch {
        /* no layers yet */
      }
      for (const n of names) if (!dirs.has(n)) fs.rmSync(path.join(this.paths.layers, n), { recursive: true, force: true });
      for (const d of this.content.list()) {
        if (!this.rows.blobReferenced(d)) {
          reclaimed += this.content.size(d);
          this.content.remove(d);
        }
      }
    });
    return reclaimed;
  }
}
