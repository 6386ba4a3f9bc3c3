// Faults between capsa and a real registry: a proxy written here (Node http on
// 127.0.0.1) forwards to docker-registry and, per test, cuts a layer transfer
// midway, corrupts its bytes, or answers manifest requests with garbage, an
// over-large body or a 403. Each failure must be one line, leave the state
// root without images, blobs, layer dirs or temp files, and a retry must work.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { importBusybox } from "../helpers.ts";
import { capsaAsync, filesBelow, forward, haveTools, listen, registryTestRoot, startRegistry, type RunResult, type RunningRegistry, type Server } from "./fixtures.ts";

const skip = haveTools();

type Mode = "pass" | "cut" | "cut-once" | "corrupt" | "garbage-manifest" | "huge-manifest" | "huge-manifest-chunked" | "forbidden";

function ok(r: RunResult, what: string): string {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

function failsCleanly(r: RunResult, re: RegExp, root: string): void {
  assert.equal(r.status, 1, `expected failure, got ${r.status}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /^capsa: [^\n]*\n$/, "one line");
  assert.match(r.stderr, re);
  for (const d of ["blobs", "layers", "tmp"]) assert.deepEqual(filesBelow(path.join(root, d)), [], `${d}/ is empty`);
  if (fs.existsSync(path.join(root, "layers"))) assert.deepEqual(fs.readdirSync(path.join(root, "layers")), []);
}

void describe("registry faults: clean failure and retry", { skip }, () => {
  let reg: RunningRegistry;
  let proxy: Server;
  let mode: Mode = "pass";
  let layerDigest = "";
  let cuts = 0;
  const roots: { cleanup(): void }[] = [];
  const root = (label: string): ReturnType<typeof registryTestRoot> => {
    const t = registryTestRoot(label);
    roots.push(t);
    return t;
  };

  before(async () => {
    reg = await startRegistry();
    const src = root("fault-src");
    importBusybox(src);
    const pushed = src.capsa(["push", "busybox", `${reg.host}/fault/bb:1`]);
    assert.equal(pushed.status, 0, pushed.stderr);
    const m = (await (await fetch(`http://${reg.host}/v2/fault/bb/manifests/1`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).json()) as {
      layers: { digest: string }[];
    };
    layerDigest = m.layers[0]!.digest;
    proxy = await listen((req, res) => {
      const isLayer = req.method === "GET" && req.url?.endsWith(`/blobs/${layerDigest}`);
      const isManifest = req.method === "GET" && /\/manifests\//.test(req.url ?? "");
      if (isManifest && mode === "garbage-manifest") {
        res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end('{"schemaVersion": 2, "config": {');
        return;
      }
      if (isManifest && (mode === "huge-manifest" || mode === "huge-manifest-chunked")) {
        const size = 5 * 1024 * 1024;
        res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json", ...(mode === "huge-manifest" ? { "content-length": String(size) } : {}) });
        res.end(Buffer.alloc(size, 0x20));
        return;
      }
      if (isManifest && mode === "forbidden") {
        res.writeHead(403, { "content-type": "application/json" }).end('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}');
        return;
      }
      const cut = isLayer && (mode === "cut" || (mode === "cut-once" && cuts === 0));
      const corrupt = isLayer && mode === "corrupt";
      forward(req, res, reg.port, (up, out) => {
        if (!cut && !corrupt) return false;
        out.writeHead(up.statusCode ?? 502, up.headers);
        const total = Number(up.headers["content-length"] ?? 0);
        let sent = 0;
        up.on("data", (c: Buffer) => {
          if (cut && sent + c.length > total / 2) {
            cuts++;
            out.write(c.subarray(0, Math.max(0, Math.floor(total / 2) - sent)));
            up.destroy();
            out.socket?.destroy();
            return;
          }
          if (corrupt && sent <= total / 2 && sent + c.length > total / 2) {
            c = Buffer.from(c);
            const i = Math.floor(total / 2) - sent;
            c[i] = c[i]! ^ 0xff;
          }
          sent += c.length;
          out.write(c);
        });
        up.on("end", () => out.end());
        return true;
      });
    });
  });

  after(async () => {
    for (const t of roots) t.cleanup();
    await proxy?.close();
    await reg?.stop();
  });

  void it("a layer transfer cut midway every time: one-line error, nothing stored; a retry succeeds", async () => {
    const t = root("fault-cut");
    mode = "cut";
    failsCleanly(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb:1`]), /connection lost after \d+ of \d+ bytes|aborted|socket hang up|ECONNRESET/, t.root);
    assert.ok(cuts >= 4, `resumed ${cuts - 1} times before giving up`);
    mode = "pass";
    ok(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb:1`]), "retry");
    assert.equal(ok(await capsaAsync(t, ["run", "--rm", `${proxy.host}/fault/bb:1`, "echo", "ok"]), "run").trim(), "ok");
  });

  void it("a transfer cut once is resumed with a Range request", async () => {
    const t = root("fault-resume");
    mode = "cut-once";
    cuts = 0;
    const out = ok(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb:1`]), "pull");
    assert.equal(cuts, 1);
    assert.match(out, /Retrying \(1\) from byte \d+/);
    assert.equal(ok(await capsaAsync(t, ["run", "--rm", `${proxy.host}/fault/bb:1`, "echo", "ok"]), "run").trim(), "ok");
  });

  void it("corrupted layer bytes: digest mismatch, nothing stored; a retry succeeds", async () => {
    const t = root("fault-corrupt");
    mode = "corrupt";
    failsCleanly(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb:1`]), new RegExp(`digest mismatch: expected ${layerDigest}, got sha256:`), t.root);
    mode = "pass";
    ok(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb:1`]), "retry");
  });

  void it("a wrong digest asked for by the user: the registry has no such manifest", async () => {
    const t = root("fault-digest");
    mode = "pass";
    failsCleanly(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb@sha256:${"0".repeat(64)}`]), /manifest unknown/, t.root);
  });

  void it("malformed, over-large (declared or streamed) and forbidden manifests", async () => {
    const t = root("fault-manifest");
    mode = "garbage-manifest";
    failsCleanly(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb:1`]), /malformed manifest/, t.root);
    mode = "huge-manifest";
    failsCleanly(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb:1`]), /manifest too large/, t.root);
    mode = "huge-manifest-chunked";
    failsCleanly(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb:1`]), /manifest too large/, t.root);
    mode = "forbidden";
    failsCleanly(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb:1`]), /denied: requested access to the resource is denied \(HTTP 403\)/, t.root);
    mode = "pass";
    ok(await capsaAsync(t, ["pull", `${proxy.host}/fault/bb:1`]), "retry");
  });

  void it("a registry that is not there: one line", async () => {
    const t = root("fault-down");
    const r = await capsaAsync(t, ["pull", "127.0.0.1:1/nothing:1"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^capsa: registry 127\.0\.0\.1:1: .*ECONNREFUSED.*\n$/);
  });
});
