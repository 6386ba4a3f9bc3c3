// isMounted and mountPoints read /proc/self/mountinfo, whose paths escape spaces as \040.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { it } from "node:test";
import { isMounted, mountPoints } from "../../src/util/mounts.ts";

void it("knows the root and /proc, and not a plain directory", () => {
  assert.equal(isMounted("/"), true);
  assert.equal(isMounted("/proc"), true);
  assert.equal(isMounted("/proc/"), true, "a trailing slash names the same path");
  assert.equal(isMounted(os.tmpdir() + "/capsa-no-such-mount"), false);
  assert.ok(mountPoints().includes("/proc"));
});

void it("sees a mount point whose path has a space", { skip: process.getuid?.() !== 0 && "needs root" }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa mounts "));
  try {
    assert.equal(isMounted(dir), false);
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    try {
      assert.equal(isMounted(dir), true);
      assert.ok(mountPoints().includes(dir));
    } finally {
      spawnSync("umount", [dir]);
    }
    assert.equal(isMounted(dir), false);
  } finally {
    fs.rmdirSync(dir);
  }
});
