// The metadata store: one SQLite file in WAL mode, shared safely by concurrent
// CLI processes. Data (blobs, layers, rw layers) lives on disk beside it; the
// database only records which image has which layers, which container uses
// what. Every table is created here, by one list of migrations; the SQL that
// reads and writes them lives beside this file, one module per kind of record
// (containers.ts, images.ts, volumes.ts, networks.ts).
import fs from "node:fs";
import path from "node:path";
import { damagedDatabase, isDatabaseDamage, systemError } from "../util/errors.ts";
import { type Database, openSqlite } from "./sqlite.ts";

export type DB = Database;

/**
 * The schema, one step per entry; PRAGMA user_version counts the steps a
 * database has had. Append only: a database on disk has run the steps before.
 */
const MIGRATIONS: string[] = [
  // 1: images and their layers, containers, volumes.
  `CREATE TABLE images (
     id TEXT PRIMARY KEY,
     manifest_digest TEXT NOT NULL,
     config TEXT NOT NULL,
     created TEXT NOT NULL,
     size INTEGER NOT NULL,
     added TEXT NOT NULL
   );
   CREATE TABLE image_refs (
     ref TEXT PRIMARY KEY,
     image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
     kind TEXT NOT NULL CHECK (kind IN ('tag','digest'))
   );
   CREATE INDEX image_refs_image ON image_refs(image_id);
   CREATE TABLE layers (
     chain_id TEXT PRIMARY KEY,
     diff_id TEXT NOT NULL,
     parent TEXT,
     size INTEGER NOT NULL,
     dir TEXT NOT NULL
   );
   CREATE TABLE image_layers (
     image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
     position INTEGER NOT NULL,
     chain_id TEXT NOT NULL REFERENCES layers(chain_id),
     blob_digest TEXT,
     media_type TEXT,
     PRIMARY KEY (image_id, position)
   );
   CREATE TABLE containers (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     image_id TEXT NOT NULL,
     image_ref TEXT NOT NULL,
     created TEXT NOT NULL,
     config TEXT NOT NULL,
     host_config TEXT NOT NULL,
     state TEXT NOT NULL,
     restart_count INTEGER NOT NULL DEFAULT 0,
     stopped_by_user INTEGER NOT NULL DEFAULT 0,
     monitor_pid INTEGER NOT NULL DEFAULT 0,
     runtime TEXT NOT NULL
   );
   CREATE TABLE volumes (
     name TEXT PRIMARY KEY,
     created TEXT NOT NULL,
     labels TEXT NOT NULL,
     options TEXT NOT NULL
   );
   CREATE TABLE exec_sessions (
     id TEXT PRIMARY KEY,
     container_id TEXT NOT NULL,
     config TEXT NOT NULL,
     state TEXT NOT NULL
   );`,
  // 2: networks and their container endpoints. Before this step the network
  // module created them itself (IF NOT EXISTS), so a database may have them.
  `CREATE TABLE IF NOT EXISTS networks (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     data TEXT NOT NULL
   );
   CREATE TABLE IF NOT EXISTS network_endpoints (
     container_id TEXT NOT NULL,
     network_id TEXT NOT NULL REFERENCES networks(id),
     position INTEGER NOT NULL,
     config TEXT NOT NULL,
     if_name TEXT NOT NULL DEFAULT '',
     netns TEXT NOT NULL DEFAULT '',
     result TEXT,
     ports TEXT NOT NULL DEFAULT '[]',
     owner_pid INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (container_id, network_id)
   );`,
  // 3: exec sessions were never stored.
  `DROP TABLE IF EXISTS exec_sessions;`,
  // 4: network names need not be unique (dockerd before API 1.44 makes a
  // second network of a name unless CheckDuplicate is set). SQLite cannot drop
  // a constraint: both tables are rebuilt; the renames carry the reference over.
  `CREATE TABLE networks_v4 (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     data TEXT NOT NULL
   );
   INSERT INTO networks_v4 (id, name, data) SELECT id, name, data FROM networks;
   CREATE TABLE network_endpoints_v4 (
     container_id TEXT NOT NULL,
     network_id TEXT NOT NULL REFERENCES networks_v4(id),
     position INTEGER NOT NULL,
     config TEXT NOT NULL,
     if_name TEXT NOT NULL DEFAULT '',
     netns TEXT NOT NULL DEFAULT '',
     result TEXT,
     ports TEXT NOT NULL DEFAULT '[]',
     owner_pid INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (container_id, network_id)
   );
   INSERT INTO network_endpoints_v4 SELECT container_id, network_id, position, config, if_name, netns, result, ports, owner_pid FROM network_endpoints;
   DROP TABLE network_endpoints;
   DROP TABLE networks;
   ALTER TABLE networks_v4 RENAME TO networks;
   ALTER TABLE network_endpoints_v4 RENAME TO network_endpoints;
   CREATE INDEX networks_by_name ON networks(name);`,
];

export function openDb(file: string): DB {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let db: DB | undefined;
  try {
    db = openSqlite(file, { busyTimeoutMs: 30_000 });
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    migrate(db);
    return db;
  } catch (e) {
    try {
      db?.close();
    } catch {
      /* unusable anyway */
    }
    // Name the file, and for damage the way forward (store/check.ts repairs it).
    if (isDatabaseDamage(e)) throw damagedDatabase(file, e);
    if (noSpaceLeft(path.dirname(file))) return openOnFullDisk(file, e);
    throw systemError(`database ${file}`, e);
  }
}

function migrate(db: DB): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current >= MIGRATIONS.length) return;
  // IMMEDIATE takes the write lock first, so two processes racing on a fresh
  // database do not both apply the same migration.
  db.transaction(() => {
    const again = db.pragma("user_version", { simple: true }) as number;
    for (let v = again; v < MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v]!);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

function noSpaceLeft(dir: string): boolean {
  try {
    // Below a mebibyte: a write that needs a few pages more than are left fails just the same.
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize < 1024 * 1024;
  } catch {
    return false;
  }
}

/**
 * With no space left, WAL's shared-memory file cannot be sized, so even a
 * read fails ("disk I/O error"). In exclusive locking mode SQLite keeps that
 * index in the process's memory instead, so reads (ps, images, inspect)
 * keep working; a write fails with SQLITE_FULL, as it must. The price: other
 * processes wait for this one's lock while it runs.
 */
function openOnFullDisk(file: string, first: unknown): DB {
  const db = openSqlite(file, { busyTimeoutMs: 30_000, fileMustExist: true });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    db.pragma("foreign_keys = ON");
    if ((db.pragma("user_version", { simple: true }) as number) < MIGRATIONS.length) throw first;
    return db;
  } catch (e) {
    db.close();
    throw systemError(`database ${file}`, e);
  }
}
