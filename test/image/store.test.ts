// The image store on a private state root: import, names, removal, history,
// layer sharing and commit — all with real tars and real layer directories.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import zlib from "node:zlib";
import { isRoot, makeTar, sha256, snapshotState, streamOf, withStore, type StoreFixture } from "./fixtures.ts";

const rootfs = (): Promise<Buffer> =>
  makeTar([
    { name: "bin/", type: "directory" },
    { name: "bin/sh", body: "#!fake shell\n", mode: 0o755 },
    { name: "etc/", type: "directory" },
    { name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n" },
    { name: "etc/hostname", body: "h\n" },
  ]);

async function importOne(f: StoreFixture, ref?: string, body?: Buffer, changes?: string[]) {
  return f.store.importRootfs(streamOf(body ?? (await rootfs())), { ref, changes });
}

void test("import of a plain rootfs tar makes a one-layer image whose diff id is the tar's sha256", async () => {
  await withStore("img", async (f) => {
    const tarBytes = await rootfs();
    const img = await importOne(f, "busybox", tarBytes, ['CMD ["sh"]', "ENV A=1 B=\"two words\"", "WORKDIR /srv", "ENTRYPOINT /bin/sh -x", "USER app", "EXPOSE 80 53/udp", "LABEL k=v", "VOLUME /data", "STOPSIGNAL SIGINT"]);
    assert.deepEqual(img.config.rootfs.diff_ids, [sha256(tarBytes)]);
    assert.equal(img.config.architecture, "amd64");
    assert.equal(img.config.os, "linux");
    assert.deepEqual(img.repoTags, ["docker.io/library/busybox:latest"]);
    assert.equal(img.size, tarBytes.length);
    assert.equal(img.id, sha256(f.store.content.read(img.id)));
    const c = img.config.config!;
    assert.deepEqual(c.Cmd, ["sh"]);
    assert.deepEqual(c.Env, ["A=1", "B=two words"]);
    assert.equal(c.WorkingDir, "/srv");
    assert.deepEqual(c.Entrypoint, ["/bin/sh", "-c", "/bin/sh -x"]);
    assert.equal(c.User, "app");
    assert.deepEqual(c.ExposedPorts, { "80/tcp": {}, "53/udp": {} });
    assert.deepEqual(c.Labels, { k: "v" });
    assert.deepEqual(c.Volumes, { "/data": {} });
    assert.equal(c.StopSignal, "SIGINT");
    assert.equal(img.config.history?.[0]?.comment, "Imported from -");
    const dirs = f.store.layerDirs(img.id);
    assert.equal(dirs.length, 1);
    assert.equal(fs.readFileSync(path.join(dirs[0]!, "etc/passwd"), "utf8"), "root:x:0:0::/root:/bin/sh\n");
    assert.ok(path.basename(dirs[0]!).length <= 24);
    assert.deepEqual(snapshotState(f).tmp, []);
  });
});

void test("import accepts gzip and zstd rootfs tarballs (detected by magic bytes) to the same image content", async () => {
  await withStore("img", async (f) => {
    const t = await rootfs();
    const a = await importOne(f, "a", t);
    const b = await importOne(f, "b", zlib.gzipSync(t));
    assert.deepEqual(b.config.rootfs.diff_ids, a.config.rootfs.diff_ids);
    const z = spawnSync("zstd", ["-q", "-c"], { input: t });
    if (z.status === 0) {
      const c = await importOne(f, "c", z.stdout);
      assert.deepEqual(c.config.rootfs.diff_ids, a.config.rootfs.diff_ids);
    }
    // Same layer content: one layer row and one directory, shared.
    assert.equal(snapshotState(f).layers, 1);
    assert.equal(snapshotState(f).layerDirs.length, 1);
    assert.deepEqual(f.store.layerDirs(a.id), f.store.layerDirs(b.id));
  });
});

void test("a bad change is refused before anything is stored", async () => {
  await withStore("img", async (f) => {
    await assert.rejects(importOne(f, "x", undefined, ["FROB x"]), /not a valid change command/);
    const s = snapshotState(f);
    assert.deepEqual([s.images, s.layers, s.blobs.length, s.layerDirs.length], [0, 0, 0, 0]);
  });
});

void test("a corrupt rootfs tarball (truncated gzip) leaves nothing behind", async () => {
  await withStore("img", async (f) => {
    const gz = zlib.gzipSync(await makeTar([{ name: "big", body: Buffer.alloc(300_000, 7) }]));
    await assert.rejects(importOne(f, "x", gz.subarray(0, gz.length - 30)), /gzip/);
    const s = snapshotState(f);
    assert.deepEqual([s.images, s.layers, s.refs, s.blobs.length, s.layerDirs.length, s.tmp.length], [0, 0, 0, 0, 0, 0]);
  });
});

void test("resolve accepts names, full and short ids; tag moves names; list filters", async () => {
  await withStore("img", async (f) => {
    const img = await importOne(f, "busybox:1");
    const hexId = img.id.slice(7);
    for (const q of ["busybox:1", "docker.io/library/busybox:1", img.id, hexId, hexId.slice(0, 12), "sha256:" + hexId.slice(0, 5)]) {
      assert.equal(f.store.resolve(q).id, img.id, q);
    }
    assert.throws(() => f.store.resolve("busybox"), /No such image: busybox/);
    assert.equal(f.store.tryResolve("nope"), undefined);
    f.store.tag("busybox:1", "localhost:5000/bb");
    assert.deepEqual(f.store.resolve(img.id).repoTags.sort(), ["docker.io/library/busybox:1", "localhost:5000/bb:latest"]);
    assert.throws(() => f.store.tag("busybox:1", `x@sha256:${"0".repeat(64)}`), /digest reference/);
    const other = await importOne(f, undefined, await makeTar([{ name: "only", body: "1" }]));
    assert.deepEqual(f.store.list({ filters: { dangling: ["true"] } }).map((i) => i.id), [other.id]);
    assert.deepEqual(f.store.list({ filters: { reference: ["busybox"] } }).map((i) => i.id), [img.id]);
    assert.deepEqual(f.store.list({ filters: { reference: ["localhost:5000/*"] } }).map((i) => i.id), [img.id]);
    assert.equal(f.store.list().length, 2);
  });
});

void test("rmi of one of two tags untags; of the last tag deletes the image, its layer dir and blobs", async () => {
  await withStore("img", async (f) => {
    const img = await importOne(f, "a:1");
    f.store.tag("a:1", "b:2");
    assert.deepEqual(f.store.remove("a:1"), [{ Untagged: "a:1" }]);
    assert.ok(f.store.tryResolve(img.id));
    const dir = f.store.layerDirs(img.id)[0]!;
    const r = f.store.remove("b:2");
    assert.deepEqual(r[0], { Untagged: "b:2" });
    assert.deepEqual(r[1], { Deleted: img.id });
    assert.equal(f.store.tryResolve(img.id), undefined);
    assert.equal(fs.existsSync(dir), false);
    const s = snapshotState(f);
    assert.deepEqual([s.images, s.layers, s.refs, s.blobs.length, s.layerDirs.length], [0, 0, 0, 0, 0]);
  });
});

void test("rmi keeps a layer dir another image still uses", async () => {
  await withStore("img", async (f) => {
    const t = await rootfs();
    const a = await importOne(f, "a", t, ["CMD a"]);
    const b = await importOne(f, "b", t, ["CMD b"]);
    assert.notEqual(a.id, b.id);
    const dir = f.store.layerDirs(a.id)[0]!;
    f.store.remove("a");
    assert.equal(fs.existsSync(dir), true);
    assert.deepEqual(f.store.layerDirs(b.id), [dir]);
    f.store.remove("b");
    assert.equal(fs.existsSync(dir), false);
  });
});

void test("rmi refuses an image a container uses, like docker", async () => {
  await withStore("img", async (f) => {
    const img = await importOne(f, "used");
    const cid = "c".repeat(64);
    f.db
      .prepare("INSERT INTO containers (id, name, image_id, image_ref, created, config, host_config, state, runtime) VALUES (?, 'n', ?, 'used', '', '{}', '{}', ?, 'runc')")
      .run(cid, img.id, JSON.stringify({ Running: false }));
    assert.throws(
      () => f.store.remove("used"),
      new RegExp(`conflict: unable to remove repository reference "used" \\(must force\\) - container ${"c".repeat(12)} is using its referenced image ${img.id.slice(7, 19)}`),
    );
    assert.throws(() => f.store.remove(img.id), /must be forced\) - image is being used by stopped container/);
    // Forced: the name goes, the image stays for its container.
    assert.deepEqual(f.store.remove("used", { force: true }), [{ Untagged: "used:latest" }]);
    assert.ok(f.store.tryResolve(img.id));
    assert.equal(f.store.prune({ all: true }).ImagesDeleted.length, 0);
    f.db.prepare("UPDATE containers SET state = ?").run(JSON.stringify({ Running: true }));
    assert.throws(() => f.store.remove(img.id, { force: true }), /cannot be forced\) - image is being used by running container/);
    f.db.prepare("DELETE FROM containers").run();
    assert.equal(f.store.remove(img.id)[0]?.Deleted, img.id);
  });
});

void test("prune removes dangling images, prune -a also tagged ones, and orphaned files", async () => {
  await withStore("img", async (f) => {
    const dangling = await importOne(f, undefined, await makeTar([{ name: "d", body: "d" }]));
    const tagged = await importOne(f, "keep");
    // An orphan blob and layer dir, as a crash between publish and commit would leave.
    fs.writeFileSync(path.join(f.paths.blobs, "f".repeat(64)), "orphan");
    fs.mkdirSync(path.join(f.paths.layers, "0123456789abcdef01234567"));
    const r = f.store.prune();
    assert.ok(r.ImagesDeleted.some((d) => d.Deleted === dangling.id));
    assert.ok(r.SpaceReclaimed > 0);
    assert.ok(f.store.tryResolve(tagged.id));
    assert.equal(fs.existsSync(path.join(f.paths.blobs, "f".repeat(64))), false);
    assert.equal(fs.existsSync(path.join(f.paths.layers, "0123456789abcdef01234567")), false);
    f.store.prune({ all: true });
    const s = snapshotState(f);
    assert.deepEqual([s.images, s.layers, s.blobs.length, s.layerDirs.length], [0, 0, 0, 0]);
  });
});

void test("commitLayer turns an upper dir (with overlay whiteouts) into a new layer on top of its parent", { skip: !isRoot && "needs root for whiteouts" }, async () => {
  await withStore("img", async (f, dir) => {
    const base = await importOne(f, "base");
    const upper = path.join(dir, "upper");
    fs.mkdirSync(path.join(upper, "etc"), { recursive: true });
    fs.writeFileSync(path.join(upper, "etc/hostname"), "changed\n");
    fs.writeFileSync(path.join(upper, "new"), "added\n");
    spawnSync("mknod", [path.join(upper, "etc/passwd"), "c", "0", "0"]);
    const img = await f.store.commitLayer({
      parentImageId: base.id,
      upperDir: upper,
      containerConfig: { Cmd: ["echo", "hi"], Env: ["X=1"], Image: "base" },
      changes: ["LABEL committed=yes"],
      ref: "derived:1",
      author: "me",
      comment: "snap",
    });
    assert.equal(img.config.rootfs.diff_ids.length, 2);
    assert.equal(img.config.rootfs.diff_ids[0], base.config.rootfs.diff_ids[0]);
    assert.deepEqual(img.config.config?.Cmd, ["echo", "hi"]);
    assert.deepEqual(img.config.config?.Labels, { committed: "yes" });
    assert.equal(img.config.author, "me");
    const h = f.store.history("derived:1");
    assert.equal(h.length, 2);
    assert.equal(h[0]!.Id, img.id);
    assert.deepEqual(h[0]!.Tags, ["derived:1"]);
    assert.equal(h[0]!.CreatedBy, "echo hi");
    assert.equal(h[0]!.Comment, "snap");
    assert.equal(h[1]!.Id, "<missing>");
    const dirs = f.store.layerDirs(img.id);
    assert.equal(dirs.length, 2);
    assert.equal(dirs[1], f.store.layerDirs(base.id)[0]);
    const top = dirs[0]!;
    assert.equal(fs.readFileSync(path.join(top, "etc/hostname"), "utf8"), "changed\n");
    const wh = fs.lstatSync(path.join(top, "etc/passwd"));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
    assert.equal(img.size, h[0]!.Size + h[1]!.Size);
  });
});
