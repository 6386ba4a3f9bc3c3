// File-system verbs: cp both ways (and what it refuses), diff, export, commit,
// volumes, and logs options.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import tar from "tar-stream";
import { importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";

let t: TestRoot;
let work: string;
before(() => {
  t = makeTestRoot("files");
  importBusybox(t, "bb:1");
  work = fs.mkdtempSync(path.join(t.root, "..", path.basename(t.root) + "-work-"));
});
after(() => {
  t.cleanup();
  fs.rmSync(work, { recursive: true, force: true });
});

const ok = (r: { status: number | null; stderr: string; stdout: string }): string => {
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

async function tarOf(entries: { name: string; type?: "file" | "symlink" | "link" | "directory"; body?: string; linkname?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? "file", linkname: e.linkname, mode: 0o644 }, e.body ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

void describe("cp, diff, export, commit", () => {
  void it("copies a file in and back out, and diff shows the change", () => {
    ok(t.capsa(["create", "--name", "fs1", "bb:1", "sh"]));
    fs.writeFileSync(path.join(work, "hello.txt"), "hi there\n");
    ok(t.capsa(["cp", path.join(work, "hello.txt"), "fs1:/tmp/"]));
    ok(t.capsa(["cp", "fs1:/tmp/hello.txt", path.join(work, "back.txt")]));
    assert.equal(fs.readFileSync(path.join(work, "back.txt"), "utf8"), "hi there\n");
    const diff = ok(t.capsa(["diff", "fs1"]));
    assert.match(diff, /^C \/tmp$/m);
    assert.match(diff, /^A \/tmp\/hello\.txt$/m);
  });

  void it("diff leaves out the mount points the runtime made, as dockerd's init layer does", () => {
    ok(t.capsa(["run", "--name", "fs-mp", "bb:1", "sh", "-c", "echo x >> /etc/profile-added"]));
    const diff = ok(t.capsa(["diff", "fs-mp"]));
    assert.doesNotMatch(diff, /\/etc\/(hosts|hostname|resolv\.conf)$/m);
    assert.match(diff, /^A \/etc\/profile-added$/m);
    assert.match(diff, /^C \/etc$/m, "a directory with a real change still shows");
    ok(t.capsa(["rm", "fs-mp"]));
  });

  void it("cp from stdin refuses to write outside the container (traversal and symlink escape)", async () => {
    const canary = path.join(work, "canary");
    fs.mkdirSync(canary);
    const evil = await tarOf([
      { name: "../../../../../../" + canary.slice(1) + "/dotdot", body: "x" },
      { name: "esc", type: "symlink", linkname: canary },
      { name: "esc/through-link", body: "x" },
    ]);
    t.capsa(["cp", "-", "fs1:/tmp"], { input: evil });
    assert.deepEqual(fs.readdirSync(canary), [], "something was written outside the container");
  });

  void it("export streams the whole root file system", () => {
    const out = path.join(work, "fs1.tar");
    ok(t.capsa(["export", "-o", out, "fs1"]));
    const list = spawnSync("tar", ["-tf", out], { encoding: "utf8" }).stdout;
    assert.match(list, /^(\.\/)?bin\/busybox$/m);
    assert.match(list, /^(\.\/)?tmp\/hello\.txt$/m);
  });

  void it("commit makes an image that carries the change and runs", () => {
    ok(t.capsa(["commit", "-c", "CMD [\"cat\", \"/tmp/hello.txt\"]", "fs1", "bb:committed"]));
    assert.equal(ok(t.capsa(["run", "--rm", "bb:committed"])), "hi there\n");
    ok(t.capsa(["rm", "fs1"]));
    ok(t.capsa(["rmi", "bb:committed"]));
  });

  void it("a deletion in the container is a whiteout in diff and in the committed image", () => {
    ok(t.capsa(["run", "--name", "del", "bb:1", "rm", "/etc/group"]));
    assert.match(ok(t.capsa(["diff", "del"])), /^D \/etc\/group$/m);
    ok(t.capsa(["commit", "del", "bb:nogroup"]));
    assert.equal(t.capsa(["run", "--rm", "bb:nogroup", "test", "-e", "/etc/group"]).status, 1);
    ok(t.capsa(["rm", "del"]));
    ok(t.capsa(["rmi", "bb:nogroup"]));
  });
});

void describe("volumes", () => {
  void it("a named volume keeps data across containers; rm -v removes anonymous volumes only", () => {
    ok(t.capsa(["run", "--rm", "-v", "data1:/data", "bb:1", "sh", "-c", "echo kept > /data/f"]));
    assert.equal(ok(t.capsa(["run", "--rm", "-v", "data1:/data:ro", "bb:1", "cat", "/data/f"])), "kept\n");
    assert.notEqual(t.capsa(["run", "--rm", "-v", "data1:/data:ro", "bb:1", "touch", "/data/g"]).status, 0);
    ok(t.capsa(["create", "--name", "anon", "-v", "/scratch", "bb:1", "true"]));
    const vols = ok(t.capsa(["volume", "ls", "-q"])).trim().split("\n");
    assert.equal(vols.length, 2);
    const anon = vols.find((v) => v !== "data1")!;
    const inUse = t.capsa(["volume", "rm", anon]);
    assert.notEqual(inUse.status, 0);
    assert.match(inUse.stderr, /in use/);
    ok(t.capsa(["rm", "-v", "anon"]));
    assert.deepEqual(ok(t.capsa(["volume", "ls", "-q"])).trim().split("\n"), ["data1"]);
    ok(t.capsa(["volume", "rm", "data1"]));
  });

  void it("bind mounts are read-write, and read-only with :ro", () => {
    const dir = path.join(work, "bind");
    fs.mkdirSync(dir);
    ok(t.capsa(["run", "--rm", "-v", `${dir}:/mnt`, "bb:1", "sh", "-c", "echo w > /mnt/f"]));
    assert.equal(fs.readFileSync(path.join(dir, "f"), "utf8"), "w\n");
    assert.notEqual(t.capsa(["run", "--rm", "-v", `${dir}:/mnt:ro`, "bb:1", "touch", "/mnt/g"]).status, 0);
  });
});

void describe("logs", () => {
  void it("--tail, -t and stream separation", () => {
    ok(t.capsa(["run", "--name", "lg", "bb:1", "sh", "-c", "for i in 1 2 3 4; do echo out$i; done; echo err >&2"]));
    const tail = t.capsa(["logs", "--tail", "2", "lg"]);
    assert.equal(tail.stdout, "out4\n");
    assert.equal(tail.stderr, "err\n");
    const ts = ok(t.capsa(["logs", "-t", "lg"]));
    assert.match(ts.split("\n")[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z out1$/);
    assert.equal(ok(t.capsa(["logs", "--since", "2099-01-01T00:00:00Z", "lg"])), "");
    // A Go duration with several units reads as it does for events --since.
    assert.equal(ok(t.capsa(["logs", "--since", "1h30m", "lg"])), "out1\nout2\nout3\nout4\n");
    assert.equal(ok(t.capsa(["logs", "--until", "1h30m", "lg"])), "");
    ok(t.capsa(["rm", "lg"]));
  });

  void it("-f follows until the container exits", () => {
    ok(t.capsa(["run", "-d", "--name", "fl", "bb:1", "sh", "-c", "echo a; sleep 1; echo b"]));
    const r = t.capsa(["logs", "-f", "fl"], { timeoutMs: 20_000 });
    assert.equal(r.stdout, "a\nb\n");
    ok(t.capsa(["rm", "fl"]));
  });
});
