// SQLite on whichever runtime runs capsa: better-sqlite3 under Node (the SDK,
// Node >= 20) and Bun's built-in bun:sqlite under Bun (the CLI as shipped, see
// docs/decisions/0014-cli-runtime.md). better-sqlite3 does not load under Bun.
// Only the subset the store uses is exposed, with better-sqlite3's semantics:
// get() gives undefined when there is no row, pragma(…, { simple }) and
// write transactions through .immediate(). Each module is loaded on the first
// open, so neither runtime tries to load the other's.
import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";

/** What a `?` can be bound to; undefined binds NULL on both runtimes. */
export type BindValue = string | number | bigint | Buffer | null | undefined;

export interface Statement {
  run(...params: BindValue[]): { changes: number };
  get(...params: BindValue[]): unknown;
  all(...params: BindValue[]): unknown[];
}

export interface Database {
  prepare(sql: string): Statement;
  /** Runs one or more statements that return no rows. */
  exec(sql: string): void;
  /** `PRAGMA <source>`: every row, or with simple the first column of the first row. */
  pragma(source: string, opts?: { simple: boolean }): unknown;
  /** fn inside BEGIN IMMEDIATE … COMMIT (a savepoint when nested); rolled back if fn throws. */
  transaction<A extends unknown[], T>(fn: (...args: A) => T): { immediate(...args: A): T };
  close(): void;
}

// A require of our own: the bundle's banner already declares `require`, and
// esbuild leaves a call it does not recognise as require alone.
const load = createRequire(import.meta.url);

export interface OpenOptions {
  /** How long a locked database is waited for. */
  busyTimeoutMs: number;
  /** Nothing is written, not even to create the file. */
  readonly?: boolean;
  /** A missing file is an error instead of a new database. */
  fileMustExist?: boolean;
}

/** Opens the database file (creating it if missing, unless readonly or fileMustExist). */
export function openSqlite(file: string, opts: OpenOptions): Database {
  if (process.versions.bun) return openWithBun(file, opts);
  const BetterSqlite = load("better-sqlite3") as typeof BetterSqlite3;
  // The object itself: its declared parameter types are only narrower than BindValue.
  return new BetterSqlite(file, { timeout: opts.busyTimeoutMs, readonly: !!opts.readonly, fileMustExist: !!opts.fileMustExist }) as unknown as Database;
}

/** The part of bun:sqlite used here (Bun's types are not a dependency). */
interface BunSqlite {
  prepare(sql: string): { run(...p: BindValue[]): { changes: number }; get(...p: BindValue[]): unknown; all(...p: BindValue[]): unknown[] };
  exec(sql: string): void;
  transaction<A extends unknown[], T>(fn: (...args: A) => T): { immediate(...args: A): T };
  close(): void;
}

function openWithBun(file: string, opts: OpenOptions): Database {
  const { Database: BunDatabase } = load("bun:sqlite") as { Database: new (file: string, o: { strict: boolean; readonly?: boolean; readwrite?: boolean; create?: boolean }) => BunSqlite };
  // strict: bound parameters as better-sqlite3 binds them (names without a
  // prefix, an error for a missing value).
  const mode = opts.readonly ? { readonly: true } : { readwrite: true, create: !opts.fileMustExist };
  const db = new BunDatabase(file, { strict: true, ...mode });
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(opts.busyTimeoutMs)}`);
  return {
    prepare(sql) {
      const s = db.prepare(sql);
      return {
        run: (...p) => s.run(...p),
        // bun:sqlite answers null for no row; better-sqlite3 (and the store's types) undefined.
        get: (...p) => s.get(...p) ?? undefined,
        all: (...p) => s.all(...p),
      };
    },
    exec: (sql) => db.exec(sql),
    pragma(source, o) {
      const rows = db.prepare(`PRAGMA ${source}`).all() as Record<string, unknown>[];
      return o?.simple ? (rows[0] ? Object.values(rows[0])[0] : undefined) : rows;
    },
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
}
