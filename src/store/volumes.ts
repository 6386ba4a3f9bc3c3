// Volume rows: a named volume's creation time, labels and driver options. Its
// data directory belongs to the engine's volume verbs.
import type { DB } from "./db.ts";

export interface VolumeRow {
  name: string;
  created: string;
  /** JSON objects. */
  labels: string;
  options: string;
}

export class VolumeRows {
  constructor(private readonly db: DB) {}

  get(name: string): VolumeRow | undefined {
    return this.db.prepare("SELECT * FROM volumes WHERE name = ?").get(name) as VolumeRow | undefined;
  }

  /** By name. */
  all(): VolumeRow[] {
    return this.db.prepare("SELECT * FROM volumes ORDER BY name").all() as VolumeRow[];
  }

  /** Inserts the row unless a volume of that name exists. */
  insert(row: VolumeRow): void {
    this.db.prepare("INSERT OR IGNORE INTO volumes (name, created, labels, options) VALUES (?, ?, ?, ?)").run(row.name, row.created, row.labels, row.options);
  }

  delete(name: string): void {
    this.db.prepare("DELETE FROM volumes WHERE name = ?").run(name);
  }
}
