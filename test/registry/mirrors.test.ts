// Pull mirrors and the short-name registry, against real registries
// (Debian's docker-registry on 127.0.0.1). The mirror sits behind a counting
// proxy (on loopback) so the test sees which requests reached it. docker.io is
// never contacted: its transport settings name a CA file that does not exist,
// so any attempt to reach it would fail before a connection; the "upstream
// down" case uses a closed loopback port instead.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { importBusybox } from "../helpers.ts";
import { capsaAsync, filesBelow, forward, freePort, haveTools, listen, registryTestRoot, startRegistry, type RunResult, type RunningRegistry, type Server } from "./fixtures.ts";

const skip = haveTools();

function ok(r: RunResult, what: string): string {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

function oneLineError(r: RunResult, re: RegExp): void {
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^capsa: /);
  assert.match(lines[0]!, re);
}

/** docker.io may not be reached: a missing CA makes any client for it fail before connecting. */
const NO_DOCKER_IO = { "docker.io": { ca: "/nonexistent/capsa-test-no-docker-io.pem" } };

void describe("registry mirrors and the short-name registry", { skip }, () => {
  let upstream: RunningRegistry;
  let mirror: RunningRegistry;
  let proxy: Server;
  let dead: number;
  const seen: string[] = [];
  const roots: { cleanup(): void }[] = [];
  const root = (label: string, conf: object): ReturnType<typeof registryTestRoot> => {
    const t = registryTestRoot(label, conf);
    roots.push(t);
    return t;
  };

  before(async () => {
    upstream = await startRegistry();
    mirror = await startRegistry();
    proxy = await listen((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      forward(req, res, mirror.port);
    });
    dead = await freePort();
    // Seed: the mirror holds library/mirrored (also under the "hub/" prefix); the upstream holds only-up/bb and bb.
    const seed = root("mirror-seed", { registries: {} });
    importBusybox(seed);
    for (const dest of [`${mirror.host}/library/mirrored:1`, `${mirror.host}/hub/library/mirrored:1`, `${upstream.host}/only-up/bb:1`, `${upstream.host}/bb:1`]) {
      ok(await capsaAsync(seed, ["push", "busybox", dest]), `seed push ${dest}`);
    }
  });
  after(async () => {
    for (const t of roots) t.cleanup();
    await proxy?.close();
    await mirror?.stop();
    await upstream?.stop();
  });

  void it("pulls docker.io/library/x from a loopback mirror; docker.io itself is not contacted", async () => {
    const a = root("mirror-hub", { registries: NO_DOCKER_IO, mirrors: { "docker.io": [proxy.host] } });
    seen.length = 0;
    const out = ok(await capsaAsync(a, ["pull", "mirrored:1"]), "pull through the mirror");
    assert.match(out, /docker\.io\/library\/mirrored:1/);
    assert.ok(seen.includes("GET /v2/library/mirrored/manifests/1"), seen.join("\n"));
    assert.match(ok(await capsaAsync(a, ["images", "--format", "{{.Repository}}:{{.Tag}}"]), "images"), /^mirrored:1$/m);
    assert.equal(ok(await capsaAsync(a, ["run", "--rm", "mirrored:1", "echo", "mirrored"]), "run").trim(), "mirrored");
    // Without the mirror the same name needs docker.io: refused here before any connection.
    const b = root("mirror-none", { registries: NO_DOCKER_IO });
    oneLineError(await capsaAsync(b, ["pull", "mirrored:1"]), /registry docker\.io: reading CA/);
  });

  void it("tries mirrors in order (a dead one, one with a path prefix), then the registry itself", async () => {
    const a = root("mirror-order", { registries: {}, mirrors: { [upstream.host]: [`127.0.0.1:${dead}`, `${proxy.host}/hub`] } });
    seen.length = 0;
    ok(await capsaAsync(a, ["pull", `${upstream.host}/library/mirrored:1`]), "pull from the second mirror");
    assert.ok(seen.includes("GET /v2/hub/library/mirrored/manifests/1"), seen.join("\n"));
    assert.match(ok(await capsaAsync(a, ["images", "--format", "{{.Repository}}:{{.Tag}}"]), "images"), new RegExp(`^${upstream.host}/library/mirrored:1$`, "m"));
    // Not on the mirror (404 there): the registry serves it.
    seen.length = 0;
    ok(await capsaAsync(a, ["pull", `${upstream.host}/only-up/bb:1`]), "pull falling back to the registry");
    assert.ok(seen.includes("GET /v2/hub/only-up/bb/manifests/1"), seen.join("\n"));
    assert.equal(ok(await capsaAsync(a, ["run", "--rm", `${upstream.host}/only-up/bb:1`, "echo", "upstream"]), "run").trim(), "upstream");
  });

  void it("every source failing is one line naming each failure; nothing is left on disk", async () => {
    const a = root("mirror-fail", { registries: {}, mirrors: { [`127.0.0.1:${dead}`]: [proxy.host] } });
    oneLineError(
      await capsaAsync(a, ["pull", `127.0.0.1:${dead}/library/absent:1`]),
      new RegExp(`^capsa: 127\\.0\\.0\\.1:${dead}/library/absent:1: mirror ${proxy.host.replace(/\./g, "\\.")}: manifest unknown: .*\\(HTTP 404\\); then registry 127\\.0\\.0\\.1:${dead}: .*ECONNREFUSED`),
    );
    for (const d of ["blobs", "layers", "tmp"]) assert.deepEqual(filesBelow(path.join(a.root, d)), [], d);
    // A malformed mirror entry is a config error, before any traffic.
    const bad = root("mirror-bad", { mirrors: { "docker.io": ["https://mirror.example"] } });
    oneLineError(await capsaAsync(bad, ["pull", "mirrored:1"]), /mirror "https:\/\/mirror\.example" of docker\.io: write it without a scheme/);
  });

  void it("pushes never go to a mirror", async () => {
    const a = root("mirror-push", { registries: {}, mirrors: { [upstream.host]: [proxy.host] } });
    importBusybox(a);
    seen.length = 0;
    ok(await capsaAsync(a, ["push", "busybox", `${upstream.host}/pushed/bb:1`]), "push");
    assert.deepEqual(seen, []);
    assert.equal((await fetch(`http://${upstream.host}/v2/pushed/bb/manifests/1`, { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).status, 200);
  });

  void it("unqualified-search-registries: a short name means that registry, for pull, run, tag and push; docker.io names print in full", async () => {
    const a = root("shortname", { registries: NO_DOCKER_IO, "unqualified-search-registries": [upstream.host] });
    const out = ok(await capsaAsync(a, ["pull", "bb:1"]), "pull bb:1");
    assert.match(out, new RegExp(`^${upstream.host}/bb:1$`, "m"));
    assert.equal(ok(await capsaAsync(a, ["run", "--rm", "bb:1", "echo", "short"]), "run").trim(), "short");
    ok(await capsaAsync(a, ["tag", "bb:1", "mine:2"]), "tag");
    ok(await capsaAsync(a, ["push", "mine:2"]), "push mine:2");
    assert.equal((await fetch(`http://${upstream.host}/v2/mine/manifests/2`, { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).status, 200);
    importBusybox(a, "docker.io/library/busybox:latest");
    const images = ok(await capsaAsync(a, ["images", "--format", "{{.Repository}}:{{.Tag}}"]), "images").split("\n").filter(Boolean).sort();
    assert.deepEqual(images, ["bb:1", "docker.io/library/busybox:latest", "mine:2"]);
    // More than one search registry: refused, as podman's enforcing mode does without a prompt.
    const two = root("shortname-two", { "unqualified-search-registries": [upstream.host, "docker.io"] });
    oneLineError(await capsaAsync(two, ["pull", "bb:1"]), /lists 2 registries; capsa resolves short names to exactly one/);
  });
});
