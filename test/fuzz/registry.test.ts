// Fuzzing what a registry sends back: manifests, indexes, image configs, auth
// challenges and token answers. A registry is as untrusted as the images it
// serves; whatever it answers, a pull ends with an image or with capsa's own
// one-line error, never with a TypeError from a field of an unexpected shape.
// The registry here is a small HTTP server on 127.0.0.1 made by the test.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { imageRows } from "../../src/cli/format.ts";
import { MEDIA } from "../../src/image/oci.ts";
import { parseReference } from "../../src/image/reference.ts";
import { hostPlatform, parseManifest, parsePlatform, selectFromIndex } from "../../src/registry/manifest.ts";
import { pullImage } from "../../src/registry/pull.ts";
import { parseChallenge, RegistryClient } from "../../src/registry/transport.ts";
import { CapsaError } from "../../src/util/errors.ts";
import { CLI, makeTestRoot } from "../helpers.ts";
import { openStore } from "../image/fixtures.ts";
import { describe, fuzzParams, heapAfterGc, isInternalError, timed } from "./fuzz.ts";

const sha = (b: Buffer | string): string => "sha256:" + crypto.createHash("sha256").update(b).digest("hex");

function expectCapsa(what: string, e: unknown, network = false): void {
  if (e instanceof CapsaError && !isInternalError(e)) return;
  // A connection the registry refuses or drops surfaces as the system's error (ECONNREFUSED, ECONNRESET).
  if (network && e instanceof Error && /^E[A-Z]+$/.test(String((e as NodeJS.ErrnoException).code)) && !isInternalError(e)) return;
  assert.fail(`${what} failed with something other than capsa's own error: ${describe(e)}`);
}

// ---- Documents -------------------------------------------------------------

const anyJson = fc.jsonValue({ maxDepth: 3 });
const mediaType = fc.constantFrom(MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerManifestList, MEDIA.dockerManifest, MEDIA.ociConfig, MEDIA.dockerConfig, MEDIA.ociLayerGzip, "application/vnd.docker.distribution.manifest.v1+json", "text/plain", "");
const digest = fc.oneof(
  fc.constantFrom(sha("x"), "sha256:" + "A".repeat(64), "sha512:" + "a".repeat(128), "sha256:", "", "sha256:../../etc"),
  fc.uint8Array({ maxLength: 8 }).map((b) => sha(Buffer.from(b))),
);
const platform = fc.oneof(
  fc.record({ os: fc.constantFrom("linux", "windows", "unknown"), architecture: fc.constantFrom("amd64", "arm64", "unknown", "x86_64"), variant: fc.option(fc.constantFrom("v8", "v7", ""), { nil: undefined }) }, { requiredKeys: ["os", "architecture"] }),
  anyJson,
);
const size = fc.oneof(fc.nat(10_000), fc.constantFrom(-1, 1.5, 1e300, Number.MAX_SAFE_INTEGER + 2), anyJson);
const descriptor = fc.oneof(
  { weight: 4, arbitrary: fc.record({ mediaType, digest, size, platform, urls: fc.array(fc.constantFrom("http://127.0.0.1:1/x", "file:///etc/passwd", ""), { maxLength: 2 }), annotations: anyJson }, { requiredKeys: ["mediaType", "digest", "size"] }) },
  { weight: 1, arbitrary: anyJson },
);
const manifestDoc = fc.record(
  {
    schemaVersion: fc.oneof(fc.constant(2), fc.constant(1), anyJson),
    mediaType,
    manifests: fc.oneof(fc.array(descriptor, { maxLength: 4 }), anyJson),
    config: descriptor,
    layers: fc.oneof(fc.array(descriptor, { maxLength: 4 }), anyJson),
    annotations: anyJson,
  },
  { requiredKeys: [] },
);
const manifestBytes = fc.oneof(
  { weight: 6, arbitrary: manifestDoc.map((d) => Buffer.from(JSON.stringify(d))) },
  { weight: 1, arbitrary: anyJson.map((d) => Buffer.from(JSON.stringify(d) ?? "")) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constantFrom("", "{", "null", "[]", '{"schemaVersion":2,"manifests":null}', '{"__proto__":{"schemaVersion":2}}').map((s) => Buffer.from(s)) },
);

void test("any manifest bytes parse to a manifest or an index, or are refused with capsa's error", () => {
  fc.assert(
    fc.property(manifestBytes, fc.option(mediaType, { nil: undefined }), (bytes, ct) => {
      let parsed: ReturnType<typeof parseManifest>;
      try {
        parsed = parseManifest(bytes, ct, "fuzz");
      } catch (e) {
        expectCapsa("parseManifest", e);
        return;
      }
      if (parsed.kind === "index") {
        try {
          selectFromIndex(parsed.index, hostPlatform(), "fuzz");
        } catch (e) {
          expectCapsa("selectFromIndex", e);
        }
      } else {
        // What the puller relies on: descriptors with a sha256 digest and a size.
        for (const d of [parsed.manifest.config, ...parsed.manifest.layers]) {
          assert.match(d.digest, /^sha256:[a-f0-9]{64}$/);
          assert.ok(Number.isSafeInteger(d.size) && d.size >= 0);
        }
      }
    }),
    fuzzParams(1331, 4000),
  );
});

void test("any platform string parses or is refused with capsa's error", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.constantFrom("linux", "amd64", "/", "", "v8", " ", "x86_64"), { maxLength: 6 }).map((p) => p.join(""))), (s) => {
      try {
        parsePlatform(s);
      } catch (e) {
        expectCapsa("parsePlatform", e);
      }
    }),
    fuzzParams(1332, 2000),
  );
});

void test("any WWW-Authenticate header is read without an exception or a runaway match", () => {
  const piece = fc.constantFrom("Bearer ", "Basic ", "realm", "=", '"', "\\", ",", " ", "a", "-", "scope", "service", "\t");
  const header = fc.oneof(
    fc.array(piece, { maxLength: 30 }).map((p) => p.join("")),
    fc.string({ maxLength: 100 }),
    // Node's limit on all headers together is 16 KiB: one header may take all of it.
    fc.record({ unit: fc.constantFrom("a", "a-", 'a="', "a=", " ", 'a="\\'), n: fc.integer({ min: 1000, max: 8000 }) }).map(({ unit, n }) => "Bearer " + unit.repeat(Math.floor(16_000 / unit.length / (8000 / n)))),
  );
  fc.assert(
    fc.property(header, (h) => {
      // The bound is loose on purpose: this parse is quadratic (about 0.5 s at 16 KiB here), reported, not a hang.
      timed(`parseChallenge of ${h.length} characters`, 5000, () => parseChallenge(h));
    }),
    fuzzParams(1333, 150),
  );
});

// ---- A registry on loopback that answers what the property asks ---------------

interface Answers {
  challenge: string | undefined;
  tokenStatus: number;
  token: Buffer;
  manifest: Buffer;
  manifestType: string | undefined;
  config: Buffer;
  redirectBlob: boolean;
}

async function fakeRegistry(): Promise<{ port: number; set(a: Answers): void; close(): Promise<void> }> {
  let answers: Answers | undefined;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const a = answers!;
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const authed = !a.challenge || req.headers.authorization !== undefined;
    const send = (status: number, body: Buffer, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { "content-length": String(body.length), ...headers });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (url.pathname === "/token") return send(a.tokenStatus, a.token, { "content-type": "application/json" });
    if (!authed) return send(401, Buffer.from('{"errors":[{"code":"UNAUTHORIZED"}]}'), { "www-authenticate": a.challenge! });
    if (url.pathname === "/v2/") return send(200, Buffer.from("{}"));
    if (url.pathname.startsWith("/v2/fuzz/manifests/")) return send(200, a.manifest, a.manifestType ? { "content-type": a.manifestType } : {});
    if (url.pathname === `/v2/fuzz/blobs/${sha(a.config)}`) {
      if (a.redirectBlob && !url.searchParams.has("r")) return send(307, Buffer.alloc(0), { location: `${url.pathname}?r=1` });
      return send(200, a.config);
    }
    return send(404, Buffer.from('{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}'));
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    set: (a) => (answers = a),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

// An image config without "created" (optional in the OCI spec) made `images` fail with
// "Invalid time value" for every image listed: such an image shows N/A.
void test("images lists an image whose config has no created date", () => {
  const img = { id: sha("x"), repoTags: ["fuzz:1"], repoDigests: [], manifestDigest: sha("m"), created: "", size: 0, config: { architecture: "amd64", os: "linux", rootfs: { type: "layers" as const, diff_ids: [] } } };
  assert.doesNotThrow(() => imageRows([img], { trunc: true }));
});

void test("a pull from a hostile registry ends with an image or capsa's one-line error", async (t) => {
  const reg = await fakeRegistry();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-fuzz-registry-"));
  const f = openStore(dir);
  t.after(async () => {
    f.db.close();
    await reg.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const origin = `http://127.0.0.1:${reg.port}`;
  // Only this registry and a closed loopback port are ever named: no traffic leaves the machine.
  const challenge = fc.option(
    fc.constantFrom(
      `Bearer realm="${origin}/token",service="fuzz"`,
      `Bearer realm="${origin}/token",service="fuzz"`,
      `Bearer realm="${origin}/token",service="fuzz"`,
      `Bearer realm="${origin}/token",service="fuzz",scope="repository:fuzz:pull"`,
      `Bearer realm="${origin}/token",scope="a b  c"`,
      'Bearer realm="http://127.0.0.1:1/token"',
      'Bearer realm="not a url"',
      "Bearer",
      'Bearer service="x"',
      'Basic realm="fuzz"',
      "Negotiate",
      "",
    ),
    { nil: undefined },
  );
  const token = fc.oneof(
    { weight: 3, arbitrary: fc.constant(Buffer.from('{"token":"t"}')) },
    fc.constantFrom('{"token":"t"}', '{"access_token":"t"}', "null", "[]", '"t"', '{"token":5}', '{"token":""}', '{"token":null,"access_token":{}}', "{", "", "0").map((s) => Buffer.from(s)),
    anyJson.map((j) => Buffer.from(JSON.stringify(j) ?? "")),
    fc.constant(Buffer.alloc(2 * 1024 * 1024, 0x20)),
  );
  /** Mostly what images hold, sometimes any JSON in its place. */
  const mostly = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 5, arbitrary: valid }, { weight: 1, arbitrary: anyJson });
  const configDoc = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record(
        {
          architecture: mostly(fc.constantFrom("amd64", "arm64")),
          os: mostly(fc.constant("linux")),
          variant: mostly(fc.constantFrom("v8", "")),
          config: mostly(
            fc.record(
              {
                Env: mostly(fc.constant(["A=b"])),
                Cmd: mostly(fc.constant(["sh"])),
                Entrypoint: mostly(fc.constant(null)),
                User: mostly(fc.constantFrom("", "1000:1000", "root")),
                WorkingDir: mostly(fc.constant("/")),
                ExposedPorts: mostly(fc.constant({ "80/tcp": {} })),
                Labels: mostly(fc.constant({ a: "b" })),
                Volumes: mostly(fc.constant({ "/data": {} })),
                Healthcheck: mostly(fc.constant({ Test: ["CMD", "true"], Interval: 1_000_000_000 })),
                StopSignal: mostly(fc.constant("SIGTERM")),
              },
              { requiredKeys: [] },
            ),
          ),
          rootfs: mostly(fc.constant({ type: "layers", diff_ids: [] })),
          history: mostly(fc.array(fc.record({ created: mostly(fc.constant("2024-01-01T00:00:00Z")), created_by: mostly(fc.constant("RUN x")), empty_layer: mostly(fc.constant(true)) }, { requiredKeys: [] }), { maxLength: 3 })),
          created: mostly(fc.constantFrom("2024-01-01T00:00:00Z", "not a date", "")),
        },
        { requiredKeys: ["rootfs"] },
      ),
    },
    { weight: 1, arbitrary: anyJson },
  );
  /** A manifest that names the config the server holds (so the pull gets as far as the config), or any manifest. */
  const answers = fc
    .record({
      challenge,
      tokenStatus: fc.constantFrom(200, 200, 200, 200, 401, 500),
      token,
      config: configDoc.map((c) => Buffer.from(JSON.stringify(c) ?? "")),
      pointsAtConfig: fc.boolean(),
      manifest: manifestBytes,
      configMediaType: fc.constantFrom(MEDIA.ociConfig, MEDIA.dockerConfig),
      manifestType: fc.option(mediaType, { nil: undefined }),
      layers: fc.oneof(fc.constant([]), fc.array(descriptor, { maxLength: 2 })),
      redirectBlob: fc.boolean(),
    })
    .map((a): Answers => {
      const manifest = a.pointsAtConfig ? Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: a.configMediaType, digest: sha(a.config), size: a.config.length }, layers: a.layers })) : a.manifest;
      return { challenge: a.challenge, tokenStatus: a.tokenStatus, token: a.token, manifest, manifestType: a.manifestType, config: a.config, redirectBlob: a.redirectBlob };
    });
  const heap0 = heapAfterGc();
  let pulled = 0;
  await fc.assert(
    fc.asyncProperty(answers, async (a) => {
      reg.set(a);
      const client = new RegistryClient(`127.0.0.1:${reg.port}`, { schemes: ["http"], verify: false, ca: [] }, { username: "u", password: "p" });
      try {
        const img = await pullImage(f.store, client, parseReference(`127.0.0.1:${reg.port}/fuzz:1`));
        // A pulled image, however odd its config, can be looked at.
        f.store.inspect(img.id);
        f.store.history(img.id);
        const listed = f.store.list();
        // `images` formats what list() gives.
        imageRows(listed, { trunc: true });
        f.store.remove(img.id, { force: true });
        pulled++;
      } catch (e) {
        expectCapsa("pull", e, true);
      } finally {
        client.close();
      }
    }),
    fuzzParams(1334, 500, { timeout: 30_000 }),
  );
  const grown = heapAfterGc() - heap0;
  assert.ok(grown < 64 * 1024 * 1024, `the heap grew by ${Math.round(grown / 1048576)} MiB`);
  // The answers must also let pulls through, or the property would only ever test refusals.
  assert.ok(pulled > 0, "no pull succeeded");
});

// ---- Through the CLI: what the property found ------------------------------------

/** Runs the real CLI without blocking this process (the registry it talks to lives here). */
function capsaAsync(env: NodeJS.ProcessEnv, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, [...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

void test("pull refuses a token answer that is not an object with a clear message", async (t) => {
  const reg = await fakeRegistry();
  const root = makeTestRoot("fuzz-reg");
  t.after(async () => {
    await reg.close();
    root.cleanup();
  });
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: sha(config), size: config.length }, layers: [] }));
  reg.set({ challenge: `Bearer realm="http://127.0.0.1:${reg.port}/token",service="fuzz"`, tokenStatus: 200, token: Buffer.from("null"), manifest, manifestType: MEDIA.ociManifest, config, redirectBlob: false });
  const r = await capsaAsync(root.env, ["pull", `127.0.0.1:${reg.port}/fuzz:1`]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /no token in the answer/);
  assert.doesNotMatch(r.stderr, /Cannot read properties/);
});

void test("pull refuses an image config whose fields have the wrong types, and images keeps working", async (t) => {
  const reg = await fakeRegistry();
  const root = makeTestRoot("fuzz-reg");
  t.after(async () => {
    await reg.close();
    root.cleanup();
  });
  for (const [bad, field] of [
    [{ history: [null] }, "history\\[0\\]"],
    [{ config: { Env: "A=b" } }, "config.Env"],
    [{ config: { Healthcheck: { Test: ["CMD", "true"], Interval: "soon" } } }, "config.Healthcheck"],
    [{ created: "yesterday" }, "created"],
  ] as const) {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, ...bad }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: sha(config), size: config.length }, layers: [] }));
    reg.set({ challenge: undefined, tokenStatus: 200, token: Buffer.alloc(0), manifest, manifestType: MEDIA.ociManifest, config, redirectBlob: false });
    const r = await capsaAsync(root.env, ["pull", `127.0.0.1:${reg.port}/fuzz:1`]);
    assert.equal(r.status, 1, `${JSON.stringify(bad)}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`malformed image config: ${field} has the wrong type`));
    const images = await capsaAsync(root.env, ["images"]);
    assert.equal(images.status, 0, images.stderr);
  }
  // null fields are absent fields (as docker decodes them): such an image is pulled and listed.
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", created: "2024-01-01T00:00:00Z", rootfs: { type: "layers", diff_ids: [] }, config: { Env: null, Cmd: null, User: null }, history: null }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: sha(config), size: config.length }, layers: [] }));
  reg.set({ challenge: undefined, tokenStatus: 200, token: Buffer.alloc(0), manifest, manifestType: MEDIA.ociManifest, config, redirectBlob: false });
  const ok = await capsaAsync(root.env, ["pull", `127.0.0.1:${reg.port}/fuzz:1`]);
  assert.equal(ok.status, 0, ok.stderr);
  const images = await capsaAsync(root.env, ["images", "--format", "{{.Repository}}"]);
  assert.equal(images.status, 0, images.stderr);
  assert.match(images.stdout, /fuzz/);
});
