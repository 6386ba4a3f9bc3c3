import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSmapsRollup, processTree, sumMemory } from "../../bench/lib/memory.ts";

const ROLLUP = `56093440b000-7ffcf7e2c000 ---p 00000000 00:00 0                          [rollup]
Rss:                1748 kB
Pss:                 269 kB
Pss_Dirty:           112 kB
Shared_Clean:       1596 kB
Shared_Dirty:          0 kB
Private_Clean:        40 kB
Private_Dirty:       112 kB
Referenced:         1748 kB
`;

void test("parseSmapsRollup reads PSS and RSS, and USS as private clean + private dirty", () => {
  assert.deepEqual(parseSmapsRollup(ROLLUP), { pss: 269, rss: 1748, uss: 152 });
  assert.equal(parseSmapsRollup("Rss: 10 kB\n"), undefined);
  // Pss_Dirty must not be taken for Pss.
  assert.equal(parseSmapsRollup(ROLLUP.replace(/^Pss: .*\n/m, "")), undefined);
});

void test("processTree starts with the pid; sumMemory counts only live processes", () => {
  assert.equal(processTree(process.pid)[0], process.pid);
  const m = sumMemory([process.pid, 2 ** 22 + 1]);
  assert.equal(m.alive, 1);
  assert.ok(m.rss >= m.pss && m.pss >= m.uss && m.uss > 0);
});
