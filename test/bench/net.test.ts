import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { freeSubnets, hostAddress } from "../../bench/lib/net.ts";
import { markdown, type Report } from "../../bench/lib/report.ts";
import { finishMetric } from "../../bench/lib/results.ts";
import { iperfMbits } from "../../bench/scenarios/network.ts";

void test("iperfMbits reads the received throughput of iperf3 -J and fails on its error field", () => {
  assert.equal(iperfMbits(JSON.stringify({ end: { sum_sent: { bits_per_second: 9e9 }, sum_received: { bits_per_second: 8.5e9 } } })), 8500);
  assert.throws(() => iperfMbits(JSON.stringify({ error: "unable to connect to server: Connection refused" })), /iperf3: unable to connect/);
  assert.throws(() => iperfMbits(JSON.stringify({ end: {} })), /no received throughput/);
});

void test("freeSubnets hands out distinct /24s that no route of the host touches, never the same twice", () => {
  const a = freeSubnets(3);
  const b = freeSubnets(3);
  const all = [...a, ...b];
  assert.equal(new Set(all).size, 6);
  for (const n of all) assert.match(n, /^10\.2[0-4]\d\.\d{1,3}\.0\/24$/);
  const routes = spawnSync("ip", ["-4", "route", "show", "table", "all"], { encoding: "utf8" }).stdout;
  for (const n of all) assert.ok(!routes.includes(n.replace(/\.0\/24$/, ".")), `${n} is routed here`);
  assert.equal(hostAddress("10.201.7.0/24", 10), "10.201.7.10");
});

void test("throughput metrics print in Mbit/s and say that higher is better", () => {
  const m = finishMetric(
    { id: "network.c2c", scenario: "network", title: "c2c", unit: "Mbit/s", ratioMethod: "paired", errors: {}, samples: { capsa: [9000, 11000], podman: [10000, 10000] } },
    "capsa",
  );
  assert.equal(m.ratios.podman?.median, 1);
  const report: Report = {
    schema: "capsa-bench/1",
    date: "2026-01-01T00:00:00Z",
    mode: "short",
    subject: "capsa",
    revision: "x",
    network: "none",
    machine: { cores: 2, cpu: "cpu", memoryGiB: 1, kernel: "6", os: "Debian", cgroup: "v2", node: "v20", kvm: false },
    systems: [{ name: "capsa" }, { name: "podman" }],
    scenarios: [{ id: "network", title: "network", describe: "d", metrics: [m] }],
    durationSeconds: 1,
    load: { start: [0, 0, 0], end: [0, 0, 0] },
  };
  const md = markdown(report);
  assert.match(md, /\| capsa \| 10000 Mbit\/s \| 9200 – 10800 \| 2 \|/);
  assert.match(md, /higher is better/);
});
