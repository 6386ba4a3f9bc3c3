// The result shape of the scenarios too slow for the smoke test (a ~250 MB
// image, a registry, iperf3 runs of seconds): their rounds run here against
// fake engines whose commands are trivial shell lines, so what is checked is
// the bookkeeping — interleaving, warm-up left out, samples per round, ratios,
// failures recorded as errors — not any engine.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { Harness } from "../../bench/lib/harness.ts";
import type { Cmd } from "../../bench/lib/proc.ts";
import { Recorder, type Metric } from "../../bench/lib/results.ts";
import { loadSaveRounds } from "../../bench/scenarios/image-load-save.ts";
import { network } from "../../bench/scenarios/network.ts";
import { pullRounds } from "../../bench/scenarios/pull.ts";
import type { ContainerSystem, RunExtras, SystemInfo } from "../../bench/systems/system.ts";

const sh = (script: string): Cmd => ({ argv: ["sh", "-c", script] });

/** An engine whose every command is a shell line; `slow` sleeps that many seconds in each timed step. */
class Fake implements ContainerSystem {
  readonly calls: string[] = [];
  constructor(
    readonly name: string,
    private readonly slow: number,
    private readonly failPull = false,
  ) {}
  check(): string | undefined {
    return undefined;
  }
  async setup(): Promise<void> {}
  info(): SystemInfo {
    return { version: "fake", runtime: "none" };
  }
  runRm(args: string[], _image?: string, more: RunExtras = {}): Cmd {
    this.calls.push(`run ${more.network ?? "none"} ${args[0] ?? ""}`);
    if (args[0] === "iperf3") return sh(`echo '{"end":{"sum_received":{"bits_per_second":${this.slow * 1e10}}}}'`);
    return sh(`sleep ${this.slow}`);
  }
  async importImage(): Promise<void> {}
  async startDetached(name: string): Promise<void> {
    this.calls.push(`start ${name}`);
  }
  async stop(): Promise<void> {}
  async remove(name: string): Promise<void> {
    this.calls.push(`remove ${name}`);
  }
  monitorPid(): number | undefined {
    return undefined;
  }
  daemonPids(): number[] {
    return [];
  }
  async cleanup(): Promise<void> {}
  load(): Cmd {
    return sh(`sleep ${this.slow}`);
  }
  save(_ref: string, out: string): Cmd {
    return sh(`sleep ${this.slow}; head -c 1000 /dev/zero > ${out}`);
  }
  async removeImage(ref: string): Promise<void> {
    this.calls.push(`rmi ${ref}`);
  }
  pull(): Cmd {
    return this.failPull ? sh("echo 'manifest unknown' >&2; exit 1") : sh(`sleep ${this.slow}`);
  }
  async createNetwork(name: string): Promise<void> {
    this.calls.push(`network create ${name}`);
  }
  async removeNetwork(name: string): Promise<void> {
    this.calls.push(`network rm ${name}`);
  }
}

function harness(systems: ContainerSystem[], rounds: number): Harness {
  let seq = 0;
  return { systems, opts: { short: true, rounds, subject: "capsa" }, log: () => undefined, name: (s, t) => `t-${s}-${t}-${seq++}`, defer: () => undefined };
}

const metric = (ms: Metric[], id: string): Metric => {
  const m = ms.find((x) => x.id === id);
  assert.ok(m, `${id} is reported`);
  return m;
};

void test("image-load-save: load and save per round and engine, the image removed before each round and at the end; capsa/peer paired", async () => {
  const capsa = new Fake("capsa", 0.02);
  const peer = new Fake("podman", 0.01);
  const rec = new Recorder("image-load-save");
  rec.define("load", "load", "ms", "paired");
  rec.define("save", "save", "ms", "paired");
  await loadSaveRounds(harness([capsa, peer], 2), rec, { path: "/dev/null", bytes: 1500, layers: [1000, 500] });
  const ms = rec.finish("capsa");
  for (const id of ["image-load-save.load", "image-load-save.save"]) {
    const m = metric(ms, id);
    assert.equal(m.summary.capsa?.n, 2, "two measured rounds, the warm-up left out");
    assert.equal(m.summary.podman?.n, 2);
    assert.ok(m.ratios.podman && m.ratios.podman.n === 2 && m.ratios.podman.median > 1, `${id}: capsa (slower here) / podman per round`);
    assert.deepEqual(m.errors, {});
  }
  // Three rounds (one warm-up) each start with rmi, and one more at the end.
  assert.equal(capsa.calls.filter((c) => c.startsWith("rmi")).length, 4);
});

void test("image-load-save: a saved archive far smaller than the loaded one is a failed round", async () => {
  const rec = new Recorder("image-load-save");
  rec.define("load", "load", "ms", "paired");
  rec.define("save", "save", "ms", "paired");
  await loadSaveRounds(harness([new Fake("capsa", 0)], 1), rec, { path: "/dev/null", bytes: 10_000, layers: [10_000] });
  const save = metric(rec.finish("capsa"), "image-load-save.save");
  assert.equal(save.summary.capsa?.n, 0);
  assert.match(save.errors.capsa?.[0] ?? "", /saved archive has 1000 bytes/);
});

void test("pull: one timed pull per round and engine after removing the image; a failing engine is a gap with its error", async () => {
  const rec = new Recorder("pull");
  rec.define("pull", "pull", "ms", "paired");
  const capsa = new Fake("capsa", 0.01);
  await pullRounds(harness([capsa, new Fake("skopeo", 0.01), new Fake("docker", 0, true)], 3), rec, "127.0.0.1:1/x:1");
  const m = metric(rec.finish("capsa"), "pull.pull");
  assert.equal(m.summary.capsa?.n, 3);
  assert.equal(m.summary.skopeo?.n, 3);
  assert.equal(m.summary.docker?.n, 0);
  assert.deepEqual(m.samples.docker, [null, null, null]);
  assert.match(m.errors.docker?.[0] ?? "", /manifest unknown/);
  assert.equal(m.ratios.skopeo?.n, 3);
  assert.equal(m.ratios.docker, undefined);
  assert.equal(capsa.calls.filter((c) => c.startsWith("rmi 127.0.0.1:1/x:1")).length, 5);
});

void test("network: throughput per path and round, start-up on none and the default bridge, and everything it made removed", { skip: !fs.existsSync("/usr/bin/iperf3") && "iperf3 is not installed" }, async () => {
  const capsa = new Fake("capsa", 0.2);
  const peer = new Fake("docker", 0.1);
  const ms = await network.run(harness([capsa, peer], 2));
  const c2c = metric(ms, "network.c2c");
  assert.equal(c2c.unit, "Mbit/s");
  assert.equal(c2c.summary.capsa?.median, 2000);
  assert.equal(c2c.ratios.docker?.median, 2, "capsa/docker of throughput");
  // Nothing listens behind the fake engines' published ports: the host-side path fails, as data.
  const published = metric(ms, "network.published");
  assert.equal(published.summary.capsa?.n, 0);
  assert.ok(published.errors.capsa?.length);
  for (const id of ["network.run-none", "network.run-bridge"]) assert.equal(metric(ms, id).summary.docker?.n, 2);
  const extra = metric(ms, "network.bridge-extra");
  assert.equal(extra.ratioMethod, "medians");
  assert.equal(extra.summary.capsa?.n, 2);
  assert.ok(Math.abs(extra.summary.capsa?.median ?? NaN) < 150, "bridge − none of the same engine");
  for (const f of [capsa, peer]) {
    assert.ok(f.calls.some((c) => c.startsWith("run (engine default) true")), `${f.name}: a run on the default bridge`);
    assert.equal(f.calls.filter((c) => c.startsWith("network create")).length, 1);
    assert.equal(f.calls.filter((c) => c.startsWith("network rm")).length, 1);
    assert.equal(f.calls.filter((c) => c.startsWith("start ")).length, f.calls.filter((c) => c.startsWith("remove ")).length);
  }
  assert.deepEqual(
    fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith("capsa-bench-net-") && fs.statSync(path.join(os.tmpdir(), d)).mtimeMs > Date.now() - 60_000),
    [],
    "its work directory is gone",
  );
});
