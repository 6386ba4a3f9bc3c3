// --user / --group-add resolution against a rootfs's /etc/passwd and /etc/group.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { CapsaError } from "../../src/util/errors.ts";
import { secureJoin } from "../../src/runtime/rootfs-path.ts";
import { resolveUser } from "../../src/runtime/user.ts";

function rootfs(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-user-"));
  fs.mkdirSync(path.join(dir, "etc"));
  fs.writeFileSync(path.join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n1234:x:2000:2000::/home/num:/bin/sh\n");
  fs.writeFileSync(path.join(dir, "etc/group"), "root:x:0:\napp:x:1000:\nstaff:x:50:app,other\nwheel:x:10:app\nnogroup:x:65534:\n");
  return dir;
}

function withRoot(fn: (dir: string) => void): void {
  const dir = rootfs();
  try {
    fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void test("names and numbers: passwd entries give gid, home and member groups; unknown numeric ids are allowed", () => {
  withRoot((r) => {
    assert.deepEqual(resolveUser(r, undefined), { uid: 0, gid: 0, additionalGids: [], home: "/root", name: "root" });
    assert.deepEqual(resolveUser(r, "app"), { uid: 1000, gid: 1000, additionalGids: [50, 10], home: "/home/app", name: "app" });
    assert.deepEqual(resolveUser(r, "1000"), { uid: 1000, gid: 1000, additionalGids: [50, 10], home: "/home/app", name: "app" });
    assert.deepEqual(resolveUser(r, "4321"), { uid: 4321, gid: 0, additionalGids: [], home: "/" });
    assert.equal(resolveUser(r, "1234").uid, 2000, "a user named 1234 wins over uid 1234");
  });
});

void test("user:group sets the primary group and drops implicit supplementary groups; --group-add adds names or gids", () => {
  withRoot((r) => {
    assert.deepEqual(resolveUser(r, "app:staff"), { uid: 1000, gid: 50, additionalGids: [], home: "/home/app", name: "app" });
    assert.deepEqual(resolveUser(r, "5:77"), { uid: 5, gid: 77, additionalGids: [], home: "/" });
    assert.deepEqual(resolveUser(r, "app", ["nogroup", "4242", "staff"]).additionalGids, [50, 10, 65534, 4242]);
  });
});

void test("unknown names are a 125 error with docker's message", () => {
  withRoot((r) => {
    assert.throws(() => resolveUser(r, "xyz"), (e: unknown) => e instanceof CapsaError && e.exitCode === 125 && e.message === "unable to find user xyz: no matching entries in passwd file");
    assert.throws(() => resolveUser(r, "app:nogrp"), /unable to find group nogrp: no matching entries in group file/);
    assert.throws(() => resolveUser(r, "app", ["nogrp"]), /unable to find group nogrp/);
    assert.throws(() => resolveUser(r, "99999999999"), /must be in range/);
  });
});

void test("/etc/passwd is read inside the rootfs even through symlinks that point out of it", () => {
  withRoot((r) => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-outside-"));
    try {
      fs.writeFileSync(path.join(outside, "passwd"), "evil:x:666:666::/:/bin/sh\n");
      // An absolute link and a ../ escape: both must resolve inside r.
      fs.mkdirSync(path.join(r, "real"));
      fs.writeFileSync(path.join(r, "real/passwd"), "linked:x:7:7::/l:/bin/sh\n");
      fs.renameSync(path.join(r, "etc/passwd"), path.join(r, "etc/passwd.orig"));
      fs.symlinkSync(path.join(outside, "passwd"), path.join(r, "etc/passwd"));
      assert.throws(() => resolveUser(r, "evil"), /unable to find user evil/);
      fs.unlinkSync(path.join(r, "etc/passwd"));
      fs.symlinkSync(`../../../../../../..${outside}/passwd`, path.join(r, "etc/passwd"));
      assert.throws(() => resolveUser(r, "evil"), /unable to find user evil/);
      fs.unlinkSync(path.join(r, "etc/passwd"));
      fs.symlinkSync("/real/passwd", path.join(r, "etc/passwd"));
      assert.equal(resolveUser(r, "linked").uid, 7);
      assert.equal(secureJoin(r, "/etc/../../../x"), path.join(r, "x"));
      fs.symlinkSync("/", path.join(r, "up"));
      assert.equal(secureJoin(r, "/up/up/real/passwd"), path.join(r, "real/passwd"));
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});

void test("a rootfs without /etc/passwd: numeric users work, names do not", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-user-empty-"));
  try {
    assert.deepEqual(resolveUser(dir, undefined), { uid: 0, gid: 0, additionalGids: [], home: "/" });
    assert.deepEqual(resolveUser(dir, "10:20"), { uid: 10, gid: 20, additionalGids: [], home: "/" });
    assert.throws(() => resolveUser(dir, "root"), /unable to find user root/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
