// shellQuote: sh reads each quoted word back as exactly what was quoted.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { it } from "node:test";
import { shellQuote } from "../../src/util/shell.ts";

void it("sh reads a quoted word back unchanged, whatever it holds", () => {
  const words = ["plain", "", "two words", "it's", "'", "''", '"$HOME" `id` $(id) \\ ; & | * ? ~', "line\nbreak", "tab\there", "ünïcode ✓"];
  const r = spawnSync("sh", ["-c", `for w in ${words.map(shellQuote).join(" ")}; do printf '%s\\0' "$w"; done`], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.split("\0").slice(0, -1), words);
});
