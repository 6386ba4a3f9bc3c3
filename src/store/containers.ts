// Container rows: the record the engine keeps, as JSON columns plus the few
// fields that queries need (name uniqueness, image in use).
import type { DB } from "./db.ts";
import type { ContainerRecord, ContainerState } from "../types/records.ts";
import { conflict, invalid, notFound } from "../util/errors.ts";
import { whenFullRetry } from "./check.ts";

interface Row {
  id: string;
  name: string;
  image_id: string;
  image_ref: string;
  created: string;
  config: string;
  host_config: string;
  state: string;
  restart_count: number;
  stopped_by_user: number;
  monitor_pid: number;
  runtime: string;
}

function fromRow(r: Row): ContainerRecord {
  return {
    id: r.id,
    name: r.name,
    imageId: r.image_id,
    imageRef: r.image_ref,
    created: r.created,
    config: JSON.parse(r.config) as ContainerRecord["config"],
    hostConfig: JSON.parse(r.host_config) as ContainerRecord["hostConfig"],
    state: JSON.parse(r.state) as ContainerState,
    restartCount: r.restart_count,
    stoppedByUser: r.stopped_by_user !== 0,
    monitorPid: r.monitor_pid,
    runtime: r.runtime,
  };
}

export class ContainerStore {
  constructor(private readonly db: DB) {}

  insert(c: ContainerRecord): void {
    try {
      this.db
        .prepare(
          `INSERT INTO containers (id, name, image_id, image_ref, created, config, host_config, state, restart_count, stopped_by_user, monitor_pid, runtime)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(c.id, c.name, c.imageId, c.imageRef, c.created, JSON.stringify(c.config), JSON.stringify(c.hostConfig), JSON.stringify(c.state), c.restartCount, c.stoppedByUser ? 1 : 0, c.monitorPid, c.runtime);
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") {
        const other = this.db.prepare("SELECT id FROM containers WHERE name = ?").get(c.name) as { id: string } | undefined;
        throw conflict(`Conflict. The container name "/${c.name}" is already in use by container "${other?.id ?? "?"}". You have to remove (or rename) that container to be able to reuse that name.`);
      }
      throw e;
    }
  }

  /** Finds by full id, unique id prefix, or name (with or without the leading slash). */
  find(idOrName: string): ContainerRecord | undefined {
    const key = idOrName.startsWith("/") ? idOrName.slice(1) : idOrName;
    const byName = this.db.prepare("SELECT * FROM containers WHERE name = ? OR id = ?").get(key, key) as Row | undefined;
    if (byName) return fromRow(byName);
    if (!/^[0-9a-f]{1,64}$/.test(key)) return undefined;
    const rows = this.db.prepare("SELECT * FROM containers WHERE id LIKE ? LIMIT 2").all(key + "%") as Row[];
    if (rows.length > 1) throw invalid(`multiple IDs found with provided prefix: ${key}`);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  get(idOrName: string): ContainerRecord {
    const c = this.find(idOrName);
    if (!c) throw notFound(`No such container: ${idOrName}`);
    return c;
  }

  list(): ContainerRecord[] {
    return (this.db.prepare("SELECT * FROM containers ORDER BY created DESC, rowid DESC").all() as Row[]).map(fromRow);
  }

  /** Read-modify-write of one container's record inside a write transaction. */
  mutate<T>(id: string, fn: (c: ContainerRecord) => T): T {
    return this.db
      .transaction(() => {
        const row = this.db.prepare("SELECT * FROM containers WHERE id = ?").get(id) as Row | undefined;
        if (!row) throw notFound(`No such container: ${id}`);
        const c = fromRow(row);
        const out = fn(c);
        this.db
          .prepare("UPDATE containers SET name = ?, state = ?, restart_count = ?, stopped_by_user = ?, monitor_pid = ?, host_config = ?, config = ? WHERE id = ?")
          .run(c.name, JSON.stringify(c.state), c.restartCount, c.stoppedByUser ? 1 : 0, c.monitorPid, JSON.stringify(c.hostConfig), JSON.stringify(c.config), id);
        return out;
      })
      .immediate();
  }

  rename(id: string, newName: string): void {
    try {
      this.db.prepare("UPDATE containers SET name = ? WHERE id = ?").run(newName, id);
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") {
        throw conflict(`Conflict. The container name "/${newName}" is already in use. You have to remove (or rename) that container to be able to reuse that name.`);
      }
      throw e;
    }
  }

  delete(id: string): void {
    // Deleting must work on a full disk too (a failed `run --rm` must not leave its record).
    whenFullRetry(this.db, () => this.db.prepare("DELETE FROM containers WHERE id = ?").run(id));
  }

  /** The containers made from an image, and whether each is running. */
  usersOfImage(imageId: string): { id: string; running: boolean }[] {
    const rows = this.db.prepare("SELECT id, state FROM containers WHERE image_id = ?").all(imageId) as { id: string; state: string }[];
    return rows.map((r) => {
      let running = false;
      try {
        running = !!(JSON.parse(r.state) as ContainerState).Running;
      } catch {
        /* unreadable state counts as stopped */
      }
      return { id: r.id, running };
    });
  }
}
