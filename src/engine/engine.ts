// The SDK facade. Every front end (CLI, API server, SDK users) goes through
// this class; nothing else reaches into the store, the image store or the runtime.
import { openDb, type DB } from "../store/db.ts";
import { ContainerStore } from "../store/containers.ts";
import { ImageStore } from "../image/store.ts";
import { Images } from "./images.ts";
import type { EngineApi } from "../types/engine-api.ts";
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

export interface EngineOptions {
  /** State root (default $CAPSA_ROOT or /var/lib/capsa). */
  root?: string;
  /** Run root (default $CAPSA_RUNROOT, <root>/run for a custom root, else /run/capsa). */
  runRoot?: string;
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
}

function usesVolume(h: HostConfig, name: string): boolean {
  return (h.Binds ?? []).some((b) => b.split(":")[0] === name) || (h.Mounts ?? []).some((m) => m.Type === "volume" && m.Source === name);
}
