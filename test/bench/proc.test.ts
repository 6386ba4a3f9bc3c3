import assert from "node:assert/strict";
import { test } from "node:test";
import { mapLimit, sleep, timed } from "../../bench/lib/proc.ts";

void test("mapLimit keeps at most `limit` in flight and returns results in input order", async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit([30, 10, 20, 5, 15], 2, async (ms, i) => {
    peak = Math.max(peak, ++inFlight);
    await sleep(ms);
    inFlight--;
    return i;
  });
  assert.deepEqual(out, [0, 1, 2, 3, 4]);
  assert.equal(peak, 2);
});

void test("mapLimit starts nothing new after a failure and throws once the ones in flight are done", async () => {
  const started: number[] = [];
  let finished = 0;
  await assert.rejects(
    mapLimit([0, 1, 2, 3, 4, 5], 2, async (i) => {
      started.push(i);
      if (i === 1) throw new Error("boom");
      await sleep(20);
      finished++;
    }),
    /boom/,
  );
  assert.deepEqual(started, [0, 1]);
  assert.equal(finished, 1, "the container start in flight was waited for");
});

void test("timed reports the time to the first byte of stdout", async () => {
  const r = await timed({ argv: ["sh", "-c", "sleep 0.05; echo x; sleep 0.2"] });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, "x\n");
  assert.ok(r.firstOutputMs !== undefined && r.firstOutputMs >= 40 && r.firstOutputMs < r.ms - 100, `${r.firstOutputMs} vs ${r.ms}`);
});
