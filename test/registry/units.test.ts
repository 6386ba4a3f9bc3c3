// The registry client's pure parts: challenges, manifests, platforms, transport
// settings and the credentials file.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { AuthStore } from "../../src/registry/auth.ts";
import { isLoopbackHost, transportFor } from "../../src/registry/config.ts";
import { loadRegistriesConfig } from "../../src/image/registries-config.ts";
import { parseManifest, parsePlatform, selectFromIndex } from "../../src/registry/manifest.ts";
import { parseChallenge } from "../../src/registry/transport.ts";

const D = (c: string): string => "sha256:" + c.repeat(64);

void describe("registry units", () => {
  void it("parses WWW-Authenticate challenges", () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
    });
    assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: "basic", params: { realm: "x" } });
    assert.equal(parseChallenge("Negotiate abc"), undefined);
    assert.equal(parseChallenge(undefined), undefined);
    // A registry's hostile challenge (a long run without "=" made the scan quadratic: ~0.5 s per 16 KiB) is not read.
    assert.equal(parseChallenge(`Bearer ${"a".repeat(1 << 20)}`), undefined);
  });

  void it("parses manifests strictly", () => {
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.v2+json", config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: D("a"), size: 2 }, layers: [] }));
    assert.equal(parseManifest(m, undefined, "x").kind, "manifest");
    assert.throws(() => parseManifest(Buffer.from("{"), undefined, "x"), /x: malformed manifest/);
    assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1,"fsLayers":[]}'), undefined, "x"), /schema 1/);
    const badDigest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: "md5:x", size: 1 }, layers: [] }));
    assert.throws(() => parseManifest(badDigest, undefined, "x"), /malformed digest/);
    const helm = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: D("b"), size: 1 }, layers: [] }));
    assert.throws(() => parseManifest(helm, undefined, "x"), /not a container image/);
  });

  void it("selects platforms like docker (arm64 = arm64/v8; attestations skipped)", () => {
    const entry = (arch: string, variant?: string, os = "linux"): object => ({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: D(arch === "amd64" ? "1" : arch === "arm64" ? "2" : "3"), size: 1, platform: { os, architecture: arch, ...(variant ? { variant } : {}) } });
    const index = { schemaVersion: 2 as const, manifests: [entry("unknown", undefined, "unknown"), entry("arm64", "v8"), entry("amd64")] as never[] };
    assert.equal(selectFromIndex(index, parsePlatform("linux/amd64"), "x").digest, D("1"));
    assert.equal(selectFromIndex(index, parsePlatform("linux/arm64"), "x").digest, D("2"));
    assert.equal(selectFromIndex(index, parsePlatform("linux/aarch64/v8"), "x").digest, D("2"));
    assert.throws(() => selectFromIndex(index, parsePlatform("linux/s390x"), "x"), /no matching manifest for linux\/s390x .*available: linux\/arm64\/v8, linux\/amd64/);
    assert.throws(() => parsePlatform("linux"), /os\/arch/);
  });

  void it("transport: https by default; loopback may fall back to http; config adds CAs, insecure, http", () => {
    assert.ok(isLoopbackHost("localhost:5000") && isLoopbackHost("127.0.0.1:1") && isLoopbackHost("[::1]:5000") && !isLoopbackHost("10.0.0.1:5000"));
    const env = { CAPSA_CERTS_D: "/nonexistent" };
    assert.deepEqual(transportFor("reg.example", { registries: {} }, env), { schemes: ["https"], verify: true, ca: [] });
    assert.deepEqual(transportFor("127.0.0.1:5000", { registries: {} }, env).schemes, ["https", "http"]);
    assert.deepEqual(transportFor("a:1", { registries: { "a:1": { insecure: true } } }, env), { schemes: ["https", "http"], verify: false, ca: [] });
    assert.deepEqual(transportFor("a:1", { registries: { "a:1": { http: true } } }, env).schemes, ["http"]);
    assert.throws(() => transportFor("a:1", { registries: { "a:1": { ca: "/nonexistent.pem" } } }, env), /reading CA/);
  });

  void it("credentials: capsa's file first, then docker's config.json; 0600; logout removes", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-auth-"));
    try {
      const dockerDir = path.join(dir, "docker");
      fs.mkdirSync(dockerDir);
      fs.writeFileSync(path.join(dockerDir, "config.json"), JSON.stringify({ auths: { "https://index.docker.io/v1/": { auth: Buffer.from("hub:pw").toString("base64") }, "r:5000": { auth: Buffer.from("d:1").toString("base64") } } }));
      const store = new AuthStore(path.join(dir, "auth.json"), { DOCKER_CONFIG: dockerDir });
      assert.deepEqual(await store.get("docker.io"), { username: "hub", password: "pw" });
      assert.deepEqual(await store.get("r:5000"), { username: "d", password: "1" });
      await store.set("r:5000", { username: "c", password: "p:w" });
      assert.deepEqual(await store.get("r:5000"), { username: "c", password: "p:w" });
      assert.equal(fs.statSync(path.join(dir, "auth.json")).mode & 0o777, 0o600);
      assert.equal(await store.remove("r:5000"), true);
      assert.equal(await store.remove("r:5000"), false);
      assert.deepEqual(await store.get("r:5000"), { username: "d", password: "1" });
      // An identity token (docker's "identitytoken") is kept beside the basic pair.
      fs.writeFileSync(path.join(dockerDir, "config.json"), JSON.stringify({ auths: { "t:1": { identitytoken: "refresh-me" } } }));
      assert.deepEqual(await store.get("t:1"), { username: "", password: "", identityToken: "refresh-me" });
      // A helper that is not installed: one clear line naming it and where it was configured.
      fs.writeFileSync(path.join(dockerDir, "config.json"), JSON.stringify({ credsStore: "capsa-test-absent" }));
      await assert.rejects(store.get("r:5000"), /^CapsaError: credential helper docker-credential-capsa-test-absent \(credsStore in .*config\.json\) is not installed: not found in PATH$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  void it("registries config: mirrors per registry (host[/prefix], Hub aliases folded), one short-name registry, clear errors", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-regconf-"));
    try {
      const file = path.join(dir, "registries.json");
      const load = (v: unknown): ReturnType<typeof loadRegistriesConfig> => {
        fs.writeFileSync(file, JSON.stringify(v));
        return loadRegistriesConfig({ CAPSA_REGISTRIES_CONF: file });
      };
      assert.deepEqual(loadRegistriesConfig({ CAPSA_REGISTRIES_CONF: path.join(dir, "none.json") }), { registries: {}, mirrors: {} });
      const c = load({ mirrors: { "index.docker.io": ["127.0.0.1:5000", "cache.example/hub/"] }, "unqualified-search-registries": ["reg.example:5000"] });
      assert.deepEqual(c.mirrors, { "docker.io": [{ host: "127.0.0.1:5000", prefix: "" }, { host: "cache.example", prefix: "hub" }] });
      assert.equal(c.shortNameRegistry, "reg.example:5000");
      assert.throws(() => load({ mirrors: { "docker.io": ["https://mirror.example"] } }), /mirror "https:\/\/mirror.example" of docker.io: write it without a scheme/);
      assert.throws(() => load({ mirrors: { "docker.io": "m:1" } }), /"mirrors" of docker.io must be a list/);
      assert.throws(() => load({ mirrors: { "docker.io": ["m:1/Bad"] } }), /not a repository path/);
      assert.throws(() => load({ "unqualified-search-registries": ["a.example", "b.example"] }), /lists 2 registries; capsa resolves short names to exactly one/);
      assert.equal(load({ "unqualified-search-registries": [] }).shortNameRegistry, undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
