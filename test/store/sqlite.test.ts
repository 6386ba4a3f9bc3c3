// The store's SQLite adapter (src/store/sqlite.ts) gives the same answers on
// both runtimes: better-sqlite3 under Node (the SDK), bun:sqlite under Bun
// (the CLI as shipped). The probe runs in a child process under each.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { REPO } from "../helpers.ts";

const probe = path.join(import.meta.dirname, "sqlite-probe.ts");
const oven = path.join(REPO, "node_modules", "@oven");
const bun = (fs.existsSync(oven) ? fs.readdirSync(oven) : []).map((d) => path.join(oven, d, "bin", "bun")).find((b) => fs.existsSync(b));

const expected = {
  journal: [{ journal_mode: "wal" }],
  userVersion: 0,
  insert: 1,
  ignored: 0,
  undefinedBindsNull: 1,
  row: { k: "b", n: null, name: null },
  all: [{ k: "a" }, { k: "b" }],
  uniqueCode: "SQLITE_CONSTRAINT_UNIQUE",
  txResult: 1,
  nested: 1,
  thrown: "boom",
  committed: [{ v: "one" }, { v: "two" }],
  userVersionAfter: 3,
};

function run(cmd: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(cmd, args, { cwd: REPO, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

void describe("the SQLite adapter", () => {
  void it("under Node (better-sqlite3): undefined for no row, NULL for undefined, pragmas, immediate transactions, constraint codes", () => {
    const out = run(process.execPath, ["--import", "tsx", probe]);
    assert.ok(!("missing" in out), "no row is undefined");
    assert.deepEqual(out, expected);
  });

  void it("under Bun (bun:sqlite): the same answers", { skip: !bun && "no Bun binary in node_modules/@oven" }, () => {
    const out = run(bun!, ["--no-env-file", probe]);
    assert.ok(!("missing" in out), "no row is undefined, not null");
    assert.deepEqual(out, expected);
  });
});
