import assert from "node:assert/strict";
import { test } from "node:test";
import { finishMetric } from "../../bench/lib/results.ts";
import { pairedRatios, percentile, summarize } from "../../bench/lib/stats.ts";
import { rotation } from "../../bench/lib/harness.ts";

void test("percentiles interpolate between closest ranks", () => {
  const xs = [10, 20, 30, 40, 50];
  assert.equal(percentile(xs, 0.5), 30);
  assert.equal(percentile(xs, 0.1), 14);
  assert.equal(percentile(xs, 0.9), 46);
  assert.deepEqual(summarize([3, 1, 2]), { n: 3, median: 2, p10: 1.2, p90: 2.8, min: 1, max: 3 });
  assert.ok(Number.isNaN(summarize([]).median));
});

void test("ratios pair round i with round i and skip failed rounds", () => {
  assert.deepEqual(pairedRatios([10, 20, undefined, 40], [5, 10, 30, undefined]), [2, 2]);
});

void test("a paired metric reports subject/peer per round; a failed run is left out", () => {
  const m = finishMetric(
    { id: "x.wall", scenario: "x", title: "t", unit: "ms", ratioMethod: "paired", errors: {}, samples: { capsa: [10, 30, null], runc: [5, 10, 1] } },
    "capsa",
  );
  assert.equal(m.summary.capsa?.n, 2);
  assert.equal(m.ratios.runc?.n, 2);
  assert.equal(m.ratios.runc?.median, 2.5);
  assert.equal(m.ratios.capsa, undefined);
});

void test("rounds rotate the order of systems", () => {
  assert.deepEqual(rotation(["a", "b", "c"], 0), ["a", "b", "c"]);
  assert.deepEqual(rotation(["a", "b", "c"], 1), ["b", "c", "a"]);
  assert.deepEqual(rotation(["a", "b", "c"], 5), ["c", "a", "b"]);
});
