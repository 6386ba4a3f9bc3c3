// Cross-checks with the peers: `podman load` must accept our docker-archive,
// `skopeo inspect` our oci-archive (and our load must accept what they write).
// Podman runs on a private --root/--runroot with its config files in the
// test's temp dir (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF); nothing system-wide.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { collect, handImage, isRoot, legacyDockerArchive, makeTar, streamOf, withStore } from "./fixtures.ts";
import { podmanEnv } from "../helpers.ts";

const have = (cmd: string): boolean => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const noPodman = !have("podman") ? "podman is not installed (apt-get install podman)" : !isRoot ? "needs root" : false;
const noSkopeo = !have("skopeo") ? "skopeo is not installed (apt-get install skopeo)" : false;

async function sampleStore(f: Parameters<Parameters<typeof withStore>[1]>[0]): Promise<string> {
  const layers = [
    await makeTar([{ name: "etc/", type: "directory" }, { name: "etc/os-release", body: "ID=capsa-test\n" }]),
    await makeTar([{ name: "hello", body: "hi\n" }]),
  ];
  const img = handImage(layers);
  await f.store.load(streamOf(await legacyDockerArchive(img, ["capsa-test/peer:1"])));
  return img.configDigest;
}


void test("podman load accepts our docker-archive, and we load podman's docker-archive back", { skip: noPodman }, async () => {
  await withStore("peer", async (f, dir) => {
    const id = await sampleStore(f);
    const file = path.join(dir, "img.tar");
    fs.writeFileSync(file, await collect((d) => f.store.save(["capsa-test/peer:1"], d, "docker-archive")));
    const { env, args } = podmanEnv(dir);
    fs.mkdirSync(env.XDG_RUNTIME_DIR!, { recursive: true });
    const load = spawnSync("podman", [...args, "load", "-i", file], { env, encoding: "utf8", timeout: 120_000 });
    assert.equal(load.status, 0, load.stderr);
    const inspect = spawnSync("podman", [...args, "image", "inspect", "--format", "{{.Id}} {{.RepoTags}}", "capsa-test/peer:1"], { env, encoding: "utf8" });
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.equal(inspect.stdout.split(" ")[0], id.slice(7));
    assert.match(inspect.stdout, /docker\.io\/capsa-test\/peer:1/);
    // And back: podman's own docker-archive loads into capsa with the same ID.
    const back = path.join(dir, "back.tar");
    const save = spawnSync("podman", [...args, "save", "--format", "docker-archive", "-o", back, "capsa-test/peer:1"], { env, encoding: "utf8" });
    assert.equal(save.status, 0, save.stderr);
    f.store.remove("capsa-test/peer:1");
    const lines = await f.store.load(fs.createReadStream(back));
    assert.deepEqual(lines, ["Loaded image: capsa-test/peer:1"]);
    assert.equal(f.store.resolve("capsa-test/peer:1").id, id);
    spawnSync("podman", [...args, "rmi", "-a", "-f"], { env });
  });
});

void test("skopeo inspect accepts our oci-archive, and skopeo's copy of it loads back", { skip: noSkopeo }, async () => {
  await withStore("peer", async (f, dir) => {
    const id = await sampleStore(f);
    const file = path.join(dir, "img-oci.tar");
    fs.writeFileSync(file, await collect((d) => f.store.save(["capsa-test/peer:1"], d, "oci-archive")));
    const env = { ...process.env, TMPDIR: dir };
    const r = spawnSync("skopeo", ["inspect", "--config", `oci-archive:${file}`], { encoding: "utf8", env });
    assert.equal(r.status, 0, r.stderr);
    const cfg = JSON.parse(r.stdout) as { rootfs: { diff_ids: string[] }; architecture: string };
    assert.deepEqual(cfg.rootfs.diff_ids, f.store.resolve(id).config.rootfs.diff_ids);
    const raw = spawnSync("skopeo", ["inspect", "--raw", `oci-archive:${file}`], { encoding: "utf8", env });
    assert.equal(raw.status, 0, raw.stderr);
    // skopeo rewrites the archive (its own layout, gzip'd layers); we load that too.
    const copy = path.join(dir, "copy.tar");
    const cp = spawnSync("skopeo", ["copy", "--dest-compress", `oci-archive:${file}`, `oci-archive:${copy}:example.com/copied:2`], { encoding: "utf8", env });
    assert.equal(cp.status, 0, cp.stderr);
    const lines = await f.store.load(fs.createReadStream(copy));
    assert.deepEqual(lines, ["Loaded image: example.com/copied:2"]);
    assert.equal(f.store.resolve("example.com/copied:2").id, id);
    // docker-archive through skopeo as well.
    const d = path.join(dir, "img-docker.tar");
    fs.writeFileSync(d, await collect((w) => f.store.save([id], w, "docker-archive")));
    const di = spawnSync("skopeo", ["inspect", "--config", `docker-archive:${d}`], { encoding: "utf8", env });
    assert.equal(di.status, 0, di.stderr);
  });
});
