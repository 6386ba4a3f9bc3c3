// The metadata store: one SQLite file in WAL mode, shared safely by concurrent
// CLI processes. Data (blobs, layers, rw layers) lives on disk beside it; the
// database only records which image has which layers, which container uses
// what. Every table is created here, by one list of migrations; the SQL that
// reads and writes them lives beside this file, one module per kind of record
// (containers.ts, images.ts, volumes.ts, networks.ts).
import fs from "node:fs";
import path from "node:path";
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
];

export function openDb(file: string): DB {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const db = openSqlite(file, { busyTimeoutMs: 30_000 });
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  migrate(db);
  return db;
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
