// The benchmark harness end to end, in short mode: it sets up the engines that
// are installed (runc always is), runs one scenario and writes well-formed results.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { Report } from "../../bench/lib/report.ts";
import type { Metric } from "../../bench/lib/results.ts";
import type { Summary } from "../../bench/lib/stats.ts";
import { which } from "../../bench/lib/proc.ts";
import { SCENARIOS } from "../../bench/run.ts";
import { REPO } from "../helpers.ts";

const peers = ["podman", "docker"].filter((p) => which(p === "docker" ? "dockerd" : p));
const systems = ["runc", ...peers, "capsa"];

void test("bench --short run-true build writes a well-formed report for runc and the installed peers", { timeout: 10 * 60_000 }, (t) => {
  if (process.getuid?.() !== 0) return t.skip("the benchmark needs root");
  if (peers.length < 2) t.diagnostic(`peers not installed (run \`npm run bench\` once to install them): ${["podman", "docker"].filter((p) => !peers.includes(p)).join(", ")}`);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-bench-smoke-"));
  try {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "bench/run.ts", "run-true", "build", "--short", "--rounds", "2", "--no-install", "--systems", systems.join(","), "--out", out],
      { cwd: REPO, encoding: "utf8", timeout: 9 * 60_000 },
    );
    assert.equal(r.status, 0, `bench failed:\n${r.stderr}`);
    const report = JSON.parse(fs.readFileSync(path.join(out, "latest.json"), "utf8")) as Report;
    assert.equal(report.schema, "capsa-bench/1");
    assert.equal(report.mode, "short");
    assert.ok(report.machine.cores > 0 && report.machine.kernel && report.machine.cgroup);
    assert.deepEqual(
      report.systems.map((s) => s.name),
      systems,
    );
    const runc = report.systems.find((s) => s.name === "runc");
    assert.equal(runc?.unavailable, undefined, "runc is always there");
    assert.equal(runc?.runtime, "runc");
    const [scenario, buildScenario] = report.scenarios;
    assert.equal(scenario?.id, "run-true");
    const wall = scenario.metrics.find((m) => m.id === "run-true.wall");
    assert.ok(wall, "run-true.wall is reported");
    for (const s of report.systems.filter((x) => !x.unavailable)) {
      const sum: Summary | undefined = wall.summary[s.name];
      assert.ok(sum);
      assert.equal(sum.n, 2, `${s.name}: two measured rounds (errors: ${JSON.stringify(wall.errors[s.name] ?? [])})`);
      assert.ok(sum.median > 0 && sum.p10 <= sum.median && sum.median <= sum.p90, `${s.name}: ordered statistics`);
    }
    // build compares the engines with images (not runc): cold and cached, two rounds each.
    assert.ok(buildScenario?.id === "build", "build is reported after run-true");
    for (const id of ["build.cold", "build.cached"]) {
      const metric: Metric | undefined = buildScenario.metrics.find((m) => m.id === id);
      assert.ok(metric, `${id} is reported`);
      assert.equal(metric.summary.runc, undefined, "runc builds nothing");
      for (const s of report.systems.filter((x) => !x.unavailable && x.name !== "runc")) {
        assert.equal(metric.summary[s.name]?.n, 2, `${id}, ${s.name}: two measured rounds (errors: ${JSON.stringify(metric.errors[s.name] ?? [])})`);
      }
      if (metric.summary.podman) assert.ok(metric.ratios.podman, `${id}: a capsa/podman ratio`);
    }
    const md = fs.readFileSync(path.join(out, "latest.md"), "utf8");
    assert.match(md, /^# capsa benchmark \(short mode/);
    assert.match(md, /\| runc \| [\d.]+ ms \|/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

void test("every scenario has a unique id and a description", () => {
  const ids = SCENARIOS.map((s) => s.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const s of SCENARIOS) assert.ok(s.describe.length > 20, s.id);
});
