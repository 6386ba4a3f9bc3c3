// Run by sqlite.test.ts under Node and under Bun: drives the store's SQLite
// adapter through everything the store relies on and prints what it saw.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openSqlite } from "../../src/store/sqlite.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-sqlite-"));
try {
  const db = openSqlite(path.join(dir, "t.db"), { busyTimeoutMs: 1000 });
  const out: Record<string, unknown> = {};
  out.journal = db.pragma("journal_mode = WAL");
  out.userVersion = db.pragma("user_version", { simple: true });
  db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, name TEXT UNIQUE); CREATE TABLE u (v TEXT);");
  out.insert = db.prepare("INSERT OR IGNORE INTO t (k, n, name) VALUES (?, ?, ?)").run("a", 1, "x").changes;
  out.ignored = db.prepare("INSERT OR IGNORE INTO t (k, n, name) VALUES (?, ?, ?)").run("a", 1, "x").changes;
  out.undefinedBindsNull = db.prepare("INSERT INTO t (k, n) VALUES (?, ?)").run("b", undefined).changes;
  out.missing = db.prepare("SELECT * FROM t WHERE k = ?").get("nope");
  out.row = db.prepare("SELECT k, n, name FROM t WHERE k = ?").get("b");
  out.all = db.prepare("SELECT k FROM t ORDER BY k").all();
  try {
    db.prepare("INSERT INTO t (k, name) VALUES (?, ?)").run("c", "x");
  } catch (e) {
    out.uniqueCode = (e as { code?: string }).code;
  }
  const add = db.transaction((v: string) => db.prepare("INSERT INTO u VALUES (?)").run(v).changes);
  out.txResult = add.immediate("one");
  out.nested = db.transaction(() => add.immediate("two")).immediate();
  try {
    db.transaction(() => {
      db.prepare("INSERT INTO u VALUES (?)").run("rolled back");
      throw new Error("boom");
    }).immediate();
  } catch (e) {
    out.thrown = (e as Error).message;
  }
  out.committed = db.prepare("SELECT v FROM u ORDER BY v").all();
  db.pragma("user_version = 3");
  out.userVersionAfter = db.pragma("user_version", { simple: true });
  db.close();
  process.stdout.write(JSON.stringify(out));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
