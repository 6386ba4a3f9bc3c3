// A full disk under the state root (a small tmpfs): reads keep working at
// 0 bytes free, a failed `run --rm` leaves no "Created" record at any fill
// level, and the error says "no space left on device (<path>)" — never runc's
// "unable to store init state: %!w(<nil>)" or SQLite's bare words.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CLI, importBusybox, type TestRoot, unmountBelow } from "../helpers.ts";

function freeKiB(dir: string): number {
  const s = fs.statfsSync(dir);
  return Math.floor((s.bavail * s.bsize) / 1024);
}

/** Fills dir's file system until keepKiB are left (0: nothing); returns the filler to delete. */
function fill(dir: string, keepKiB: number): string {
  const file = path.join(dir, "filler");
  const fd = fs.openSync(file, "w");
  const chunk = Buffer.alloc(1024);
  try {
    for (let left = freeKiB(dir) - keepKiB; left > 0; left--) fs.writeSync(fd, chunk);
    if (keepKiB === 0) {
      // The last partial block.
      try {
        for (;;) fs.writeSync(fd, chunk, 0, 1);
      } catch {
        /* ENOSPC: full */
      }
    }
  } catch {
    /* full before the count: fine */
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

void describe("a full disk under the state root", () => {
  let mnt = "";
  let t: TestRoot | undefined;

  before(() => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-full-"));
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], { encoding: "utf8" });
    assert.equal(m.status, 0, m.stderr);
    const env: NodeJS.ProcessEnv = { ...process.env, CAPSA_ROOT: mnt };
    delete env.CAPSA_RUNROOT;
    t = {
      root: mnt,
      env,
      capsa: (args, opts = {}) => spawnSync(process.execPath, [CLI, ...args], { env: { ...env, ...opts.env }, input: opts.input, encoding: "utf8", timeout: opts.timeoutMs ?? 60_000 }),
      cleanup() {
        spawnSync(process.execPath, [CLI, "system", "reset", "--force"], { env, encoding: "utf8", timeout: 60_000 });
      },
    };
    importBusybox(t);
  });
  after(() => {
    if (!mnt) return;
    fs.rmSync(path.join(mnt, "filler"), { force: true });
    t?.cleanup();
    unmountBelow(mnt);
    spawnSync("umount", [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  });

  const records = (): string[] => {
    const r = t!.capsa(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split("\n").filter(Boolean);
  };

  void it("ps -a, images and inspect work at 0 bytes free", () => {
    const r = t!.capsa(["run", "-d", "--name", "fd-running", "--network", "none", "busybox", "sleep", "1000"]);
    assert.equal(r.status, 0, r.stderr);
    const filler = fill(mnt, 0);
    try {
      assert.equal(freeKiB(mnt), 0);
      const ps = t!.capsa(["ps", "-a"]);
      assert.equal(ps.status, 0, ps.stderr);
      assert.match(ps.stdout, /fd-running/);
      const images = t!.capsa(["images"]);
      assert.equal(images.status, 0, images.stderr);
      assert.match(images.stdout, /busybox/);
      assert.equal(t!.capsa(["inspect", "fd-running"]).status, 0);
      const run = t!.capsa(["run", "--rm", "busybox", "true"]);
      assert.equal(run.status, 125);
      assert.match(run.stderr, /^capsa: no space left on device \(\/\S+\)\n$/);
    } finally {
      fs.rmSync(filler, { force: true });
    }
    assert.ok(records().some((l) => l.startsWith("fd-running Up")), "the running container kept running");
    assert.equal(t!.capsa(["rm", "-f", "fd-running"]).status, 0);
  });

  void it("a run --rm that fails for space leaves no record, and says so with a path, at every fill level", () => {
    for (const keep of [16, 48, 64, 96, 128, 160]) {
      const filler = fill(mnt, keep);
      let r: ReturnType<TestRoot["capsa"]>;
      try {
        r = t!.capsa(["run", "--rm", "busybox", "echo", "hi"]);
      } finally {
        fs.rmSync(filler, { force: true });
      }
      if (r.status !== 0) {
        assert.doesNotMatch(r.stderr, /%!w\(<nil>\)|database or disk is full|disk I\/O error/, `${keep} KiB left`);
        assert.match(r.stderr, /no space left on device \(\/\S+\)/, `${keep} KiB left: ${r.stderr}`);
      }
      assert.deepEqual(records(), [], `${keep} KiB left: no record stays (${r.stderr})`);
    }
  });
});
