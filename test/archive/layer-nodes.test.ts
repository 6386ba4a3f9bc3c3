// Layers are extracted with their device nodes, whiteouts and xattrs made
// together at the end (src/archive/nodes.ts) and on a thread of their own
// (src/archive/threaded.ts). Neither may weaken the extraction's guarantees:
// a node is never made through a directory a later entry replaced, later
// entries of the same name win, and a layer that tries to leave its directory
// is refused on the thread as on the caller's.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import zlib from "node:zlib";
import { extractTar } from "../../src/archive/extract.ts";
import { getXattr } from "../../src/archive/xattr.ts";
import { unpackLayer } from "../../src/image/layers.ts";
import { isRoot, makeTar, streamOf, withTempDir, type TarEntry } from "../image/fixtures.ts";

const skip = isRoot ? false : "overlay whiteouts and device nodes need root";

/** Extracts entries as a layer (overlay whiteouts) into dir/target; dir/outside must stay empty. */
async function layer(entries: TarEntry[], check: (target: string, outside: string) => void): Promise<void> {
  await withTempDir("layer-nodes", async (dir) => {
    const target = path.join(dir, "target");
    const outside = path.join(dir, "outside");
    fs.mkdirSync(target);
    fs.mkdirSync(outside);
    await extractTar(streamOf(await makeTar(entries)), target, { whiteouts: "overlay" });
    check(target, outside);
    assert.deepEqual(fs.readdirSync(outside), []);
  });
}

const isWhiteout = (p: string): boolean => {
  const st = fs.lstatSync(p);
  return st.isCharacterDevice() && st.rdev === 0;
};

void test("a whiteout whose directory a later entry replaces by a symlink out is never made through it", { skip }, async () => {
  // The kernel would follow target/d -> ../outside to the real directory beside target.
  await layer(
    [
      { name: "d/", type: "directory" },
      { name: "d/.wh.victim", body: "" },
      { name: "d/dev0", type: "character-device", devmajor: 1, devminor: 3 },
      { name: "d/", type: "symlink", linkname: "../outside" },
      { name: "e/", type: "directory" },
      { name: "e/.wh..wh..opq", body: "" },
      { name: "e", type: "symlink", linkname: "../outside" },
    ],
    (target, outside) => {
      assert.equal(fs.readlinkSync(path.join(target, "d")), "../outside");
      assert.equal(fs.readlinkSync(path.join(target, "e")), "../outside");
      assert.equal(getXattr(outside, "trusted.overlay.opaque"), undefined);
    },
  );
});

void test("a whiteout through a symlinked parent lands inside the layer", { skip }, async () => {
  await layer(
    [
      { name: "up", type: "symlink", linkname: "../outside" },
      { name: "up/.wh.x", body: "" },
      { name: "abs", type: "symlink", linkname: "/etc" },
      { name: "abs/.wh.passwd", body: "" },
    ],
    (target) => {
      assert.ok(isWhiteout(path.join(target, "outside/x")));
      assert.ok(isWhiteout(path.join(target, "etc/passwd")));
    },
  );
});

void test("later entries of a node's name win; a hard link to a node links that node; metadata comes through", { skip }, async () => {
  await layer(
    [
      { name: "a/.wh.f", body: "" },
      { name: "a/f", body: "file wins" },
      { name: "a/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o640, uid: 7, gid: 8 },
      { name: "a/null2", type: "link", linkname: "a/null" },
      { name: "a/pipe", type: "fifo", mode: 0o600 },
      { name: "a/pipe", type: "directory" },
      { name: "a/disk", type: "block-device", devmajor: 259, devminor: 70000 },
      { name: "a/x", body: "x", pax: { "SCHILY.xattr.user.note": "kept" } },
      { name: "a/gone", type: "character-device", devmajor: 1, devminor: 5 },
      { name: "a/.wh.gone", body: "" },
    ],
    (target) => {
      const a = (n: string): string => path.join(target, "a", n);
      assert.equal(fs.readFileSync(a("f"), "utf8"), "file wins");
      const st = fs.lstatSync(a("null"));
      assert.ok(st.isCharacterDevice());
      assert.equal(st.rdev, fs.statSync("/dev/null").rdev);
      assert.equal(st.mode & 0o7777, 0o640);
      assert.deepEqual([st.uid, st.gid], [7, 8]);
      assert.equal(fs.lstatSync(a("null2")).ino, st.ino);
      assert.ok(fs.lstatSync(a("pipe")).isDirectory());
      const disk = fs.lstatSync(a("disk"));
      assert.ok(disk.isBlockDevice());
      // major 259, minor 70000 in the kernel's encoding of a dev_t
      assert.equal(Number(disk.rdev), ((70000 & 0xff) | ((259 & 0xfff) << 8) | ((70000 & ~0xff) << 12)) >>> 0);
      assert.ok(isWhiteout(a("gone")));
      assert.equal(getXattr(a("x"), "user.note")?.toString(), "kept");
    },
  );
});

void test("on the extraction thread: traversal, a truncated stream and a wrong diff id are refused and leave nothing", { skip }, async () => {
  await withTempDir("layer-thread", async (dir) => {
    const tmp = path.join(dir, "tmp");
    const bad = await makeTar([{ name: "ok", body: "1" }, { name: "../../escape", body: "x" }]);
    await assert.rejects(unpackLayer(streamOf(zlib.gzipSync(bad)), tmp, undefined, "layer 1"), /layer 1: .*points outside the target/);
    const good = zlib.gzipSync(await makeTar([{ name: "big", body: Buffer.alloc(1 << 20, 7) }]));
    await assert.rejects(unpackLayer(streamOf(good.subarray(0, good.length >> 1)), tmp, undefined, "layer 2"), /layer 2: .*(truncated|unexpected end)/i);
    await assert.rejects(unpackLayer(streamOf(good), tmp, "sha256:" + "0".repeat(64), "layer 3"), /layer 3: diff id mismatch/);
    assert.deepEqual(fs.readdirSync(tmp), []);
    assert.deepEqual(fs.readdirSync(dir).sort(), ["tmp"]);
    const ok = await unpackLayer(streamOf(good), tmp, undefined, "layer 4");
    assert.equal(fs.statSync(path.join(ok.tmpDir, "big")).size, 1 << 20);
  });
});
