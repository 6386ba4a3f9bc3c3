// What the container verbs share: paths, stores, and where each container's
// files live. Persistent per-container files sit in <root>/containers/<id>;
// files that die with the host (exit code, monitor pid) in <runRoot>/containers/<id>.
import fs from "node:fs";
import path from "node:path";
import type { DB } from "../../store/db.ts";
import type { ContainerStore } from "../../store/containers.ts";
import type { Paths } from "../../types/paths.ts";
import type { ImageStore } from "../../image/store.ts";
import type { VolumeStore } from "../volumes.ts";
import type { Networks } from "../../network/service.ts";
import type { EventJournal } from "../../events/journal.ts";
import type { ContainerRecord } from "../../types/records.ts";
export { pidAlive } from "../../util/process.ts";

export interface Ctx {
  paths: Paths;
  db: DB;
  store: ContainerStore;
  images: ImageStore;
  volumes: VolumeStore;
  /** Set by the engine right after the context is made (networks need the context too). */
  networks: Networks;
  events: EventJournal;
}

/** A container event with docker's actor attributes: name, image and the container's labels. */
export function containerEvent(ctx: Ctx, c: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
  ctx.events.record("container", action, c.id, { ...(c.config.Labels ?? {}), image: c.config.Image ?? "", name: c.name, ...extra });
}

export function containerDir(ctx: Ctx, id: string): string {
  return path.join(ctx.paths.containers, id);
}

/** conmon's persist dir: `exit`, `oom`, pid files. */
export function persistDir(ctx: Ctx, id: string): string {
  return path.join(ctx.paths.runRoot, "containers", id);
}

export function logPath(ctx: Ctx, id: string): string {
  return path.join(containerDir(ctx, id), "ctr.log");
}

export function exitFile(ctx: Ctx, id: string): string {
  return path.join(ctx.paths.exits, id);
}

export function ensureRunDirs(ctx: Ctx, id: string): void {
  for (const d of [ctx.paths.exits, ctx.paths.sockets, ctx.paths.runtimeRoot, persistDir(ctx, id)]) {
    fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  }
}

export function readIntFile(file: string): number | undefined {
  try {
    const v = Number.parseInt(fs.readFileSync(file, "utf8").trim(), 10);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}

/** docker's zero time, used for FinishedAt/StartedAt before they happen. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

