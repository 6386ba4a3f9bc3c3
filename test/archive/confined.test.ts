// Work inside a tree that may change meanwhile (confined.ts): resolution as a
// chroot would, removal and packing that never follow a name out, and reads of
// image files that refuse FIFOs, devices and oversized files.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { Tree, fdPath, removeAt } from "../../src/archive/confined.ts";
import { extractTar } from "../../src/archive/extract.ts";
import { packDir } from "../../src/archive/pack.ts";
import { MAX_ROOTFS_FILE_BYTES, readFileInRoot } from "../../src/runtime/rootfs-path.ts";
import { CapsaError } from "../../src/util/errors.ts";
import { isRoot, makeTar, readTar, streamOf, withTempDir } from "../image/fixtures.ts";

async function toBuffer(r: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/** root/ and a canary/ beside it with one file. */
async function withRootAndCanary(fn: (root: string, canary: string) => Promise<void> | void): Promise<void> {
  await withTempDir("confined", async (dir) => {
    const root = path.join(dir, "root");
    const canary = path.join(dir, "canary");
    fs.mkdirSync(root);
    fs.mkdirSync(canary);
    fs.writeFileSync(path.join(canary, "keep"), "original", { mode: 0o600 });
    await fn(root, canary);
    assert.deepEqual(fs.readdirSync(canary), ["keep"]);
    assert.equal(fs.readFileSync(path.join(canary, "keep"), "utf8"), "original");
    assert.equal(fs.statSync(path.join(canary, "keep")).mode & 0o7777, 0o600);
  });
}

void test("Tree.resolve follows links inside the tree: an absolute target restarts at the top, .. stops there", async () => {
  await withRootAndCanary((root, canary) => {
    fs.mkdirSync(path.join(root, "etc/sub"), { recursive: true });
    fs.writeFileSync(path.join(root, "etc/sub/f"), "in");
    fs.symlinkSync("/etc", path.join(root, "abs"));
    fs.symlinkSync("../../../../etc", path.join(root, "etc/up"));
    fs.symlinkSync(canary, path.join(root, "host"));
    const tree = Tree.open(root);
    try {
      for (const [p, want] of [["abs/sub/f", "etc/sub/f"], ["etc/up/sub/f", "etc/sub/f"], ["../../etc/sub/f", "etc/sub/f"]] as const) {
        const r = tree.resolve(p);
        assert.equal(r.rel, want);
        assert.equal(fs.readFileSync(fdPath(r.fd), "utf8"), "in");
        fs.closeSync(r.fd);
      }
      // The host path the link names does not exist inside the tree.
      assert.throws(() => tree.resolve("host/keep"), { code: "ENOENT" });
      const link = tree.resolve("host", { followLast: false });
      assert.ok(fs.fstatSync(link.fd).isSymbolicLink());
      fs.closeSync(link.fd);
      // mkdir creates inside the tree, also where a link points.
      const made = tree.resolveDir("host/new", { mkdir: true });
      assert.equal(made.rel, canary.slice(1) + "/new");
      fs.closeSync(made.fd);
      assert.ok(fs.statSync(path.join(root, canary, "new")).isDirectory());
    } finally {
      tree.close();
    }
  });
});

void test("removeAt deletes a tree holding links to the outside without following them", async () => {
  await withRootAndCanary((root, canary) => {
    fs.mkdirSync(path.join(root, "d/sub"), { recursive: true });
    fs.symlinkSync(canary, path.join(root, "d/sub/link"));
    fs.symlinkSync(path.join(canary, "keep"), path.join(root, "d/file-link"));
    const tree = Tree.open(root);
    try {
      removeAt(tree.fd, "d");
    } finally {
      tree.close();
    }
    assert.deepEqual(fs.readdirSync(root), []);
  });
});

void test("confined extraction resolves parents inside the root and never writes through links", async () => {
  await withRootAndCanary(async (root, canary) => {
    fs.mkdirSync(path.join(root, "tmp"));
    fs.symlinkSync(canary, path.join(root, "tmp/d"));
    const tarball = await makeTar([
      { name: "d/keep", body: "written", mode: 0o666 },
      { name: "x", type: "symlink", linkname: path.join(canary, "keep") },
      { name: "x", body: "replaces the link" },
      { name: "hl", type: "link", linkname: "d/keep" },
    ]);
    await extractTar(streamOf(tarball), path.join(root, "tmp"), { whiteouts: "keep", root, confined: true });
    // tmp/d -> <canary> resolves inside the root: <root><canary>/keep.
    assert.equal(fs.readFileSync(path.join(root, canary, "keep"), "utf8"), "written");
    assert.equal(fs.statSync(path.join(root, canary, "keep")).mode & 0o777, 0o666);
    assert.equal(fs.readFileSync(path.join(root, "tmp/x"), "utf8"), "replaces the link");
    assert.equal(fs.readFileSync(path.join(root, "tmp/hl"), "utf8"), "written");
  });
});

void test("confined extraction sets the target's own metadata and creates FIFOs and devices by the open directory", { skip: !isRoot && "needs root for mknod" }, async () => {
  await withRootAndCanary(async (root) => {
    fs.mkdirSync(path.join(root, "t"), { mode: 0o700 });
    const tarball = await makeTar([
      { name: "./", type: "directory", mode: 0o751 },
      { name: "p", type: "fifo", mode: 0o640 },
      { name: "null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
    ]);
    await extractTar(streamOf(tarball), path.join(root, "t"), { whiteouts: "keep", root, confined: true });
    assert.equal(fs.statSync(path.join(root, "t")).mode & 0o7777, 0o751);
    assert.ok(fs.lstatSync(path.join(root, "t/p")).isFIFO());
    assert.equal(fs.lstatSync(path.join(root, "t/p")).mode & 0o7777, 0o640);
    assert.ok(fs.lstatSync(path.join(root, "t/null")).isCharacterDevice());
  });
});

void test("confined extraction refuses a target outside the root and hard links out of the target", async () => {
  await withRootAndCanary(async (root) => {
    fs.mkdirSync(path.join(root, "a"));
    fs.writeFileSync(path.join(root, "outside-target"), "o");
    await assert.rejects(extractTar(streamOf(await makeTar([{ name: "f", body: "x" }])), path.join(root, ".."), { whiteouts: "keep", root, confined: true }), /not inside/);
    await assert.rejects(extractTar(streamOf(await makeTar([{ name: "hl", type: "link", linkname: "../outside-target" }])), path.join(root, "a"), { whiteouts: "keep", root, confined: true }), /outside the target/);
    assert.deepEqual(fs.readdirSync(path.join(root, "a")), []);
  });
});

void test("packDir keeps to the directory it opened when a name is swapped for a link mid-walk, and leaves out what vanished", async () => {
  await withRootAndCanary(async (root, canary) => {
    fs.mkdirSync(path.join(root, "d"));
    fs.writeFileSync(path.join(root, "d/keep"), "inside");
    fs.writeFileSync(path.join(root, "gone"), "g");
    const out = await toBuffer(
      packDir(root, {
        exclude: (rel) => {
          // Called once "d" is already open: swap it for a link to the canary, and delete "gone".
          if (rel === "d") {
            fs.renameSync(path.join(root, "d"), path.join(root, "d.real"));
            fs.symlinkSync(canary, path.join(root, "d"));
            fs.rmSync(path.join(root, "gone"));
          }
          return false;
        },
      }),
    );
    const files = await readTar(out);
    assert.equal(files.get("d/keep")?.body.toString(), "inside");
    assert.ok(!files.has("gone"));
    assert.ok(!out.includes("original"), "the canary's content was packed");
  });
});

void test("readFileInRoot reads regular files only, up to its cap, with a clear error otherwise", { skip: !isRoot && "needs root for mknod" }, async () => {
  await withRootAndCanary((root) => {
    fs.mkdirSync(path.join(root, "etc"));
    fs.mkdirSync(path.join(root, "dev"));
    assert.equal(spawnSync("mkfifo", [path.join(root, "etc/passwd")]).status, 0);
    assert.equal(spawnSync("mknod", [path.join(root, "dev/zero"), "c", "1", "5"]).status, 0);
    fs.symlinkSync("/dev/zero", path.join(root, "etc/group"));
    fs.writeFileSync(path.join(root, "etc/big"), Buffer.alloc(MAX_ROOTFS_FILE_BYTES + 1));
    fs.writeFileSync(path.join(root, "etc/ok"), "root:x:0:0::/root:/bin/sh\n");
    fs.symlinkSync("../../../etc/ok", path.join(root, "etc/linked"));
    const refused = (p: string, why: RegExp): void =>
      assert.throws(() => readFileInRoot(root, p), (e: unknown) => e instanceof CapsaError && why.test(e.message) && e.message.includes(p));
    refused("/etc/passwd", /not a regular file \(a FIFO\)/);
    refused("/etc/group", /not a regular file \(a character device\)/);
    refused("/etc/big", /larger than 4194304 bytes/);
    assert.equal(readFileInRoot(root, "/etc/linked"), "root:x:0:0::/root:/bin/sh\n");
    assert.equal(readFileInRoot(root, "/etc/missing"), undefined);
  });
});

void test("a pack stream destroyed mid-file stops the walk and closes what it opened", async () => {
  await withTempDir("confined", async (dir) => {
    fs.mkdirSync(path.join(dir, "a/b"), { recursive: true });
    fs.writeFileSync(path.join(dir, "a/b/big"), Buffer.alloc(16 * 1024 * 1024, 1));
    const fds = (): number => fs.readdirSync("/proc/self/fd").length;
    const before = fds();
    const stream = packDir(dir);
    for await (const _ of stream) break; // the first chunk, then destroy
    for (let i = 0; i < 50 && fds() > before; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(fds(), before, "file descriptors left open after the reader went away");
  });
});
