// Safe extraction of untrusted tars: nothing lands outside the target, and
// metadata (owners, modes, setuid, mtimes, whiteouts) comes through.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import zlib from "node:zlib";
import { extractArchive, extractTar, extractToNewDir } from "../../src/archive/extract.ts";
import { isRoot, makeTar, streamOf, withTempDir, type TarEntry } from "../image/fixtures.ts";

/** A target dir plus a canary dir beside it that must stay untouched. */
async function scenario(entries: TarEntry[], check: (target: string, canary: string, err: unknown) => void, opts: { root?: "parent" } = {}): Promise<void> {
  await withTempDir("extract", async (dir) => {
    const target = path.join(dir, "target");
    const canary = path.join(dir, "canary");
    fs.mkdirSync(target);
    fs.mkdirSync(canary);
    fs.writeFileSync(path.join(canary, "keep"), "original");
    let err: unknown;
    try {
      await extractTar(streamOf(await makeTar(entries)), target, { whiteouts: "keep", root: opts.root === "parent" ? dir : undefined });
    } catch (e) {
      err = e;
    }
    check(target, canary, err);
    // Nothing new anywhere outside target: the dir holds exactly target and canary, canary exactly its file.
    assert.deepEqual(fs.readdirSync(dir).sort(), ["canary", "target"]);
    assert.deepEqual(fs.readdirSync(canary), ["keep"]);
    assert.equal(fs.readFileSync(path.join(canary, "keep"), "utf8"), "original");
  });
}

void test("a name climbing out with .. is refused and writes nothing outside", async () => {
  await scenario([{ name: "../canary/evil", body: "x" }, { name: "a/../../canary/keep", body: "overwritten" }], (_t, _c, err) => {
    assert.match(String(err), /points outside the target/);
  });
});

void test("a name climbing out deep inside (a/b/../../../x) is refused", async () => {
  await scenario([{ name: "a/b/../../../canary/evil", body: "x" }], (_t, _c, err) => assert.match(String(err), /outside/));
});

void test("absolute names become relative to the target", async () => {
  await scenario([{ name: "/etc/x", body: "abs" }, { name: "/../../canary2", body: "clamped" }], (target, _c, err) => {
    // "/../../canary2" is cleaned as a path from "/", like docker does: it stays inside.
    assert.ifError(err);
    assert.equal(fs.readFileSync(path.join(target, "etc/x"), "utf8"), "abs");
    assert.equal(fs.readFileSync(path.join(target, "canary2"), "utf8"), "clamped");
  });
});

void test("a symlink to / followed by link/etc/evil writes inside the target, not the host", async () => {
  const evil = `/tmp/capsa-evil-${process.pid}`;
  await scenario(
    [
      { name: "link", type: "symlink", linkname: "/" },
      { name: "link/etc/evil", body: "x" },
      { name: "up", type: "symlink", linkname: "../canary" },
      { name: "up/keep", body: "overwritten" },
      { name: "tmplink", type: "symlink", linkname: "/tmp" },
      { name: `tmplink/${path.basename(evil)}`, body: "x" },
    ],
    (target, _c, err) => {
      assert.ifError(err);
      // Followed as a chroot would: both land inside target.
      assert.equal(fs.readFileSync(path.join(target, "etc/evil"), "utf8"), "x");
      assert.equal(fs.readFileSync(path.join(target, "canary/keep"), "utf8"), "overwritten");
      assert.equal(fs.existsSync(evil), false);
      assert.equal(fs.readlinkSync(path.join(target, "link")), "/");
    },
  );
});

void test("a file entry over an existing symlink replaces the link instead of writing through it", async () => {
  await scenario(
    [
      { name: "f", type: "symlink", linkname: "../canary/keep" },
      { name: "f", body: "new" },
    ],
    (target, _c, err) => {
      assert.ifError(err);
      assert.equal(fs.lstatSync(path.join(target, "f")).isFile(), true);
      assert.equal(fs.readFileSync(path.join(target, "f"), "utf8"), "new");
    },
  );
});

void test("hard links that escape are refused: by .., through a symlink, or to a path outside", async () => {
  await scenario([{ name: "h", type: "link", linkname: "../canary/keep" }], (_t, _c, err) => assert.match(String(err), /outside/));
  // Through a symlink pointing out of the root: the link resolves inside the root,
  // where no such file exists.
  await scenario(
    [
      { name: "out", type: "symlink", linkname: "../canary" },
      { name: "h", type: "link", linkname: "out/keep" },
    ],
    (target, _c, err) => {
      assert.match(String(err), /does not exist/);
      assert.equal(fs.existsSync(path.join(target, "h")), false);
    },
  );
  // Scoped to a root above target: a link to a file of the root outside target is refused.
  await scenario([{ name: "h", type: "link", linkname: "../canary/keep" }], (_t, _c, err) => assert.match(String(err), /outside/), { root: "parent" });
});

void test("a hard link to a symlink that points out creates a symlink, never a link to the outside file", async () => {
  await scenario(
    [
      { name: "s", type: "symlink", linkname: "/../canary/keep" },
      { name: "h", type: "link", linkname: "s" },
      { name: "h2", body: "data" },
    ],
    (target, canary, err) => {
      assert.ifError(err);
      assert.equal(fs.lstatSync(path.join(target, "h")).isSymbolicLink(), true);
      assert.equal(fs.statSync(path.join(canary, "keep")).nlink, 1);
    },
  );
});

void test("owners, modes with setuid, mtimes and hard links are preserved", { skip: !isRoot && "needs root for chown" }, async () => {
  await withTempDir("extract", async (dir) => {
    const mtime = new Date(1_500_000_000_000);
    const t = await makeTar([
      { name: "bin/", type: "directory", mode: 0o751, uid: 3, gid: 4, mtime },
      { name: "bin/su", body: "suid", mode: 0o4755, uid: 0, gid: 0, mtime },
      { name: "bin/sg", body: "sgid", mode: 0o2711, uid: 1000, gid: 50, mtime },
      { name: "bin/su2", type: "link", linkname: "bin/su" },
      { name: "bin/sh", type: "symlink", linkname: "su", uid: 7, gid: 8, mtime },
      { name: "tmp/", type: "directory", mode: 0o1777 },
    ]);
    await extractTar(streamOf(t), dir, { whiteouts: "keep" });
    const su = fs.statSync(path.join(dir, "bin/su"));
    assert.equal(su.mode & 0o7777, 0o4755);
    assert.equal(su.mtimeMs, mtime.getTime());
    assert.equal(su.nlink, 2);
    assert.equal(fs.statSync(path.join(dir, "bin/su2")).ino, su.ino);
    const sg = fs.statSync(path.join(dir, "bin/sg"));
    assert.deepEqual([sg.mode & 0o7777, sg.uid, sg.gid], [0o2711, 1000, 50]);
    const bin = fs.statSync(path.join(dir, "bin"));
    assert.deepEqual([bin.mode & 0o7777, bin.uid, bin.gid, bin.mtimeMs], [0o751, 3, 4, mtime.getTime()]);
    const sh = fs.lstatSync(path.join(dir, "bin/sh"));
    assert.deepEqual([sh.uid, sh.gid, sh.mtimeMs], [7, 8, mtime.getTime()]);
    assert.equal(fs.statSync(path.join(dir, "tmp")).mode & 0o7777, 0o1777);
  });
});

void test("device nodes are created as root and skipped with a reason when disabled", { skip: !isRoot && "needs root for mknod" }, async () => {
  await withTempDir("extract", async (dir) => {
    const t = await makeTar([
      { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
      { name: "dev/fifo", type: "fifo", mode: 0o600 },
    ]);
    await extractTar(streamOf(t), dir, { whiteouts: "keep" });
    const st = fs.statSync(path.join(dir, "dev/null"));
    assert.equal(st.isCharacterDevice(), true);
    assert.equal(st.rdev, (1 << 8) | 3);
    assert.equal(fs.statSync(path.join(dir, "dev/fifo")).isFIFO(), true);
    const other = path.join(dir, "other");
    fs.mkdirSync(other);
    const r = await extractTar(streamOf(t), other, { whiteouts: "keep", devices: false });
    assert.equal(fs.existsSync(path.join(other, "dev/null")), false);
    assert.deepEqual(r.skipped.map((s) => s.path), ["dev/null"]);
    assert.match(r.skipped[0]!.reason, /device nodes/);
  });
});

void test("overlay mode turns .wh. entries into 0/0 char devices and .wh..wh..opq into the opaque xattr", { skip: !isRoot && "needs root" }, async () => {
  await withTempDir("extract", async (dir) => {
    const t = await makeTar([
      { name: "etc/", type: "directory" },
      { name: "etc/.wh.passwd", body: "" },
      { name: "var/", type: "directory" },
      { name: "var/.wh..wh..opq", body: "" },
      { name: "var/new", body: "n" },
    ]);
    await extractTar(streamOf(t), dir, { whiteouts: "overlay" });
    const wh = fs.lstatSync(path.join(dir, "etc/passwd"));
    assert.equal(wh.isCharacterDevice(), true);
    assert.equal(wh.rdev, 0);
    assert.equal(fs.existsSync(path.join(dir, "etc/.wh.passwd")), false);
    const attr = spawnSync("getfattr", ["--only-values", "-n", "trusted.overlay.opaque", path.join(dir, "var")], { encoding: "utf8" });
    assert.equal(attr.stdout, "y");
    assert.equal(fs.readFileSync(path.join(dir, "var/new"), "utf8"), "n");
    assert.equal(fs.existsSync(path.join(dir, "var/.wh..wh..opq")), false);
  });
});

void test("apply mode deletes whited-out files and older content of opaque dirs; keep mode writes them as files", async () => {
  await withTempDir("extract", async (dir) => {
    fs.mkdirSync(path.join(dir, "etc"));
    fs.writeFileSync(path.join(dir, "etc/passwd"), "old");
    fs.writeFileSync(path.join(dir, "etc/group"), "old");
    fs.mkdirSync(path.join(dir, "var/cache"), { recursive: true });
    fs.writeFileSync(path.join(dir, "var/old"), "old");
    const t = await makeTar([
      { name: "etc/.wh.passwd", body: "" },
      { name: "var/new", body: "n" },
      { name: "var/.wh..wh..opq", body: "" },
    ]);
    await extractTar(streamOf(t), dir, { whiteouts: "apply" });
    assert.deepEqual(fs.readdirSync(path.join(dir, "etc")), ["group"]);
    assert.deepEqual(fs.readdirSync(path.join(dir, "var")), ["new"]);
    const keep = path.join(dir, "keep");
    fs.mkdirSync(keep);
    await extractTar(streamOf(t), keep, { whiteouts: "keep" });
    assert.equal(fs.existsSync(path.join(keep, "etc/.wh.passwd")), true);
  });
});

void test("an invalid whiteout name (.wh.. ) is refused", async () => {
  await withTempDir("extract", async (dir) => {
    const t = await makeTar([{ name: "a/.wh..", body: "" }]);
    await assert.rejects(extractTar(streamOf(t), dir, { whiteouts: "apply" }), /invalid whiteout/);
  });
});

void test("a truncated gzip is a clear error and extractToNewDir leaves neither the target nor temp files", async () => {
  await withTempDir("extract", async (dir) => {
    const big = Buffer.alloc(256 * 1024, "a");
    const gz = zlib.gzipSync(await makeTar([{ name: "f", body: big }, { name: "g", body: "x" }]));
    const tmpRoot = path.join(dir, "tmp");
    const final = path.join(dir, "final");
    await assert.rejects(extractToNewDir(streamOf(gz.subarray(0, gz.length - 40)), final, { whiteouts: "keep", tmpRoot }), /gzip: unexpected end of file/);
    assert.equal(fs.existsSync(final), false);
    assert.deepEqual(fs.readdirSync(tmpRoot), []);
    // A truncated plain tar is refused too.
    const plain = await makeTar([{ name: "f", body: big }]);
    await assert.rejects(extractToNewDir(streamOf(plain.subarray(0, 10_000)), final, { whiteouts: "keep", tmpRoot }));
    assert.equal(fs.existsSync(final), false);
    assert.deepEqual(fs.readdirSync(tmpRoot), []);
    // And the intact one installs.
    const r = await extractToNewDir(streamOf(gz), final, { whiteouts: "keep", tmpRoot });
    assert.equal(r.installed, true);
    assert.equal(fs.statSync(path.join(final, "f")).size, big.length);
  });
});

void test("the loser of two concurrent extractions into the same final dir discards its copy", async () => {
  await withTempDir("extract", async (dir) => {
    const t = await makeTar([{ name: "f", body: "same" }]);
    const tmpRoot = path.join(dir, "tmp");
    const final = path.join(dir, "final");
    const rs = await Promise.all([1, 2, 3].map(() => extractToNewDir(streamOf(t), final, { whiteouts: "keep", tmpRoot })));
    assert.equal(rs.filter((r) => r.installed).length, 1);
    assert.deepEqual(fs.readdirSync(final), ["f"]);
    assert.deepEqual(fs.readdirSync(tmpRoot), []);
  });
});

void test("extractArchive detects gzip and zstd by magic bytes", async () => {
  await withTempDir("extract", async (dir) => {
    const t = await makeTar([{ name: "hello", body: "world" }]);
    const gzDir = path.join(dir, "gz");
    fs.mkdirSync(gzDir);
    await extractArchive(streamOf(zlib.gzipSync(t)), gzDir, { whiteouts: "keep" });
    assert.equal(fs.readFileSync(path.join(gzDir, "hello"), "utf8"), "world");
    const z = spawnSync("zstd", ["-q", "-c"], { input: t });
    if (z.status === 0) {
      const zDir = path.join(dir, "zst");
      fs.mkdirSync(zDir);
      await extractArchive(streamOf(z.stdout), zDir, { whiteouts: "keep" });
      assert.equal(fs.readFileSync(path.join(zDir, "hello"), "utf8"), "world");
    }
  });
});

void test("noOverwriteDirNonDir refuses to replace a directory by a file", async () => {
  await withTempDir("extract", async (dir) => {
    fs.mkdirSync(path.join(dir, "d"));
    const t = await makeTar([{ name: "d", body: "file" }]);
    await assert.rejects(extractTar(streamOf(t), dir, { whiteouts: "keep", noOverwriteDirNonDir: true }), /cannot overwrite directory/);
    assert.equal(fs.statSync(path.join(dir, "d")).isDirectory(), true);
    await extractTar(streamOf(t), dir, { whiteouts: "keep" });
    assert.equal(fs.readFileSync(path.join(dir, "d"), "utf8"), "file");
  });
});

void test("with a container root, absolute symlinks resolve inside that root (cp semantics)", async () => {
  await withTempDir("extract", async (dir) => {
    const rootfs = path.join(dir, "rootfs");
    fs.mkdirSync(path.join(rootfs, "etc"), { recursive: true });
    fs.mkdirSync(path.join(rootfs, "data"));
    fs.symlinkSync("/etc", path.join(rootfs, "data/conf"));
    const t = await makeTar([{ name: "conf/app.ini", body: "k=v" }]);
    await extractTar(streamOf(t), path.join(rootfs, "data"), { whiteouts: "keep", root: rootfs });
    assert.equal(fs.readFileSync(path.join(rootfs, "etc/app.ini"), "utf8"), "k=v");
  });
});
