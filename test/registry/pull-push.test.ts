// Push and pull against a real registry (Debian's docker-registry on 127.0.0.1,
// plain HTTP as loopback allows), cross-checked with skopeo both ways, and a
// hand-made multi-platform index.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import zlib from "node:zlib";
import { busyboxRootfsTar, importBusybox } from "../helpers.ts";
import { makeTar, sha256 } from "../image/fixtures.ts";
import { haveTools, putBlob, putManifest, registryTestRoot, startRegistry, type RunningRegistry } from "./fixtures.ts";

const skip = haveTools();

function skopeo(args: string[]): string {
  const r = spawnSync("skopeo", ["--insecure-policy", ...args], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function ok(r: { status: number | null; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

void describe("registry: push and pull", { skip }, () => {
  let reg: RunningRegistry;
  const roots: { cleanup(): void }[] = [];
  const root = (label: string): ReturnType<typeof registryTestRoot> => {
    const t = registryTestRoot(label);
    roots.push(t);
    return t;
  };
  // An OCI archive of the busybox image, made once by capsa's save.
  let ociArchive: string;

  before(async () => {
    reg = await startRegistry();
    const src = root("reg-src");
    importBusybox(src);
    ociArchive = path.join(src.root, "busybox-oci.tar");
    ok(src.capsa(["save", "--format", "oci-archive", "-o", ociArchive, "busybox"]), "save");
  });

  after(async () => {
    for (const t of roots) t.cleanup();
    await reg?.stop();
  });

  void it("capsa push, then pull into a fresh state root and run", () => {
    const a = root("reg-push");
    importBusybox(a);
    ok(a.capsa(["tag", "busybox", `${reg.host}/capsa/bb:1`]), "tag");
    const pushed = ok(a.capsa(["push", `${reg.host}/capsa/bb:1`]), "push");
    assert.match(pushed, /The push refers to repository \[127\.0\.0\.1:\d+\/capsa\/bb\]/);
    const digest = /1: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(pushed)?.[1];
    assert.ok(digest, pushed);
    // The pushing side now knows the repo digest.
    const inspect = JSON.parse(ok(a.capsa(["image", "inspect", `${reg.host}/capsa/bb:1`]), "inspect")) as { RepoDigests: string[] }[];
    assert.deepEqual(inspect[0]!.RepoDigests, [`${reg.host}/capsa/bb@${digest}`]);
    // A second push finds every blob there.
    assert.match(ok(a.capsa(["push", `${reg.host}/capsa/bb:1`]), "push again"), /Layer already exists/);

    const b = root("reg-pull");
    const out = ok(b.capsa(["pull", `${reg.host}/capsa/bb:1`]), "pull");
    assert.match(out, /Pull complete/);
    assert.match(out, new RegExp(`Digest: ${digest}`));
    assert.match(out, /Status: Downloaded newer image/);
    assert.equal(ok(b.capsa(["run", "--rm", `${reg.host}/capsa/bb:1`, "echo", "pulled"]), "run").trim(), "pulled");
    // Pulling again downloads nothing.
    const again = ok(b.capsa(["pull", `${reg.host}/capsa/bb:1`]), "pull again");
    assert.match(again, /Already exists/);
    assert.match(again, /Image is up to date/);
    // By digest, quietly: one line, the reference.
    assert.equal(ok(b.capsa(["pull", "-q", `${reg.host}/capsa/bb@${digest}`]), "pull by digest").trim(), `${reg.host}/capsa/bb@${digest}`);
  });

  void it("skopeo reads what capsa pushed (and re-verifies every digest), in OCI and v2s2 formats", () => {
    const a = root("reg-skopeo-out");
    importBusybox(a);
    ok(a.capsa(["push", "busybox", `${reg.host}/capsa/oci:1`]), "push oci");
    ok(a.capsa(["push", "--format", "v2s2", "busybox", `${reg.host}/capsa/v2s2:1`]), "push v2s2");
    const oci = JSON.parse(skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/capsa/oci:1`])) as { mediaType: string; layers: { mediaType: string }[] };
    assert.equal(oci.mediaType, "application/vnd.oci.image.manifest.v1+json");
    assert.equal(oci.layers[0]!.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    const v2 = JSON.parse(skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/capsa/v2s2:1`])) as { mediaType: string; layers: { mediaType: string }[] };
    assert.equal(v2.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
    assert.equal(v2.layers[0]!.mediaType, "application/vnd.docker.image.rootfs.diff.tar.gzip");
    const dir = path.join(a.root, "skopeo-copy");
    skopeo(["copy", "--src-tls-verify=false", `docker://${reg.host}/capsa/v2s2:1`, `oci:${dir}:x`]);
    assert.ok(fs.existsSync(path.join(dir, "index.json")));
  });

  for (const format of ["oci", "v2s2"]) {
    void it(`capsa pulls and runs an image skopeo pushed (${format})`, () => {
      const repo = `skopeo/${format}`;
      skopeo(["copy", "--dest-tls-verify=false", "--format", format, `oci-archive:${ociArchive}`, `docker://${reg.host}/${repo}:1`]);
      const raw = JSON.parse(skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/${repo}:1`])) as { mediaType: string };
      assert.match(raw.mediaType, format === "oci" ? /oci\.image\.manifest/ : /docker\.distribution\.manifest\.v2/);
      const t = root(`reg-sk-${format}`);
      ok(t.capsa(["pull", `${reg.host}/${repo}:1`]), "pull");
      assert.equal(ok(t.capsa(["run", "--rm", `${reg.host}/${repo}:1`, "echo", format]), "run").trim(), format);
    });
  }

  void it("pulls zstd and uncompressed layers (hand-made image; skopeo 1.9 reuses its cached gzip blobs instead of zstd)", async () => {
    const repo = "layers/zstd-plain";
    const base = fs.readFileSync(busyboxRootfsTar());
    const z = spawnSync("zstd", ["-q", "-c"], { input: base, maxBuffer: 1 << 28 });
    assert.equal(z.status, 0, String(z.stderr));
    const baseZst = z.stdout;
    const mark = await makeTar([{ name: "compression", body: "zstd+none\n" }]);
    for (const b of [baseZst, mark]) await putBlob(reg.host, repo, b, sha256(b));
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["cat", "/compression"] }, rootfs: { type: "layers", diff_ids: [sha256(base), sha256(mark)] } }));
    await putBlob(reg.host, repo, config, sha256(config));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
        layers: [
          { mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", digest: sha256(baseZst), size: baseZst.length },
          { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(mark), size: mark.length },
        ],
      }),
    );
    await putManifest(reg.host, repo, "1", manifest, "application/vnd.oci.image.manifest.v1+json");
    const t = root("reg-zstd");
    ok(t.capsa(["pull", `${reg.host}/${repo}:1`]), "pull");
    assert.equal(ok(t.capsa(["run", "--rm", `${reg.host}/${repo}:1`]), "run").trim(), "zstd+none");
    // Pushed back: the zstd blob goes as it is, the uncompressed one is gzip'd (as docker does).
    ok(t.capsa(["push", `${reg.host}/${repo}:1`, `${reg.host}/${repo}:copy`]), "push back");
    const raw = JSON.parse(skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/${repo}:copy`])) as { layers: { mediaType: string; digest: string }[] };
    assert.deepEqual(raw.layers[0], { mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", digest: sha256(baseZst), size: baseZst.length });
    assert.equal(raw.layers[1]!.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    skopeo(["copy", "--src-tls-verify=false", `docker://${reg.host}/${repo}:copy`, `oci:${path.join(t.root, "copy")}:x`]);
  });

  void it("picks this host's platform (amd64) from a multi-platform index; --platform picks another; a missing one fails", async () => {
    const repo = "multi/arch";
    const gz = (b: Buffer): Buffer => zlib.gzipSync(b);
    const base = fs.readFileSync(busyboxRootfsTar());
    const baseGz = gz(base);
    const marks: Record<string, { tar: Buffer; gz: Buffer }> = {};
    for (const arch of ["amd64", "arm64"]) {
      const tar = await makeTar([{ name: "arch", body: `${arch}\n` }]);
      marks[arch] = { tar, gz: gz(tar) };
    }
    await putBlob(reg.host, repo, baseGz, sha256(baseGz));
    const entries = [];
    for (const arch of ["arm64", "amd64"]) {
      const mark = marks[arch]!;
      await putBlob(reg.host, repo, mark.gz, sha256(mark.gz));
      const config = Buffer.from(
        JSON.stringify({
          architecture: arch,
          os: "linux",
          ...(arch === "arm64" ? { variant: "v8" } : {}),
          config: { Cmd: ["cat", "/arch"] },
          rootfs: { type: "layers", diff_ids: [sha256(base), sha256(mark.tar)] },
        }),
      );
      await putBlob(reg.host, repo, config, sha256(config));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
          layers: [
            { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(baseGz), size: baseGz.length },
            { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(mark.gz), size: mark.gz.length },
          ],
        }),
      );
      await putManifest(reg.host, repo, sha256(manifest), manifest, "application/vnd.oci.image.manifest.v1+json");
      entries.push({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: sha256(manifest),
        size: manifest.length,
        platform: { os: "linux", architecture: arch, ...(arch === "arm64" ? { variant: "v8" } : {}) },
      });
    }
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: entries }));
    await putManifest(reg.host, repo, "1", index, "application/vnd.oci.image.index.v1+json");

    const t = root("reg-multi");
    ok(t.capsa(["pull", `${reg.host}/${repo}:1`]), "pull");
    assert.equal(ok(t.capsa(["run", "--rm", `${reg.host}/${repo}:1`]), "run").trim(), "amd64");
    const inspect = JSON.parse(ok(t.capsa(["image", "inspect", `${reg.host}/${repo}:1`]), "inspect")) as { Architecture: string; RepoDigests: string[] }[];
    assert.equal(inspect[0]!.Architecture, "amd64");
    // The repo digest is the index's, as docker records it.
    assert.deepEqual(inspect[0]!.RepoDigests, [`${reg.host}/${repo}@${sha256(index)}`]);

    const arm = root("reg-multi-arm");
    ok(arm.capsa(["pull", "--platform", "linux/arm64", `${reg.host}/${repo}:1`]), "pull arm64");
    const armInspect = JSON.parse(ok(arm.capsa(["image", "inspect", `${reg.host}/${repo}:1`]), "inspect")) as { Architecture: string }[];
    assert.equal(armInspect[0]!.Architecture, "arm64");

    const none = root("reg-multi-none");
    const r = none.capsa(["pull", "--platform", "linux/s390x", `${reg.host}/${repo}:1`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^capsa: .*no matching manifest for linux\/s390x in the manifest list entries \(available: linux\/arm64\/v8, linux\/amd64\)\n$/);
    assert.equal(ok(none.capsa(["images", "-q"]), "images").trim(), "");
  });

  void it("pull --all-tags fetches every tag; a missing tag is a clean 404", () => {
    const a = root("reg-tags-src");
    importBusybox(a);
    ok(a.capsa(["push", "busybox", `${reg.host}/tags/bb:a`]), "push a");
    ok(a.capsa(["push", "busybox", `${reg.host}/tags/bb:b`]), "push b");
    const t = root("reg-tags");
    ok(t.capsa(["pull", "-a", `${reg.host}/tags/bb`]), "pull -a");
    const tags = ok(t.capsa(["images", "--format", "{{.Tag}}"]), "images").trim().split("\n").sort();
    assert.deepEqual(tags, ["a", "b"]);
    const r = t.capsa(["pull", `${reg.host}/tags/bb:nope`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^capsa: .*bb:nope: manifest unknown.*\n$/);
  });
});
