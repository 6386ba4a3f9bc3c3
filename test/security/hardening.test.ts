// Smaller holes of the security round: health check durations from untrusted
// input, and /proc files a default container must not read.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { busyboxRootfsTar, importBusybox, useBusyboxRoot } from "../helpers.ts";
import { handImage, legacyDockerArchive } from "../image/fixtures.ts";
import { startService, type Service } from "../api/service.ts";

const isRoot = process.getuid?.() === 0;

void describe("health check durations from untrusted input", { skip: !isRoot && "needs root" }, () => {
  let svc: Service;
  before(async () => {
    svc = await startService("sec-health");
    importBusybox(svc.t);
  });
  after(async () => svc?.stop());

  void test("an API create whose health interval is not a number is a 400 and creates nothing", async () => {
    for (const Interval of ["5s", -1, 1.5, 10]) {
      const body = JSON.stringify({ Image: "busybox", Cmd: ["sleep", "30"], Healthcheck: { Test: ["CMD", "true"], Interval } });
      const r = await svc.request("POST", "/containers/create", body);
      assert.equal(r.status, 400, `Interval ${JSON.stringify(Interval)}: ${r.status} ${r.body}`);
      assert.match((JSON.parse(r.body) as { message: string }).message, /Interval in Healthcheck/);
    }
    const list = await svc.request("GET", "/containers/json?all=1");
    assert.deepEqual(JSON.parse(list.body), []);
  });

  void test("an image whose config carries a health interval that is not a number is refused at load, as any mistyped config", async () => {
    const layer = fs.readFileSync(busyboxRootfsTar());
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["badhealth", { config: { Cmd: ["sleep", "30"], Env: ["PATH=/bin"], Healthcheck: { Test: ["CMD", "true"], Interval: "1s" } } }, /config\.Healthcheck has the wrong type/],
      // history [null] used to break `images` for every image afterwards.
      ["badhistory", { history: [null] }, /history\[0\] has the wrong type/],
    ];
    for (const [name, extra, message] of cases) {
      const img = handImage([layer], undefined, extra);
      const archive = path.join(svc.t.root, `${name}.tar`);
      fs.writeFileSync(archive, await legacyDockerArchive(img, [`${name}:latest`]));
      const load = svc.t.capsa(["load", "-i", archive]);
      assert.equal(load.status, 1, `${name}: ${load.stdout} ${load.stderr}`); // docker load's status for a refused archive
      assert.match(load.stderr, message);
      assert.equal(load.stderr.trim().split("\n").length, 1, load.stderr);
    }
    const images = svc.t.capsa(["images", "--format", "{{.Repository}}"]);
    assert.equal(images.status, 0, images.stderr);
    assert.deepEqual(images.stdout.trim().split("\n"), ["busybox"], "nothing half-loaded, and images still lists");
  });
});

void describe("masked /proc files", { skip: !isRoot && "needs root" }, () => {
  const root = useBusyboxRoot("sec-proc");

  void test("/proc/interrupts reads empty in a default container, as in docker 28", () => {
    const t = root();
    assert.ok(fs.statSync("/proc/interrupts").isFile() && fs.statSync("/proc/timer_list").isFile());
    const r = t.capsa(["run", "--rm", "busybox", "sh", "-c", "wc -c < /proc/interrupts; wc -c < /proc/timer_list"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split(/\s+/), ["0", "0"]);
    const privileged = t.capsa(["run", "--rm", "--privileged", "busybox", "sh", "-c", "wc -c < /proc/interrupts"]);
    assert.equal(privileged.status, 0, privileged.stderr);
    assert.ok(Number(privileged.stdout.trim()) > 0, "unmasked for --privileged, as docker");
  });
});
