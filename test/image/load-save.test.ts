// docker-save archives and OCI layouts: round trips through save/load,
// hand-made archives, and failures that must leave nothing behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import zlib from "node:zlib";
import { collect, handImage, isRoot, legacyDockerArchive, makeTar, ociLayout, readTar, sha256, snapshotState, streamOf, withStore, withTempDir, type StoreFixture } from "./fixtures.ts";

const base = (): Promise<Buffer> =>
  makeTar([
    { name: "etc/", type: "directory" },
    { name: "etc/passwd", body: "root\n" },
    { name: "etc/group", body: "root\n" },
    { name: "var/", type: "directory" },
    { name: "var/cache/", type: "directory" },
    { name: "var/cache/old", body: "old\n" },
    { name: "bin/", type: "directory" },
    { name: "bin/sh", body: "sh\n", mode: 0o755 },
  ]);

const top = (): Promise<Buffer> =>
  makeTar([
    { name: "etc/", type: "directory" },
    { name: "etc/.wh.passwd", body: "" },
    { name: "var/", type: "directory" },
    { name: "var/cache/", type: "directory" },
    { name: "var/cache/.wh..wh..opq", body: "" },
    { name: "var/cache/new", body: "new\n" },
    { name: "hello", body: "hi\n" },
  ]);

function assertEmpty(f: StoreFixture): void {
  const s = snapshotState(f);
  assert.deepEqual(
    { images: s.images, layers: s.layers, refs: s.refs, blobs: s.blobs, layerDirs: s.layerDirs, tmp: s.tmp },
    { images: 0, layers: 0, refs: 0, blobs: [], layerDirs: [], tmp: [] },
  );
}

void test("a hand-made legacy docker-save archive loads with its tags; gzip'd layers and a gzip'd archive too", { skip: !isRoot && "needs root" }, async () => {
  await withStore("load", async (f) => {
    const layers = [await base(), await top()];
    const img = handImage(layers, [layers[0]!, zlib.gzipSync(layers[1]!)]);
    const archive = await legacyDockerArchive(img, ["busybox:latest", "me/app:1"]);
    const lines = await f.store.load(streamOf(zlib.gzipSync(archive)));
    assert.deepEqual(lines, ["Loaded image: busybox:latest", "Loaded image: me/app:1"]);
    const rec = f.store.resolve("busybox");
    assert.equal(rec.id, img.configDigest);
    assert.equal(rec.size, layers[0]!.length + layers[1]!.length);
    assert.equal(f.store.layerDirs(rec.id).length, 2);
    assert.deepEqual(snapshotState(f).tmp, []);
    // Loading the same archive again changes nothing.
    const before = snapshotState(f);
    await f.store.load(streamOf(archive));
    assert.deepEqual(snapshotState(f), before);
  });
});

void test("an OCI layout with a nested index picks linux/amd64 and takes the name from the ref.name annotation", { skip: !isRoot && "needs root" }, async () => {
  await withStore("load", async (f) => {
    const layers = [await base()];
    const img = handImage(layers, [zlib.gzipSync(layers[0]!)]);
    const arm = handImage([await makeTar([{ name: "arm", body: "arm" }])], undefined, { architecture: "arm64" });
    const archive = await ociLayout(img, {
      layerMediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      annotations: { "org.opencontainers.image.ref.name": "example.com/team/app:2.0" },
      wrap: (m, add) => {
        const armManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: add(arm.config), size: arm.config.length }, layers: [] }));
        const inner = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: "application/vnd.oci.image.index.v1+json",
            manifests: [
              { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: add(armManifest), size: armManifest.length, platform: { os: "linux", architecture: "arm64" } },
              { mediaType: "application/vnd.oci.image.manifest.v1+json", ...m, platform: { os: "linux", architecture: "amd64" } },
            ],
          }),
        );
        const outer = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.index.v1+json", digest: add(inner), size: inner.length }] }));
        return { mediaType: "application/vnd.oci.image.index.v1+json", digest: add(outer), size: outer.length };
      },
    });
    assert.deepEqual(await f.store.load(streamOf(archive)), ["Loaded image: example.com/team/app:2.0"]);
    const rec = f.store.resolve("example.com/team/app:2.0");
    assert.equal(rec.id, img.configDigest);
    assert.equal(rec.config.architecture, "amd64");
    assert.equal(fs.readFileSync(path.join(f.store.layerDirs(rec.id)[0]!, "bin/sh"), "utf8"), "sh\n");
  });
});

void test("an OCI layout without a usable name loads by ID", { skip: !isRoot && "needs root" }, async () => {
  await withStore("load", async (f) => {
    const img = handImage([await base()]);
    const lines = await f.store.load(streamOf(await ociLayout(img, { annotations: { "org.opencontainers.image.ref.name": "latest" } })));
    assert.deepEqual(lines, [`Loaded image ID: ${img.configDigest}`]);
  });
});

void test("save → load round trips in both formats, keeping the image ID, tags and layer content", { skip: !isRoot && "needs root" }, async () => {
  for (const format of ["docker-archive", "oci-archive"] as const) {
    let archive: Buffer = Buffer.alloc(0);
    let id = "";
    await withStore("save", async (f) => {
      const layers = [await base(), await top()];
      const img = handImage(layers, [zlib.gzipSync(layers[0]!), layers[1]!]);
      await f.store.load(streamOf(await legacyDockerArchive(img, ["busybox:latest"])));
      f.store.tag("busybox", "localhost:5000/bb:v1");
      id = img.configDigest;
      archive = await collect((d) => f.store.save(["busybox", "localhost:5000/bb:v1"], d, format));
      const files = await readTar(archive);
      assert.ok(files.has("index.json"));
      if (format === "docker-archive") {
        const manifest = JSON.parse(files.get("manifest.json")!.body.toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
        assert.equal(manifest.length, 1);
        assert.deepEqual(manifest[0]!.RepoTags.sort(), ["busybox:latest", "localhost:5000/bb:v1"]);
        // Layers are uncompressed and named by their diff ids.
        assert.deepEqual(manifest[0]!.Layers, img.diffIds.map((d) => `blobs/sha256/${d.slice(7)}`));
        for (const l of manifest[0]!.Layers) assert.equal(sha256(files.get(l)!.body), "sha256:" + l.split("/").pop());
        assert.ok(files.has("repositories"));
      } else {
        const index = JSON.parse(files.get("index.json")!.body.toString()) as { manifests: { annotations: Record<string, string> }[] };
        assert.deepEqual(index.manifests.map((m) => m.annotations["org.opencontainers.image.ref.name"]).sort(), ["latest", "v1"]);
        // Every blob is named by its digest.
        for (const [name, e] of files) if (name.startsWith("blobs/sha256/")) assert.equal(sha256(e.body).slice(7), name.slice(13));
      }
    });
    await withStore("load", async (f) => {
      const lines = await f.store.load(streamOf(archive));
      assert.deepEqual(lines.sort(), ["Loaded image: busybox:latest", "Loaded image: localhost:5000/bb:v1"], format);
      const rec = f.store.resolve("busybox");
      assert.equal(rec.id, id);
      const dirs = f.store.layerDirs(rec.id);
      assert.equal(fs.readFileSync(path.join(dirs[0]!, "hello"), "utf8"), "hi\n");
      assert.ok(fs.lstatSync(path.join(dirs[0]!, "etc/passwd")).isCharacterDevice());
    });
  }
});

void test("two images sharing a base layer unpack it once", { skip: !isRoot && "needs root" }, async () => {
  await withStore("load", async (f) => {
    const b = await base();
    const one = handImage([b, await makeTar([{ name: "one", body: "1" }])]);
    const two = handImage([b, await makeTar([{ name: "two", body: "2" }])]);
    await f.store.load(streamOf(await legacyDockerArchive(one, ["one"])));
    const baseDir = f.store.layerDirs("one")[1]!;
    const ino = fs.statSync(path.join(baseDir, "etc/passwd")).ino;
    await f.store.load(streamOf(await ociLayout(two, { annotations: { "io.containerd.image.name": "docker.io/library/two:latest" } })));
    assert.equal(f.store.layerDirs("two")[1], baseDir);
    assert.equal(fs.statSync(path.join(baseDir, "etc/passwd")).ino, ino, "the shared layer was not unpacked again");
    assert.equal(snapshotState(f).layerDirs.length, 3);
    f.store.remove("one");
    assert.ok(fs.existsSync(baseDir));
  });
});

void test("a wrong diff id, a wrong blob digest or a truncated gzip layer fails with one line and stores nothing", { skip: !isRoot && "needs root" }, async () => {
  const layers = [await base(), await top()];
  const gz = zlib.gzipSync(Buffer.concat([layers[1]!, Buffer.alloc(0)]));
  const cases: [string, () => Promise<Buffer>, RegExp][] = [
    [
      "wrong diff id",
      async () => {
        const bad = handImage([layers[0]!, await makeTar([{ name: "other", body: "x" }])], layers);
        return legacyDockerArchive(bad, ["bad"]);
      },
      /layer 2 of 2 .*diff id mismatch: the image config says sha256:[0-9a-f]{64}, the layer content is sha256:/,
    ],
    [
      "wrong blob digest in an OCI layout",
      async () => {
        const img = handImage(layers);
        const good = await ociLayout(img, { annotations: { "io.containerd.image.name": "x" } });
        // Swap the bytes of the first layer blob for others of the same length.
        const files = await readTar(good);
        const name = `blobs/sha256/${sha256(layers[0]!).slice(7)}`;
        const tampered = Buffer.from(files.get(name)!.body);
        tampered[600] = tampered[600]! ^ 0xff;
        const entries = [...files].map(([n, e]) => ({ name: n, body: n === name ? tampered : e.body, type: e.type as "file" | "directory" }));
        return makeTar(entries);
      },
      /digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:/,
    ],
    [
      "truncated gzip layer",
      async () => {
        const cut = gz.subarray(0, gz.length - 20);
        const img = handImage(layers, [layers[0]!, cut]);
        return ociLayout(img, { layerMediaType: "application/vnd.oci.image.layer.v1.tar+gzip", annotations: { "io.containerd.image.name": "x" } });
      },
      /gzip: unexpected end of file/,
    ],
    ["truncated archive", async () => (await legacyDockerArchive(handImage(layers), ["x"])).subarray(0, 3000), /truncated archive|missing/],
    ["not an image archive", () => makeTar([{ name: "README", body: "hi" }]), /neither manifest.json .* nor index.json/],
  ];
  for (const [label, make, re] of cases) {
    await withStore("load", async (f) => {
      const archive = await make();
      await assert.rejects(f.store.load(streamOf(archive)), (e: Error) => {
        assert.match(e.message, re, label);
        assert.equal(e.message.includes("\n"), false, label);
        return true;
      });
      assertEmpty(f);
    });
  }
});

void test("layer dirs with whiteouts and opaque dirs give the expected view when mounted as overlay", { skip: !isRoot && "needs root to mount" }, async () => {
  await withStore("load", async (f, dir) => {
    await f.store.load(streamOf(await legacyDockerArchive(handImage([await base(), await top()]), ["wh"])));
    const lower = f.store.layerDirs("wh").join(":");
    const merged = path.join(dir, "merged");
    fs.mkdirSync(merged);
    const m = spawnSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower}`, merged], { encoding: "utf8" });
    assert.equal(m.status, 0, m.stderr);
    try {
      assert.equal(fs.existsSync(path.join(merged, "etc/passwd")), false, "whited-out file is hidden");
      assert.equal(fs.readFileSync(path.join(merged, "etc/group"), "utf8"), "root\n");
      assert.deepEqual(fs.readdirSync(path.join(merged, "var/cache")), ["new"], "opaque dir hides the lower content");
      assert.equal(fs.readFileSync(path.join(merged, "hello"), "utf8"), "hi\n");
      assert.equal(fs.readFileSync(path.join(merged, "bin/sh"), "utf8"), "sh\n");
    } finally {
      spawnSync("umount", [merged]);
    }
  });
});

void test("save of an unknown image fails before writing", async () => {
  await withTempDir("save", async () => {
    await withStore("save", async (f) => {
      await assert.rejects(collect((d) => f.store.save(["nope"], d)), /No such image: nope/);
    });
  });
});
