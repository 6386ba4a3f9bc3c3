// The engine's image verbs (ImageApi): the local ones are the image store's;
// pull, push, login and logout go through the registry client, which writes
// into the image store. The store itself never reaches for the network.
import type { Readable, Writable } from "node:stream";
import type { ImageApi } from "../types/engine-api.ts";
import type { ImageConfig, ImageRecord } from "../types/records.ts";
import type { LoginOptions, PullOptions, PushOptions, PushResult } from "../types/registry.ts";
import type { EventJournal } from "../events/journal.ts";
import { familiarString } from "../image/reference.ts";
import type { CommitLayerOptions, ImageStore } from "../image/store.ts";
import type { Registry } from "../registry/registry.ts";

export class Images implements ImageApi {
  constructor(
    /** The local store (the engine's verbs use it directly). */
    readonly store: ImageStore,
    private readonly events: EventJournal,
  ) {}

  // ---- local: the image store ------------------------------------------

  importRootfs(source: Readable, opts?: { ref?: string; changes?: string[]; message?: string }): Promise<ImageRecord> {
    return this.store.importRootfs(source, opts);
  }

  load(source: Readable): Promise<string[]> {
    return this.store.load(source);
  }

  save(refs: string[], dest: Writable, format?: "docker-archive" | "oci-archive"): Promise<void> {
    return this.store.save(refs, dest, format);
  }

  list(opts?: { all?: boolean; filters?: Record<string, string[]> }): ImageRecord[] {
    return this.store.list(opts);
  }

  sharedSizes(): Map<string, number> {
    return this.store.sharedSizes();
  }

  inspect(refOrId: string): ImageRecord {
    return this.store.inspect(refOrId);
  }

  tag(source: string, target: string): void {
    this.store.tag(source, target);
  }

  remove(refOrId: string, opts?: { force?: boolean; noPrune?: boolean }): { Untagged?: string; Deleted?: string }[] {
    return this.store.remove(refOrId, opts);
  }

  history(refOrId: string): ReturnType<ImageApi["history"]> {
    return this.store.history(refOrId);
  }

  prune(opts?: { all?: boolean }): ReturnType<ImageApi["prune"]> {
    return this.store.prune(opts);
  }

  // What the builder needs besides ImageApi: lookups, layers and the two kinds of build step.

  resolve(refOrId: string): ImageRecord {
    return this.store.resolve(refOrId);
  }

  tryResolve(refOrId: string): ImageRecord | undefined {
    return this.store.tryResolve(refOrId);
  }

  /** Unpacked layer directories of an image, topmost first. */
  layerDirs(imageId: string): string[] {
    return this.store.layerDirs(imageId);
  }

  commitLayer(opts: CommitLayerOptions): Promise<ImageRecord> {
    return this.store.commitLayer(opts);
  }

  commitConfig(opts: { parentImageId: string | null; config: ImageConfig; createdBy: string; ref?: string }): Promise<ImageRecord> {
    return this.store.commitConfig(opts);
  }

  // ---- remote: the registry client, loaded on first use -----------------

  private async withRegistry<T>(fn: (r: Registry) => Promise<T>): Promise<T> {
    const { Registry } = await import("../registry/registry.ts");
    const r = new Registry(this.store);
    try {
      return await fn(r);
    } finally {
      r.close();
    }
  }

  private remoteEvent(action: "pull" | "push", ref: string): void {
    const name = familiarString(ref);
    this.events.record("image", action, name, { name });
  }

  /** `docker pull`: see src/registry. */
  async pull(ref: string, opts: PullOptions = {}): Promise<ImageRecord> {
    const img = await this.withRegistry((r) => r.pull(ref, opts));
    this.remoteEvent("pull", ref);
    return img;
  }

  /** `docker pull --all-tags`. */
  async pullAllTags(repository: string, opts: PullOptions = {}): Promise<ImageRecord[]> {
    const imgs = await this.withRegistry((r) => r.pullAllTags(repository, opts));
    this.remoteEvent("pull", repository);
    return imgs;
  }

  /** `docker push`: dest defaults to the local name. */
  async push(localRef: string, destRef?: string, opts: PushOptions = {}): Promise<PushResult> {
    const pushed = await this.withRegistry((r) => r.push(localRef, destRef, opts));
    this.remoteEvent("push", destRef ?? localRef);
    return pushed;
  }

  /** `docker login`: checks the credentials against the registry, then stores them. */
  login(registry: string | undefined, creds: LoginOptions): Promise<void> {
    return this.withRegistry((r) => r.login(registry, creds));
  }

  /** `docker logout`: false when no credentials were stored for it. */
  logout(registry: string | undefined): Promise<boolean> {
    return this.withRegistry((r) => r.logout(registry));
  }
}
