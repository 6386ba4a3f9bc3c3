// cp (both ways) and stat on a path that is a volume or bind mount of the
// container, running or stopped: served from the mount's source, resolved in
// the container's view; and commit of a stopped container with changes.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { busyboxRootfsTar, useBusyboxRoot } from "../helpers.ts";
import { startService, type Service } from "../api/service.ts";

const ok = (r: { status: number | null; stderr: string; stdout: string }): string => {
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

void describe("cp on volumes and bind mounts", () => {
  let work: string;
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-cpmounts-"));
  });
  // Registered before the root's own teardown, so it runs first.
  after(() => {
    for (const n of ["cpm-run", "cpm-stopped", "cpm-ro", "cpm-link"]) root().capsa(["rm", "-f", n]);
    fs.rmSync(work, { recursive: true, force: true });
  });
  const root = useBusyboxRoot("cpmounts", "bb:1");

  void it("copies in and out of a named volume's path and a bind's path of a stopped container", () => {
    const t = root();
    const bind = path.join(work, "bind-stopped");
    fs.mkdirSync(bind);
    fs.writeFileSync(path.join(bind, "from-host"), "bind content\n");
    ok(t.capsa(["volume", "create", "cpm-vol-s"]));
    ok(t.capsa(["create", "--name", "cpm-stopped", "-v", "cpm-vol-s:/vol", "-v", `${bind}:/mnt/b`, "bb:1", "sh"]));
    fs.writeFileSync(path.join(work, "in.txt"), "into the volume\n");
    ok(t.capsa(["cp", path.join(work, "in.txt"), "cpm-stopped:/vol/"]));
    ok(t.capsa(["cp", path.join(work, "in.txt"), "cpm-stopped:/mnt/b/copied.txt"]));
    assert.equal(fs.readFileSync(path.join(bind, "copied.txt"), "utf8"), "into the volume\n", "the file lands in the bind's source");
    ok(t.capsa(["cp", "cpm-stopped:/mnt/b/from-host", path.join(work, "out-bind")]));
    assert.equal(fs.readFileSync(path.join(work, "out-bind"), "utf8"), "bind content\n");
    ok(t.capsa(["cp", "cpm-stopped:/vol/in.txt", path.join(work, "out-vol")]));
    assert.equal(fs.readFileSync(path.join(work, "out-vol"), "utf8"), "into the volume\n");
    // Another container on the same volume sees the file: it is in the volume, not the first one's root.
    assert.equal(ok(t.capsa(["run", "--rm", "-v", "cpm-vol-s:/data", "bb:1", "cat", "/data/in.txt"])), "into the volume\n");
    // A whole directory out of the mount.
    ok(t.capsa(["cp", "cpm-stopped:/mnt/b", path.join(work, "bdir")]));
    assert.equal(fs.readFileSync(path.join(work, "bdir", "from-host"), "utf8"), "bind content\n");
    // A directory with a mount below it: the mount's content, as the container sees it.
    ok(t.capsa(["cp", "cpm-stopped:/mnt", path.join(work, "mntdir")]));
    assert.equal(fs.readFileSync(path.join(work, "mntdir", "b", "from-host"), "utf8"), "bind content\n");
  });

  void it("copies in and out of a named volume's path and a bind's path of a running container", () => {
    const t = root();
    const bind = path.join(work, "bind-running");
    fs.mkdirSync(bind);
    ok(t.capsa(["volume", "create", "cpm-vol-r"]));
    ok(t.capsa(["run", "-d", "--name", "cpm-run", "-v", "cpm-vol-r:/vol", "-v", `${bind}:/b`, "bb:1", "sleep", "600"]));
    ok(t.capsa(["exec", "cpm-run", "sh", "-c", "echo made inside > /vol/inside; echo bind inside > /b/inside"]));
    ok(t.capsa(["cp", "cpm-run:/vol/inside", path.join(work, "r-vol")]));
    assert.equal(fs.readFileSync(path.join(work, "r-vol"), "utf8"), "made inside\n");
    ok(t.capsa(["cp", "cpm-run:/b/inside", path.join(work, "r-bind")]));
    assert.equal(fs.readFileSync(path.join(work, "r-bind"), "utf8"), "bind inside\n");
    fs.writeFileSync(path.join(work, "r-in"), "from the host\n");
    ok(t.capsa(["cp", path.join(work, "r-in"), "cpm-run:/vol/r-in"]));
    ok(t.capsa(["cp", path.join(work, "r-in"), "cpm-run:/b/"]));
    assert.equal(ok(t.capsa(["exec", "cpm-run", "cat", "/vol/r-in", "/b/r-in"])), "from the host\nfrom the host\n", "the running container sees both files");
    ok(t.capsa(["cp", "cpm-run:/", path.join(work, "whole")]));
    assert.ok(fs.existsSync(path.join(work, "whole", "bin", "busybox")), "the root's content lands in the new directory");
    assert.ok(!fs.existsSync(path.join(work, "bin")), "not beside it");
    assert.equal(fs.readFileSync(path.join(work, "whole", "vol", "inside"), "utf8"), "made inside\n", "cp of / has the volume's content");
    assert.equal(fs.readFileSync(path.join(work, "whole", "b", "inside"), "utf8"), "bind inside\n");
  });

  void it("a directory copied in above a volume puts its entries under the volume's path into the volume; a read-only one refuses them", () => {
    const t = root();
    const ro = path.join(work, "bind-ro-below");
    fs.mkdirSync(ro);
    ok(t.capsa(["volume", "create", "cpm-vol-x"]));
    ok(t.capsa(["create", "--name", "cpm-cross", "-v", "cpm-vol-x:/srv/vol", "-v", `${ro}:/srv/ro:ro`, "-v", "cpm-vol-x:/srv/ro/rw", "bb:1", "sh"]));
    try {
      const src = path.join(work, "srv");
      fs.mkdirSync(path.join(src, "vol"), { recursive: true });
      fs.writeFileSync(path.join(src, "vol", "x"), "crossed\n");
      fs.writeFileSync(path.join(src, "top"), "top\n");
      ok(t.capsa(["cp", src, "cpm-cross:/"]));
      assert.equal(ok(t.capsa(["run", "--rm", "-v", "cpm-vol-x:/v", "bb:1", "cat", "/v/x"])), "crossed\n", "the entry is in the volume");
      ok(t.capsa(["cp", "cpm-cross:/srv/top", path.join(work, "cross-top")]));
      assert.equal(fs.readFileSync(path.join(work, "cross-top"), "utf8"), "top\n");
      fs.mkdirSync(path.join(src, "ro"));
      fs.writeFileSync(path.join(src, "ro", "y"), "no\n");
      fs.mkdirSync(path.join(src, "ro", "made"));
      fs.writeFileSync(path.join(src, "ro", "made", "z"), "no\n");
      const r = t.capsa(["cp", src, "cpm-cross:/"]);
      assert.notEqual(r.status, 0, "a write into the read-only bind below was not refused");
      assert.match(r.stderr, /read-only/);
      assert.deepEqual(fs.readdirSync(ro).filter((n) => n !== "rw"), [], "nothing made in the read-only bind's source");
      // A writable volume mounted inside the read-only bind still takes files.
      ok(t.capsa(["cp", path.join(src, "top"), "cpm-cross:/srv/ro/rw/"]));
      assert.equal(ok(t.capsa(["run", "--rm", "-v", "cpm-vol-x:/v", "bb:1", "cat", "/v/top"])), "top\n");
    } finally {
      t.capsa(["rm", "-f", "cpm-cross"]);
    }
  });

  void it("a read-only bind refuses a write with a clear error and leaves the source alone", () => {
    const t = root();
    const ro = path.join(work, "bind-ro");
    fs.mkdirSync(ro);
    ok(t.capsa(["create", "--name", "cpm-ro", "-v", `${ro}:/ro:ro`, "bb:1", "sh"]));
    fs.writeFileSync(path.join(work, "ro-in"), "nope\n");
    const r = t.capsa(["cp", path.join(work, "ro-in"), "cpm-ro:/ro/"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /mounted volume is marked read-only/);
    assert.deepEqual(fs.readdirSync(ro), []);
  });

  void it("a read-only root file system refuses a write but its writable volume takes one", () => {
    const t = root();
    ok(t.capsa(["volume", "create", "cpm-vol-rofs"]));
    ok(t.capsa(["create", "--name", "cpm-rofs", "--read-only", "-v", "cpm-vol-rofs:/vol", "bb:1", "sh"]));
    try {
      fs.writeFileSync(path.join(work, "rofs-in"), "x\n");
      const r = t.capsa(["cp", path.join(work, "rofs-in"), "cpm-rofs:/tmp/"]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /container rootfs is marked read-only/);
      ok(t.capsa(["cp", path.join(work, "rofs-in"), "cpm-rofs:/vol/"]));
      assert.equal(ok(t.capsa(["run", "--rm", "-v", "cpm-vol-rofs:/v", "bb:1", "cat", "/v/rofs-in"])), "x\n");
    } finally {
      t.capsa(["rm", "-f", "cpm-rofs"]);
    }
  });

  void it("a symlink inside a volume pointing to / resolves in the container's view, never the host's /", () => {
    const t = root();
    ok(t.capsa(["volume", "create", "cpm-vol-l"]));
    ok(t.capsa(["run", "--name", "cpm-link", "-v", "cpm-vol-l:/vol", "bb:1", "sh", "-c", "echo in the container > /only-in-container; ln -s / /vol/up; ln -s ../../.. /vol/dots"]));
    assert.ok(!fs.existsSync("/only-in-container"), "canary: the host has no such file");
    ok(t.capsa(["cp", "cpm-link:/vol/up/only-in-container", path.join(work, "l1")]));
    assert.equal(fs.readFileSync(path.join(work, "l1"), "utf8"), "in the container\n");
    ok(t.capsa(["cp", "cpm-link:/vol/dots/only-in-container", path.join(work, "l2")]));
    assert.equal(fs.readFileSync(path.join(work, "l2"), "utf8"), "in the container\n");
    // Writing through the link lands in the container's /tmp, not the host's.
    const name = `cpm-canary-${process.pid}`;
    fs.writeFileSync(path.join(work, name), "through the link\n");
    ok(t.capsa(["cp", path.join(work, name), "cpm-link:/vol/up/tmp/"]));
    assert.ok(!fs.existsSync(path.join("/tmp", name)), "nothing written to the host's /tmp");
    ok(t.capsa(["cp", `cpm-link:/tmp/${name}`, path.join(work, "l3")]));
    assert.equal(fs.readFileSync(path.join(work, "l3"), "utf8"), "through the link\n");
  });

  void it("cp out of a VM-level container is refused, as cp in is (its files are on the VM's disk)", () => {
    const t = root();
    const made = t.capsa(["create", "--isolation", "vm", "--name", "cpm-vm", "bb:1", "sh"]);
    try {
      assert.equal(made.status, 0, made.stderr);
      fs.writeFileSync(path.join(work, "vm-in"), "x\n");
      for (const args of [["cpm-vm:/etc/passwd", path.join(work, "vm-out")], [path.join(work, "vm-in"), "cpm-vm:/tmp/"]]) {
        const r = t.capsa(["cp", ...args]);
        assert.notEqual(r.status, 0, `cp ${args.join(" ")} was not refused`);
        assert.match(r.stderr, /cp is not supported for cpm-vm: it runs as a VM/);
      }
      assert.ok(!fs.existsSync(path.join(work, "vm-out")));
    } finally {
      t.capsa(["rm", "-f", "cpm-vm"]);
    }
  });

  void it("commit --change applies every instruction docker accepts to the new image's config", () => {
    const t = root();
    ok(t.capsa(["create", "--name", "cpm-changes", "bb:1", "sh"]));
    try {
      const changes = ['ENTRYPOINT ["/bin/sh","-c"]', "EXPOSE 80", "WORKDIR /x", "LABEL k=v", "USER nobody", "VOLUME /data", "STOPSIGNAL SIGINT", 'CMD ["echo hi"]'];
      ok(t.capsa(["commit", ...changes.flatMap((c) => ["-c", c]), "cpm-changes", "cpm-img:2"]));
      const [img] = JSON.parse(ok(t.capsa(["image", "inspect", "cpm-img:2"]))) as { Config: Record<string, unknown> }[];
      const c = img!.Config;
      assert.deepEqual(c.Entrypoint, ["/bin/sh", "-c"]);
      assert.deepEqual(c.Cmd, ["echo hi"]);
      assert.deepEqual(c.ExposedPorts, { "80/tcp": {} });
      assert.equal(c.WorkingDir, "/x");
      assert.deepEqual(c.Labels, { k: "v" });
      assert.equal(c.User, "nobody");
      assert.deepEqual(c.Volumes, { "/data": {} });
      assert.equal(c.StopSignal, "SIGINT");
      const bad = t.capsa(["commit", "-c", "FROM x", "cpm-changes", "cpm-img:3"]);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /FROM is not a valid change command/);
    } finally {
      t.capsa(["rm", "-f", "cpm-changes"]);
    }
  });

  void it("commit of a stopped container applies --change CMD and ENV; the new image runs with them", () => {
    const t = root();
    ok(t.capsa(["run", "--name", "cpm-commit", "bb:1", "sh", "-c", "echo kept > /kept"]));
    try {
      ok(t.capsa(["commit", "--change", 'CMD ["echo","hi"]', "--change", "ENV A=b", "cpm-commit", "cpm-img:1"]));
      assert.equal(ok(t.capsa(["run", "--rm", "cpm-img:1"])), "hi\n");
      assert.equal(ok(t.capsa(["run", "--rm", "cpm-img:1", "sh", "-c", "echo $A; cat /kept"])), "b\nkept\n");
      const state = JSON.parse(ok(t.capsa(["inspect", "cpm-commit"]))) as { State: { Status: string } }[];
      assert.equal(state[0]!.State.Status, "exited");
    } finally {
      t.capsa(["rm", "-f", "cpm-commit"]);
    }
  });
});

void describe("docker CLI: cp on volumes, commit with changes", () => {
  let s: Service;
  let tmp: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-cpmounts-api-"));
    s = await startService("cpmapi");
    s.dockerOk(["import", busyboxRootfsTar(), "bb:1"]);
  });
  after(async () => {
    await s?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  void it("docker cp to and from a volume path, running and stopped", () => {
    s.dockerOk(["volume", "create", "dcp-vol"]);
    s.dockerOk(["run", "-d", "--name", "dcp", "-v", "dcp-vol:/vol", "bb:1", "sleep", "600"]);
    fs.writeFileSync(path.join(tmp, "a.txt"), "via docker\n");
    s.dockerOk(["cp", path.join(tmp, "a.txt"), "dcp:/vol/a.txt"]);
    assert.equal(s.dockerOk(["exec", "dcp", "cat", "/vol/a.txt"]), "via docker\n");
    s.dockerOk(["cp", "dcp:/vol/a.txt", path.join(tmp, "back.txt")]);
    assert.equal(fs.readFileSync(path.join(tmp, "back.txt"), "utf8"), "via docker\n");
    s.dockerOk(["stop", "-t", "1", "dcp"]);
    s.dockerOk(["cp", "dcp:/vol/a.txt", path.join(tmp, "back2.txt")]);
    assert.equal(fs.readFileSync(path.join(tmp, "back2.txt"), "utf8"), "via docker\n");
    s.dockerOk(["cp", path.join(tmp, "a.txt"), "dcp:/vol/b.txt"]);
    assert.equal(s.dockerOk(["run", "--rm", "-v", "dcp-vol:/v", "bb:1", "cat", "/v/b.txt"]), "via docker\n");
    s.dockerOk(["rm", "-f", "dcp"]);
  });

  void it("docker cp into a read-only volume is refused with docker's message", () => {
    s.dockerOk(["volume", "create", "dcp-ro"]);
    s.dockerOk(["create", "--name", "dcp-ro", "-v", "dcp-ro:/ro:ro", "bb:1", "sh"]);
    fs.writeFileSync(path.join(tmp, "ro.txt"), "x\n");
    const r = s.docker(["cp", path.join(tmp, "ro.txt"), "dcp-ro:/ro/"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /mounted volume is marked read-only/);
    s.dockerOk(["rm", "-f", "dcp-ro"]);
  });

  void it("docker commit of a stopped container with --change", () => {
    s.dockerOk(["run", "--name", "dcommit", "bb:1", "true"]);
    s.dockerOk(["commit", "--change", 'CMD ["echo","hi"]', "--change", "ENV A=b", "dcommit", "dcommit-img:1"]);
    assert.equal(s.dockerOk(["run", "--rm", "dcommit-img:1"]), "hi\n");
    assert.equal(s.dockerOk(["run", "--rm", "dcommit-img:1", "sh", "-c", "echo $A"]), "b\n");
    s.dockerOk(["rm", "-f", "dcommit"]);
  });

  void it("POST /commit applies the body's config under the changes, keeping the container's other settings", async () => {
    s.dockerOk(["run", "--name", "bcommit", "-e", "FROM_RUN=1", "bb:1", "true"]);
    const body = JSON.stringify({ Cmd: ["sh", "-c", "echo $B $FROM_RUN $W"], Env: ["B=from-body"], Hostname: "", Entrypoint: null, Labels: { k: "v" } });
    const r = await s.request("POST", `/commit?container=bcommit&repo=bcommit-img&tag=1&changes=${encodeURIComponent("ENV W=changed")}`, body);
    assert.equal(r.status, 201, r.body);
    assert.equal(s.dockerOk(["run", "--rm", "bcommit-img:1"]), "from-body 1 changed\n");
    assert.match(s.dockerOk(["image", "inspect", "-f", "{{json .Config.Labels}}", "bcommit-img:1"]), /"k":"v"/);
    s.dockerOk(["rm", "-f", "bcommit"]);
  });
});
