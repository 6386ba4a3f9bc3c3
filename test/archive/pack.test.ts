// Packing directories (export, cp, commit) and docker's diff from an upper dir.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { changesFromUpperDir } from "../../src/archive/changes.ts";
import { packDir, packUpperDir } from "../../src/archive/pack.ts";
import { isRoot, readTar, withTempDir } from "../image/fixtures.ts";

async function toBuffer(r: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

void test("packDir stores content relative to the dir, sorted, with hard links and symlinks", async () => {
  await withTempDir("pack", async (dir) => {
    fs.mkdirSync(path.join(dir, "b/c"), { recursive: true });
    fs.writeFileSync(path.join(dir, "b/c/f"), "data");
    fs.linkSync(path.join(dir, "b/c/f"), path.join(dir, "a-link"));
    fs.symlinkSync("/nowhere", path.join(dir, "s"));
    fs.chmodSync(path.join(dir, "b/c/f"), 0o4750);
    const files = await readTar(await toBuffer(packDir(dir)));
    assert.deepEqual([...files.keys()], ["a-link", "b/", "b/c/", "b/c/f", "s"]);
    assert.equal(files.get("b/c/f")!.type, "link");
    assert.equal(files.get("b/c/f")!.linkname, "a-link");
    assert.equal(files.get("a-link")!.body.toString(), "data");
    assert.equal(files.get("a-link")!.mode, 0o4750);
    assert.equal(files.get("s")!.linkname, "/nowhere");
    const named = await readTar(await toBuffer(packDir(path.join(dir, "b"), { name: "b" })));
    assert.deepEqual([...named.keys()], ["b/", "b/c/", "b/c/f"]);
    const single = await readTar(await toBuffer(packDir(path.join(dir, "b/c/f"))));
    assert.deepEqual([...single.keys()], ["f"]);
  });
});

void test("packUpperDir turns overlay whiteouts and opaque dirs into OCI .wh. entries", { skip: !isRoot && "needs root" }, async () => {
  await withTempDir("pack", async (dir) => {
    fs.mkdirSync(path.join(dir, "etc"));
    fs.mkdirSync(path.join(dir, "var"));
    fs.writeFileSync(path.join(dir, "var/new"), "n");
    assert.equal(spawnSync("mknod", [path.join(dir, "etc/passwd"), "c", "0", "0"]).status, 0);
    assert.equal(spawnSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", path.join(dir, "var")]).status, 0);
    const files = await readTar(await toBuffer(packUpperDir(dir)));
    assert.deepEqual([...files.keys()], ["etc/", "etc/.wh.passwd", "var/", "var/.wh..wh..opq", "var/new"]);
    assert.equal(files.get("etc/.wh.passwd")!.type, "file");
  });
});

void test("changesFromUpperDir reports modified, added and deleted like docker diff", { skip: !isRoot && "needs root" }, async () => {
  await withTempDir("pack", async (dir) => {
    const lower2 = path.join(dir, "l2"); // bottom
    const lower1 = path.join(dir, "l1"); // top
    const upper = path.join(dir, "upper");
    fs.mkdirSync(path.join(lower2, "etc"), { recursive: true });
    fs.writeFileSync(path.join(lower2, "etc/passwd"), "p");
    fs.writeFileSync(path.join(lower2, "etc/gone"), "g");
    fs.mkdirSync(path.join(lower1, "etc"), { recursive: true });
    assert.equal(spawnSync("mknod", [path.join(lower1, "etc/gone"), "c", "0", "0"]).status, 0);
    fs.mkdirSync(path.join(upper, "etc"), { recursive: true });
    fs.writeFileSync(path.join(upper, "etc/passwd"), "changed");
    fs.writeFileSync(path.join(upper, "etc/gone"), "recreated"); // deleted in l1: counts as added
    fs.mkdirSync(path.join(upper, "new/sub"), { recursive: true });
    assert.equal(spawnSync("mknod", [path.join(upper, "etc/hostname"), "c", "0", "0"]).status, 0);
    assert.deepEqual(changesFromUpperDir(upper, [lower1, lower2]), [
      { Path: "/etc", Kind: 0 },
      { Path: "/etc/gone", Kind: 1 },
      { Path: "/etc/hostname", Kind: 2 },
      { Path: "/etc/passwd", Kind: 0 },
      { Path: "/new", Kind: 1 },
      { Path: "/new/sub", Kind: 1 },
    ]);
  });
});
