// The SDK facade. Every front end (CLI, API server, SDK users) goes through
// this class; nothing else reaches into the store, the image store or the runtime.
import { openDb, type DB } from "../store/db.ts";
import { ContainerStore } from "../store/containers.ts";
import { ImageStore } from "../image/store.ts";
import { Images } from "./images.ts";
import type { EngineApi } from "../types/engine-api.ts";
import type { BuildOptions, BuildResult } from "../types/build.ts";
import type { HostConfig } from "../types/records.ts";
import type { Ctx } from "./containers/context.ts";
import { Containers } from "./containers/service.ts";
import { recoverAfterReboot } from "./containers/recover.ts";
import { resolvePaths, type Paths } from "../types/paths.ts";
import { System } from "./system.ts";
import { VolumeStore } from "./volumes.ts";
import { Networks } from "../network/service.ts";
import { hostsFile } from "./containers/bundle.ts";
import { EventJournal } from "../events/journal.ts";
import { CapsaError } from "../util/errors.ts";

export interface EngineOptions {
  /** State root (default $CAPSA_ROOT or /var/lib/capsa). */
  root?: string;
  /** Run root (default $CAPSA_RUNROOT, <root>/run for a custom root, else /run/capsa). */
  runRoot?: string;
}

/**
 * The image builder (src/builder). It is a client of the engine, above it in
 * the layers, so the engine knows only its shape: the SDK's entry and the CLI
 * hand it in (Engine.useBuilder), to be loaded on a build's first use.
 */
export interface ImageBuilder {
  build(engine: Engine, opts: BuildOptions): Promise<BuildResult>;
  pruneBuildCache(root: string): { CachesDeleted: string[]; SpaceReclaimed: number };
}

export class Engine implements EngineApi {
  readonly paths: Paths;
  readonly db: DB;
  readonly images: Images;
  readonly volumes: VolumeStore;
  readonly containers: Containers;
  readonly system: System;
  readonly networks: Networks;
  /** What every front end did, for `GET /events` (events.ts). */
  readonly events: EventJournal;

  private constructor(paths: Paths, db: DB) {
    this.paths = paths;
    this.db = db;
    const store = new ContainerStore(db);
    const imageStore = new ImageStore(db, paths);
    this.volumes = new VolumeStore(db, paths);
    this.volumes.usersOf = (name) => store.list().filter((c) => usesVolume(c.hostConfig, name)).map((c) => c.name);
    this.events = new EventJournal(paths.events);
    this.volumes.events = this.events;
    imageStore.events = this.events;
    this.images = new Images(imageStore, this.events);
    const ctx = { paths, db, store, images: imageStore, volumes: this.volumes, events: this.events } as Ctx;
    ctx.networks = this.networks = new Networks({ paths, db, containers: store, baseHosts: hostsFile });
    recoverAfterReboot(ctx);
    this.containers = new Containers(ctx);
    this.system = new System(ctx, this.containers);
  }

  static open(opts: EngineOptions = {}): Engine {
    const paths = resolvePaths(opts);
    return new Engine(paths, openDb(paths.db));
  }

  close(): void {
    this.db.close();
  }

  private static loadBuilder: (() => Promise<ImageBuilder>) | undefined;

  /** Sets how build() and pruneBuildCache() load the image builder, for every engine of this process. */
  static useBuilder(load: () => Promise<ImageBuilder>): void {
    Engine.loadBuilder = load;
  }

  private async builder(): Promise<ImageBuilder> {
    if (!Engine.loadBuilder) throw new CapsaError("system", "no image builder: open the engine through capsa's SDK entry or its CLI, which provide it");
    return Engine.loadBuilder();
  }

  async build(opts: BuildOptions): Promise<BuildResult> {
    return (await this.builder()).build(this, opts);
  }

  async pruneBuildCache(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    return (await this.builder()).pruneBuildCache(this.paths.root);
  }
}

function usesVolume(h: HostConfig, name: string): boolean {
  return (h.Binds ?? []).some((b) => b.split(":")[0] === name) || (h.Mounts ?? []).some((m) => m.Type === "volume" && m.Source === name);
}
