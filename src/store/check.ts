// The database's side of `system check`: is the file sound (SQLite's own
// check), what do the records say exists on disk, and — for a damaged file —
// a rebuild: the file is set aside, a fresh one made, and every table that
// can still be read is copied over, so what is lost is said table by table.
import fs from "node:fs";
import { errorMessage } from "../util/errors.ts";
import { openDb, type DB } from "./db.ts";
import { type BindValue, type Database, openSqlite } from "./sqlite.ts";

export interface DatabaseHealth {
  file: string;
  /** False when SQLite reports damage or the file cannot be opened as a database. */
  ok: boolean;
  /** SQLite's words (quick_check's lines, or the error). */
  problems: string[];
}

/** SQLite's quick_check of the file, opened read-only (nothing written, even to a sound file). A missing file is sound: the next command makes it. */
export function checkDatabaseFile(file: string): DatabaseHealth {
  if (!fs.existsSync(file)) return { file, ok: true, problems: [] };
  let db: Database | undefined;
  try {
    db = openSqlite(file, { busyTimeoutMs: 30_000, readonly: true, fileMustExist: true });
    const rows = db.pragma("quick_check") as { quick_check: string }[];
    const problems = rows.map((r) => r.quick_check).filter((l) => l !== "ok");
    return { file, ok: problems.length === 0, problems };
  } catch (e) {
    return { file, ok: false, problems: [errorMessage(e)] };
  } finally {
    try {
      db?.close();
    } catch {
      /* unusable anyway */
    }
  }
}

export interface Rebuild {
  /** Where the damaged file went. */
  setAside: string;
  /** Rows copied, per table that could be read. */
  salvaged: Record<string, number>;
  /** Tables that could not be read, with SQLite's words. */
  lost: Record<string, string>;
}

/** Tables in the order their references need (images before their refs and layers…). */
const TABLES = ["images", "image_refs", "layers", "image_layers", "containers", "volumes", "networks", "network_endpoints"];

/**
 * Moves the damaged file (and its WAL and shared-memory files) aside as
 * <file>.damaged-<time>, makes a fresh database in its place, and copies over
 * every row SQLite can still read, table by table.
 */
export function rebuildDatabase(file: string, now = new Date()): Rebuild {
  const setAside = `${file}.damaged-${now.toISOString().replace(/[:.]/g, "-")}`;
  fs.renameSync(file, setAside);
  for (const suffix of ["-wal", "-shm"]) {
    if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, setAside + suffix);
  }
  const fresh = openDb(file);
  const salvaged: Record<string, number> = {};
  const lost: Record<string, string> = {};
  try {
    let old: Database | undefined;
    try {
      old = openSqlite(setAside, { busyTimeoutMs: 30_000, readonly: true, fileMustExist: true });
    } catch (e) {
      for (const t of TABLES) lost[t] = errorMessage(e);
      return { setAside, salvaged, lost };
    }
    try {
      fresh.pragma("foreign_keys = OFF");
      for (const table of TABLES) {
        try {
          const rows = old.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[];
          fresh.transaction(() => {
            for (const row of rows) {
              const cols = Object.keys(row);
              fresh.prepare(`INSERT OR IGNORE INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`).run(...cols.map((c) => row[c] as BindValue));
            }
          }).immediate();
          salvaged[table] = rows.length;
        } catch (e) {
          lost[table] = errorMessage(e);
        }
      }
      // Rows whose parent was lost would point nowhere.
      fresh.exec(`DELETE FROM image_refs WHERE image_id NOT IN (SELECT id FROM images);
        DELETE FROM image_layers WHERE image_id NOT IN (SELECT id FROM images) OR chain_id NOT IN (SELECT chain_id FROM layers);
        DELETE FROM network_endpoints WHERE network_id NOT IN (SELECT id FROM networks);`);
    } finally {
      fresh.pragma("foreign_keys = ON");
      old.close();
    }
  } finally {
    fresh.close();
  }
  return { setAside, salvaged, lost };
}

/** What the records say should exist on disk, for the comparison with the disk. */
export interface RecordedFiles {
  containers: { id: string; name: string; running: boolean; monitorPid: number }[];
  layers: { chainId: string; dir: string }[];
  /** Blobs an image needs for save and push: its layers' (where known), its config (the id) and its manifest. */
  imageBlobs: { imageId: string; digest: string }[];
}

export function recordedFiles(db: DB): RecordedFiles {
  const containers = (db.prepare("SELECT id, name, state, monitor_pid FROM containers").all() as { id: string; name: string; state: string; monitor_pid: number }[]).map((r) => {
    let running = false;
    try {
      running = (JSON.parse(r.state) as { Running?: boolean }).Running === true;
    } catch {
      /* an unreadable state is not running */
    }
    return { id: r.id, name: r.name, running, monitorPid: r.monitor_pid };
  });
  const layers = (db.prepare("SELECT chain_id, dir FROM layers").all() as { chain_id: string; dir: string }[]).map((r) => ({ chainId: r.chain_id, dir: r.dir }));
  const imageBlobs = db
    .prepare("SELECT image_id AS imageId, blob_digest AS digest FROM image_layers WHERE blob_digest IS NOT NULL UNION SELECT id, manifest_digest FROM images UNION SELECT id, id FROM images")
    .all() as { imageId: string; digest: string }[];
  return { containers, layers, imageBlobs };
}

/** Images that use any of these layers (by chain id). */
export function imagesUsingLayers(db: DB, chainIds: string[]): string[] {
  if (chainIds.length === 0) return [];
  const rows = db.prepare(`SELECT DISTINCT image_id FROM image_layers WHERE chain_id IN (${chainIds.map(() => "?").join(", ")})`).all(...chainIds) as { image_id: string }[];
  return rows.map((r) => r.image_id);
}

/**
 * Runs a write; when the disk is full, checkpoints the WAL into the database
 * and truncates it (its frames are what a write adds to) and tries once more.
 * A deletion mostly rewrites pages the database file already has.
 */
export function whenFullRetry<T>(db: DB, write: () => T): T {
  try {
    return write();
  } catch (e) {
    if ((e as { code?: unknown }).code !== "SQLITE_FULL") throw e;
    try {
      db.pragma("wal_checkpoint(TRUNCATE)");
    } catch {
      /* nothing more to free here */
    }
    return write();
  }
}
