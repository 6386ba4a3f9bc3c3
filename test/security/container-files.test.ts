// File work on a container's root never leaves it: cp (both ways), stat,
// export and commit --pause=false against a running container that keeps
// swapping a directory for a symlink to a host path (the CVE-2018-15664
// class), and image files the engine reads itself (/etc/passwd, /etc/group)
// that are FIFOs or devices.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, beforeEach, describe, it } from "node:test";
import tar from "tar-stream";
import { Engine } from "../../src/index.ts";
import { CLI, busyboxRootfsTar, importBusybox } from "../helpers.ts";
import { startService, type Service } from "../api/service.ts";

const SECRETS = 20;
/** Host secret files and the container's decoys are this size (a packer that trusts a stale size still packs a host file); their modes differ. */
const SECRET_SIZE = 777;
const SECRET_MODE = 0o600;

interface CanaryState {
  entries: Record<string, { mode: number; size: number; sha: string; mtimeMs: number }>;
}

function snapshot(dir: string): CanaryState {
  const entries: CanaryState["entries"] = {};
  const walk = (abs: string, rel: string): void => {
    const st = fs.lstatSync(abs);
    entries[rel] = { mode: st.mode, size: st.size, mtimeMs: st.mtimeMs, sha: st.isFile() ? crypto.createHash("sha256").update(fs.readFileSync(abs)).digest("hex") : "" };
    if (st.isDirectory()) for (const c of fs.readdirSync(abs)) walk(path.join(abs, c), rel === "" ? c : `${rel}/${c}`);
  };
  walk(dir, "");
  return { entries };
}

async function bytesOf(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** A tar of "./" and `files` entries named x/f<i> (no entry for x itself, so every entry resolves x again). */
async function manyFilesTar(files: number, mode = 0o666): Promise<Buffer> {
  const pack = tar.pack();
  // The target's own metadata (chmod of whatever the target resolves to), then the files.
  pack.entry({ name: "./", type: "directory", mode: 0o777 });
  for (let i = 0; i < files; i++) pack.entry({ name: `x/f${i}`, mode }, `payload ${i}\n`);
  pack.entry({ name: "x/secret0", mode: 0o777 }, "overwritten\n");
  pack.finalize();
  return bytesOf(pack as unknown as Readable);
}

/** Every regular file below dir, links never followed. */
function filesBelow(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    const st = fs.lstatSync(abs);
    if (st.isDirectory()) for (const c of fs.readdirSync(abs)) walk(path.join(abs, c));
    else if (st.isFile()) out.push(abs);
  };
  walk(dir);
  return out;
}

void describe("file work on a running container that swaps a directory for a symlink to a host path", () => {
  let svc: Service;
  let engine: Engine;
  let canary: string;
  let work: string;
  let token: string;
  let before_: CanaryState;

  const ok = (r: { status: number | null; stderr: string; stdout: string }): string => {
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const assertCanaryIntact = (): void => assert.deepEqual(snapshot(canary), before_, "a host file outside the container changed");
  const assertNoSecret = (b: Buffer, what: string): void => assert.ok(!b.includes(token), `${what} returned the content of a host file`);

  before(async () => {
    svc = await startService("cfiles");
    importBusybox(svc.t, "bb:race");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-cfiles-work-"));
    // The canary lives outside the state root; the container only ever names it by its host path.
    canary = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-cfiles-canary-"));
    fs.chmodSync(canary, 0o755);
    token = `host-secret-${crypto.randomBytes(12).toString("hex")}`;
    // /w/x (copied into) and /w/e (read from; it only ever holds its decoys, named like the host's
    // secrets, and a walk of /w meets it before x) are, by turns, a directory and a symlink to the canary.
    const decoys = Array.from({ length: SECRETS }, (_, i) => `secret${i}`).join(" ");
    const setup = `for x in e x; do mkdir -p /w/$x; cd /w/$x; for f in ${decoys}; do head -c ${SECRET_SIZE} /dev/zero | tr "\\0" d > $f; chmod 644 $f; done; ln -s ${canary} /w/$x.link; done; cd /w; `;
    // Best: swapped atomically by renameat2(RENAME_EXCHANGE) in a tight loop, so the names always exist.
    const swap = path.join(work, "swap");
    fs.writeFileSync(
      swap + ".c",
      "#define _GNU_SOURCE\n#include <fcntl.h>\n#include <stdio.h>\n#include <sys/syscall.h>\n#include <unistd.h>\n" +
        "int main(int c, char **v) { for (;;) for (int i = 1; i + 1 < c; i += 2)\n" +
        "  if (syscall(SYS_renameat2, AT_FDCWD, v[i], AT_FDCWD, v[i + 1], 2 /* RENAME_EXCHANGE */)) { perror(\"renameat2\"); return 1; } }\n",
    );
    if (spawnSync("cc", ["-static", "-O2", "-o", swap, swap + ".c"], { encoding: "utf8" }).status === 0) {
      ok(svc.t.capsa(["create", "--name", "racer", "bb:race", "sh", "-c", setup + "exec /swap /w/e /w/e.link /w/x /w/x.link"]));
      ok(svc.t.capsa(["cp", swap, "racer:/swap"]));
      ok(svc.t.capsa(["start", "racer"]));
    } else {
      // Without a C compiler: busybox renames, with a moment between them when a name does not exist.
      const script =
        setup +
        "mv e e.dir; mv x x.dir; while :; do for x in e x; do if [ -d $x.dir ] && [ -L $x.link ]; then rm -rf $x; fi; mv -T $x.dir $x; mv -T $x $x.dir; mv -T $x.link $x; mv -T $x $x.link; done; done";
      ok(svc.t.capsa(["run", "-d", "--name", "racer", "bb:race", "sh", "-c", script]));
    }
    await new Promise((r) => setTimeout(r, 500));
    const st = svc.t.capsa(["inspect", "-f", "{{.State.Running}}", "racer"]);
    assert.equal(st.stdout.trim(), "true", `the racing container is not running: ${svc.t.capsa(["logs", "racer"]).stderr}`);
    engine = Engine.open({ root: svc.t.root });
  });

  // A fresh canary for each case, so that each one shows its own escape.
  beforeEach(() => {
    for (const f of fs.readdirSync(canary)) fs.rmSync(path.join(canary, f), { recursive: true, force: true });
    fs.chmodSync(canary, 0o755);
    for (let i = 0; i < SECRETS; i++) {
      fs.writeFileSync(path.join(canary, `secret${i}`), (token + "\n").repeat(Math.ceil(SECRET_SIZE / (token.length + 1))).slice(0, SECRET_SIZE), { mode: SECRET_MODE });
    }
    before_ = snapshot(canary);
  });

  after(async () => {
    engine?.close();
    svc?.t.capsa(["rm", "-f", "racer"]);
    await svc?.stop();
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(canary, { recursive: true, force: true });
  });

  void it("cp into the container never writes, chmods or creates anything outside it", async (ctx) => {
    const payload = await manyFilesTar(40);
    let done = 0;
    for (let i = 0; i < 150; i++) {
      try {
        await engine.containers.copyTo("racer", "/w", Readable.from(payload));
        done++;
      } catch {
        /* the container changes the tree under the copy: failing is fine, escaping is not */
      }
      try {
        await engine.containers.copyTo("racer", "/w/x", Readable.from(payload));
        done++;
      } catch {
        /* as above */
      }
    }
    fs.writeFileSync(path.join(work, "tar"), payload);
    for (let i = 0; i < 8; i++) {
      if (svc.t.capsa(["cp", "-", "racer:/w"], { input: payload }).status === 0) done++;
      if (svc.t.capsa(["cp", "-", "racer:/w/x"], { input: payload }).status === 0) done++;
    }
    // The docker CLI through the API (HEAD and PUT /containers/{id}/archive).
    fs.mkdirSync(path.join(work, "src/x"), { recursive: true });
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(work, "src/x", `f${i}`), "x\n");
    for (let i = 0; i < 6; i++) if (svc.docker(["cp", path.join(work, "src/x"), "racer:/w/"]).status === 0) done++;
    ctx.diagnostic(`copies in that succeeded: ${done} of ${2 * 150 + 2 * 8 + 6}`);
    assert.ok(done > 0, "no copy into the container succeeded: the test would prove nothing");
    assertCanaryIntact();
  });

  void it("cp out of the container and stat never read a host file", async (ctx) => {
    let done = 0;
    for (let i = 0; i < 150; i++) {
      try {
        const { tar: out } = await engine.containers.copyFrom("racer", "/w/e");
        assertNoSecret(await bytesOf(out), "copyFrom");
        done++;
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
      }
      try {
        const st = await engine.containers.statPath("racer", `/w/e/secret${i % SECRETS}`);
        assert.notEqual(st.mode & 0o777, SECRET_MODE, "statPath described a host file");
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
      }
    }
    for (let i = 0; i < 8; i++) {
      const r = svc.t.capsa(["cp", "racer:/w/e", "-"]);
      if (r.status === 0) done++;
      assertNoSecret(Buffer.from(r.stdout), "capsa cp out");
    }
    for (let i = 0; i < 6; i++) {
      const r = svc.docker(["cp", "racer:/w/e", "-"]);
      if (r.status === 0) done++;
      assertNoSecret(Buffer.from(r.stdout), "docker cp out");
    }
    ctx.diagnostic(`copies out that succeeded: ${done} of ${150 + 8 + 6}`);
    assert.ok(done > 0, "no copy out of the container succeeded: the test would prove nothing");
    assertCanaryIntact();
  });

  void it("export packs nothing from outside the container", async (ctx) => {
    let exported = 0;
    for (let i = 0; i < 25; i++) {
      try {
        assertNoSecret(await bytesOf(await engine.containers.export("racer")), "export");
        exported++;
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        ctx.diagnostic(`export: ${String(e)}`);
      }
    }
    for (let i = 0; i < 3; i++) {
      const out = path.join(work, "export.tar");
      const r = svc.t.capsa(["export", "-o", out, "racer"]);
      if (r.status === 0) exported++;
      else ctx.diagnostic(`capsa export: ${r.stderr.trim().split("\n")[0]}`);
      if (fs.existsSync(out)) assertNoSecret(fs.readFileSync(out), "capsa export");
      fs.rmSync(out, { force: true });
    }
    ctx.diagnostic(`exports that succeeded: ${exported} of 28`);
    assert.ok(exported > 0, "no export succeeded: the test would prove nothing");
    assertCanaryIntact();
  });

  void it("commit --pause=false packs nothing from outside the container into the layer", async (ctx) => {
    let committed = 0;
    for (let i = 0; i < 25; i++) {
      let img;
      try {
        img = await engine.containers.commit("racer", { pause: false, ref: `racecommit:${i}` });
      } catch (e) {
        ctx.diagnostic(`commit: ${String(e)}`);
        continue;
      }
      committed++;
      const top = engine.images.layerDirs(img.id)[0]!;
      for (const f of filesBelow(top)) assertNoSecret(fs.readFileSync(f), `commit --pause=false (${f})`);
      engine.images.remove(img.id);
    }
    const r = svc.t.capsa(["commit", "--pause=false", "racer", "racecommit:cli"]);
    if (r.status === 0) {
      committed++;
      for (const f of filesBelow(engine.images.layerDirs("racecommit:cli")[0]!)) assertNoSecret(fs.readFileSync(f), "capsa commit --pause=false");
    }
    ctx.diagnostic(`commits that succeeded: ${committed} of 26`);
    assert.ok(committed > 0, "no commit succeeded: the test would prove nothing");
    assertCanaryIntact();
  });
});

/** The busybox rootfs tar with some entries replaced (by name, without the leading "./"), the others added at the end. */
async function busyboxWith(replace: Record<string, { header: Partial<tar.Header>; body?: Buffer }>): Promise<Buffer> {
  const ex = tar.extract();
  const pk = tar.pack();
  const pending = new Set(Object.keys(replace));
  ex.on("entry", (h, stream, next) => {
    const name = h.name.replace(/^\.\//, "");
    pending.delete(name);
    const r = replace[name];
    if (!r) {
      stream.pipe(pk.entry(h, (err) => next(err ?? undefined)));
      return;
    }
    stream.resume();
    stream.on("end", () => pk.entry({ ...h, size: 0, ...r.header }, r.body ?? Buffer.alloc(0), (err) => next(err ?? undefined)));
  });
  ex.on("finish", () => {
    for (const name of pending) pk.entry({ name, mode: 0o644, ...replace[name]!.header }, replace[name]!.body ?? Buffer.alloc(0));
    pk.finalize();
  });
  fs.createReadStream(busyboxRootfsTar()).pipe(ex);
  return bytesOf(pk as unknown as Readable);
}

void describe("image files the engine reads itself (/etc/passwd, /etc/group)", () => {
  let svc: Service;
  let dir: string;
  const cases = {
    "img:fifo": { file: "etc/passwd", header: { type: "fifo" as const }, error: /\/etc\/passwd.*not a regular file \(a FIFO\)/ },
    "img:zero": { file: "etc/passwd", header: { type: "symlink" as const, linkname: "/dev/zero" }, error: /\/etc\/passwd.*not a regular file \(a character device\)/ },
    "img:huge": { file: "etc/group", header: { type: "file" as const, size: 5 * 1024 * 1024 }, body: Buffer.alloc(5 * 1024 * 1024, "x"), error: /\/etc\/group.*larger than 4194304 bytes/ },
  };

  before(async () => {
    svc = await startService("cfiles-img");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-cfiles-img-"));
    for (const [ref, c] of Object.entries(cases)) {
      // /dev/zero is a real character device node in the image (import creates it as root).
      const extra: Record<string, { header: Partial<tar.Header> }> = ref === "img:zero" ? { "dev/zero": { header: { type: "character-device", devmajor: 1, devminor: 5, mode: 0o666 } } } : {};
      const file = path.join(dir, `${ref.replace(":", "-")}.tar`);
      fs.writeFileSync(file, await busyboxWith({ [c.file]: { header: c.header, ...("body" in c ? { body: c.body } : {}) }, ...extra }));
      const r = svc.t.capsa(["import", file, ref]);
      assert.equal(r.status, 0, r.stderr);
    }
  });

  after(async () => {
    await svc?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const [ref, c] of Object.entries(cases)) {
    void it(`run -u app of an image whose /${c.file} is ${ref === "img:huge" ? "5 MiB" : c.header.type === "fifo" ? "a FIFO" : "a symlink to /dev/zero"} fails with a clear error`, () => {
      // SIGKILL on timeout: a CLI stuck in open(2) of a FIFO does not run its signal handlers.
      const r = spawnSync(CLI, ["run", "--rm", "-u", "app", ref, "true"], { env: svc.t.env, encoding: "utf8", timeout: 60_000, killSignal: "SIGKILL" });
      assert.notEqual(r.signal, "SIGKILL", "capsa run hung reading the image's file");
      assert.equal(r.status, 125, r.stderr);
      assert.match(r.stderr, c.error);
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
    });
  }

  void it("through the API, starting such a container fails with the error while the service keeps answering", async () => {
    for (const [ref, c] of Object.entries(cases)) {
      const created = await svc.request("POST", "/containers/create", JSON.stringify({ Image: ref, User: "app", Cmd: ["true"] }));
      assert.equal(created.status, 201, created.body);
      const id = (JSON.parse(created.body) as { Id: string }).Id;
      let settled = false;
      const start = svc.request("POST", `/containers/${id}/start`).finally(() => (settled = true));
      const within = <T>(p: Promise<T>): Promise<T | undefined> => Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000).unref())]);
      // The service keeps answering while the start is handled, and after it; a hang shows as no answer.
      do {
        const ping = await within(svc.request("GET", "/_ping"));
        assert.equal(ping?.status, 200, "the service stopped answering /_ping");
        await new Promise((r) => setTimeout(r, 200));
      } while (!settled);
      const res = await within(start);
      assert.ok(res, "the start request never finished");
      assert.ok(res.status >= 400, `start of ${ref} succeeded: ${res.body}`);
      assert.match((JSON.parse(res.body) as { message: string }).message, c.error);
    }
  });

  void it("COPY --chown=app in a build FROM such an image fails with the error instead of hanging", () => {
    const ctx = fs.mkdtempSync(path.join(dir, "ctx-"));
    fs.writeFileSync(path.join(ctx, "x"), "x");
    fs.writeFileSync(path.join(ctx, "Containerfile"), "FROM img:fifo\nCOPY --chown=app x /x\n");
    const r = spawnSync(CLI, ["build", "-t", "chown-fifo:1", ctx], { env: svc.t.env, encoding: "utf8", timeout: 60_000, killSignal: "SIGKILL" });
    assert.notEqual(r.signal, "SIGKILL", "capsa build hung reading the image's /etc/passwd");
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /Containerfile:2: .*\/etc\/passwd.*not a regular file \(a FIFO\)/);
  });
});
