// Named volumes: directories under <root>/volumes/<name>/_data, as docker's
// local driver lays them out, with their metadata in the store.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { DB } from "../store/db.ts";
import { VolumeRows, type VolumeRow } from "../store/volumes.ts";
import type { VolumeApi } from "../types/engine-api.ts";
import type { Paths } from "../types/paths.ts";
import type { VolumeRecord } from "../types/records.ts";
import type { EventJournal } from "../events/journal.ts";
import { conflict, invalid, notFound } from "../util/errors.ts";
import { dirSize } from "../snapshot/dir-size.ts";
import { labelMatches } from "../util/label-filter.ts";

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The label of anonymous volumes (a container's VOLUME or `-v /path`, or one created without a name): prune without `all` takes only these. */
export const ANONYMOUS_LABEL = "capsa.volume.anonymous";
/** dockerd's own mark of an anonymous volume, honoured when a client sets it. */
const DOCKER_ANONYMOUS_LABEL = "com.docker.volume.anonymous";

export class VolumeStore implements VolumeApi {
  /** Set by the engine: names of containers using a volume (for rm and prune). */
  usersOf: (name: string) => string[] = () => [];
  /** Set by the engine: where create and destroy are recorded. */
  events?: EventJournal;

  private readonly rows: VolumeRows;

  constructor(
    db: DB,
    private readonly paths: Paths,
  ) {
    this.rows = new VolumeRows(db);
  }

  private record(r: VolumeRow): VolumeRecord {
    return {
      Name: r.name,
      Driver: "local",
      Mountpoint: this.dataPath(r.name),
      CreatedAt: r.created,
      Labels: JSON.parse(r.labels) as Record<string, string>,
      Options: JSON.parse(r.options) as Record<string, string>,
      Scope: "local",
    };
  }

  dataPath(name: string): string {
    return path.join(this.paths.volumes, name, "_data");
  }

  create(opts: { name?: string; labels?: Record<string, string>; options?: Record<string, string> } = {}): VolumeRecord {
    const name = opts.name ?? crypto.randomBytes(32).toString("hex");
    // As dockerd (23+): a volume created without a name is anonymous, so a plain prune takes it.
    const labels = opts.name === undefined ? { [ANONYMOUS_LABEL]: "true", ...opts.labels } : opts.labels;
    if (!NAME_RE.test(name)) {
      throw invalid(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
    }
    const existing = this.rows.get(name);
    if (existing) return this.record(existing); // docker: creating an existing volume is a no-op
    fs.mkdirSync(this.dataPath(name), { recursive: true, mode: 0o755 });
    const row: VolumeRow = { name, created: new Date().toISOString(), labels: JSON.stringify(labels ?? {}), options: JSON.stringify(opts.options ?? {}) };
    this.rows.insert(row);
    this.events?.record("volume", "create", name, { driver: "local" });
    return this.inspect(name);
  }

  /** The data directory of a named volume, created on first use as docker does. */
  ensure(name: string): string {
    return this.create({ name }).Mountpoint;
  }

  list(opts: { filters?: Record<string, string[]> } = {}): VolumeRecord[] {
    let vols = this.rows.all().map((r) => this.record(r));
    const f = opts.filters ?? {};
    if (f.name?.length) vols = vols.filter((v) => f.name!.some((n) => v.Name.includes(n)));
    if (f.label?.length) vols = vols.filter((v) => f.label!.every((l) => labelMatches(v.Labels, l)));
    if (f.dangling?.length) {
      const want = f.dangling[0] === "true" || f.dangling[0] === "1";
      vols = vols.filter((v) => (this.usersOf(v.Name).length === 0) === want);
    }
    return vols;
  }

  inspect(name: string): VolumeRecord {
    const r = this.rows.get(name);
    if (!r) throw notFound(`get ${name}: no such volume`);
    return this.record(r);
  }

  remove(name: string, opts: { force?: boolean } = {}): void {
    const r = this.rows.get(name);
    if (!r) {
      if (opts.force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    const users = this.usersOf(name);
    if (users.length) throw conflict(`remove ${name}: volume is in use - [${users.join(", ")}]`);
    this.rows.delete(name);
    fs.rmSync(path.join(this.paths.volumes, name), { recursive: true, force: true });
    this.events?.record("volume", "destroy", name, { driver: "local" });
  }

  prune(opts: { all?: boolean } = {}): { VolumesDeleted: string[]; SpaceReclaimed: number } {
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.list()) {
      if (this.usersOf(v.Name).length) continue;
      // docker prunes only anonymous volumes unless --all.
      if (!opts.all && v.Labels[ANONYMOUS_LABEL] !== "true" && !(DOCKER_ANONYMOUS_LABEL in v.Labels)) continue;
      space += dirSize(path.join(this.paths.volumes, v.Name));
      this.remove(v.Name);
      deleted.push(v.Name);
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: space };
  }
}
