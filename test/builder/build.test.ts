// capsa build through the real CLI on a busybox image: multi-stage into
// scratch, the layer cache (which steps ran), .dockerignore, escapes out of the
// context, errors that point at the line, the resulting config, and a
// round trip of the built image through podman.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CLI, importBusybox, makeTestRoot, podmanEnv, type TestRoot } from "../helpers.ts";

let t: TestRoot;
let work: string;
before(() => {
  t = makeTestRoot("build");
  importBusybox(t, "busybox:latest");
  work = fs.mkdtempSync(path.join(t.root, "..", path.basename(t.root) + "-ctx-"));
});
after(() => {
  t.cleanup();
  fs.rmSync(work, { recursive: true, force: true });
});

type R = { status: number | null; stderr: string; stdout: string };
const ok = (r: R): string => {
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  return r.stdout;
};

/** A fresh context dir with these files ("name" → content; a trailing "/" makes a directory). */
function context(name: string, files: Record<string, string>): string {
  const dir = path.join(work, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, body] of Object.entries(files)) {
    const p = path.join(dir, f);
    if (f.endsWith("/")) fs.mkdirSync(p, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, body);
    }
  }
  return dir;
}

const build = (args: string[], opts: { input?: string | Buffer } = {}): R => t.capsa(["build", ...args], { timeoutMs: 180_000, ...opts });
const inspect = (ref: string): { Id: string; Config: Record<string, unknown>; RootFS: { Layers: string[] } } =>
  (JSON.parse(ok(t.capsa(["image", "inspect", ref]))) as { Id: string; Config: Record<string, unknown>; RootFS: { Layers: string[] } }[])[0]!;

/** Which step numbers ran and which came from the cache, from docker's classic output. */
function steps(out: string): { ran: number[]; cached: number[] } {
  const ran: number[] = [];
  const cached: number[] = [];
  let step = 0;
  for (const line of out.split("\n")) {
    const m = /^Step (\d+)\/\d+ : /.exec(line);
    if (m) step = Number(m[1]);
    else if (line === " ---> Using cache") cached.push(step);
    else if (line.startsWith(" ---> Running in ")) ran.push(step);
  }
  return { ran, cached };
}

const MULTI = `# a generated "program" in one stage, copied into scratch
FROM busybox AS compile
ARG GREETING=hello
WORKDIR /src
COPY gen.sh .
RUN sh gen.sh "$GREETING" > /src/app && chmod 0755 /src/app

FROM scratch
COPY --from=compile /bin/busybox /bin/busybox
COPY --from=compile /src/app /app
ENTRYPOINT ["/bin/busybox", "sh", "/app"]
`;
const GEN = 'printf \'echo "%s from a built program"\\n\' "$1"\n';

void describe("capsa build", () => {
  void it("builds a multi-stage image into scratch that runs", () => {
    const dir = context("multi", { Containerfile: MULTI, "gen.sh": GEN });
    const out = ok(build(["-t", "multi:1", "--build-arg", "GREETING=hi", dir]));
    assert.match(out, /^Step 1\/9 : FROM busybox AS compile$/m);
    assert.match(out, /Successfully tagged multi:1/);
    const run = ok(t.capsa(["run", "--rm", "multi:1"]));
    assert.equal(run, "hi from a built program\n");
    const img = inspect("multi:1");
    assert.equal(img.RootFS.Layers.length, 2, "scratch + two COPY layers");
    // Only the final stage is the image: nothing of busybox's rootfs but /bin/busybox.
    const ls = t.capsa(["run", "--rm", "--entrypoint", "/bin/busybox", "multi:1", "ls", "/"]);
    assert.deepEqual(ok(ls).trim().split(/\s+/).sort(), ["app", "bin", "dev", "etc", "proc", "sys"].filter((d) => ok(ls).includes(d)).sort());
  });

  void it("reuses cached steps and reruns from a changed COPY input on", () => {
    const dir = context("cache", {
      Containerfile: "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nENV X=1\n",
      "a.txt": "first\n",
    });
    const cold = steps(ok(build(["-t", "cache:1", dir])));
    assert.deepEqual(cold, { ran: [2, 4], cached: [] });
    const warm = ok(build(["-t", "cache:1", dir]));
    assert.deepEqual(steps(warm), { ran: [], cached: [2, 3, 4, 5] });
    const id1 = inspect("cache:1").Id;
    // Touching a file keeps the cache (content, not mtime, is hashed).
    fs.utimesSync(path.join(dir, "a.txt"), new Date(), new Date(Date.now() + 5000));
    assert.deepEqual(steps(ok(build(["-t", "cache:1", dir]))), { ran: [], cached: [2, 3, 4, 5] });
    assert.equal(inspect("cache:1").Id, id1, "an unchanged rebuild gives the same image");
    fs.writeFileSync(path.join(dir, "a.txt"), "second\n");
    assert.deepEqual(steps(ok(build(["-t", "cache:1", dir]))), { ran: [4], cached: [2] });
    assert.equal(ok(t.capsa(["run", "--rm", "cache:1", "cat", "/copy"])), "second\n");
    // --no-cache runs everything again.
    assert.deepEqual(steps(ok(build(["--no-cache", "-t", "cache:2", dir]))).ran, [2, 4]);
  });

  void it("counts what a RUN reads through a context bind mount in its cache key", () => {
    const dir = context("bindcache", { Containerfile: "FROM busybox\nRUN --mount=type=bind,source=m.txt,target=/m cat /m > /out\n", "m.txt": "v1\n" });
    assert.deepEqual(steps(ok(build(["-t", "bind:1", dir]))).ran, [2]);
    assert.deepEqual(steps(ok(build(["-t", "bind:1", dir]))).cached, [2]);
    fs.writeFileSync(path.join(dir, "m.txt"), "v2\n");
    assert.deepEqual(steps(ok(build(["-t", "bind:1", dir]))).ran, [2]);
    assert.equal(ok(t.capsa(["run", "--rm", "bind:1", "cat", "/out"])), "v2\n");
    const r = build([context("bindrw", { Containerfile: "FROM busybox\nRUN --mount=type=bind,target=/c,rw touch /c/written\n" })]);
    assert.equal(r.status, 1, "the context stays read-only");
    assert.ok(!fs.existsSync(path.join(work, "bindrw", "written")));
  });

  void it("honours .dockerignore with docker's pattern rules", () => {
    const dir = context("ignore", {
      Containerfile: "FROM busybox\nCOPY . /ctx/\nRUN cd /ctx && find . | sort\n",
      ".dockerignore": "# comment\n*.log\nsecret/\n!keep.log\n**/tmp-*\nContainerfile\n",
      "a.txt": "a",
      "x.log": "x",
      "keep.log": "k",
      "secret/key": "s",
      "sub/tmp-1": "t",
      "sub/ok": "o",
    });
    ok(build(["-t", "ign:1", dir]));
    const listing = ok(t.capsa(["run", "--rm", "ign:1", "find", "/ctx", "-type", "f"])).trim().split("\n").sort();
    assert.deepEqual(listing, ["/ctx/.dockerignore", "/ctx/a.txt", "/ctx/keep.log", "/ctx/sub/ok"]);
    // An ignored file named directly is "not found".
    const direct = context("ignore2", { Containerfile: "FROM busybox\nCOPY x.log /\n", ".dockerignore": "x.log\n", "x.log": "x" });
    const r = build([direct]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Containerfile:2: .*file not found in build context or excluded by \.dockerignore/);
  });

  void it("ADD and COPY of a FIFO in the context copy it as a FIFO without opening it (ADD opened it to look for an archive, and hung)", () => {
    const dir = context("fifo", { Containerfile: "FROM busybox\nADD pipe /p\nCOPY pipe /q\n" });
    assert.equal(spawnSync("mkfifo", [path.join(dir, "pipe")]).status, 0);
    const r = build(["-t", "fifo:1", dir]);
    assert.equal(r.status, 0, r.stderr);
    const ls = t.capsa(["run", "--rm", "fifo:1", "sh", "-c", "[ -p /p ] && [ -p /q ] && echo fifos"]);
    assert.equal(ls.stdout, "fifos\n", ls.stderr);
  });

  void it("refuses a RUN cache mount whose mode, uid or gid is not a number, before the step runs", () => {
    for (const opt of ["mode=rwx", "uid=root", "gid=-1"]) {
      const dir = context(`cachemode-${opt.split("=")[0]}`, { Containerfile: `FROM busybox\nRUN --mount=type=cache,target=/c,id=bad-${opt},${opt} true\n` });
      const r = build(["-t", "cachemode:1", dir]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /Containerfile:2: --mount: invalid (mode|uid|gid)/);
    }
  });

  void it("refuses to copy from outside the context (../, symlinks out)", () => {
    const dir = context("escape", { Containerfile: "FROM busybox\nCOPY ../outside.txt /x\n", "in.txt": "in" });
    fs.writeFileSync(path.join(work, "outside.txt"), "secret");
    let r = build(["-t", "esc:1", dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Containerfile:2: COPY failed: forbidden path outside the build context: \.\.\/outside\.txt/);
    fs.writeFileSync(path.join(dir, "Containerfile"), "FROM busybox\nCOPY link /x\n");
    fs.symlinkSync("/etc/passwd", path.join(dir, "link"));
    r = build(["-t", "esc:1", dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Containerfile:2: COPY failed: forbidden path outside the build context: link/);
    fs.writeFileSync(path.join(dir, "Containerfile"), "FROM busybox\nCOPY dirlink/passwd /x\n");
    fs.symlinkSync("/etc", path.join(dir, "dirlink"));
    r = build(["-t", "esc:1", dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /forbidden path outside the build context/);
    // A symlink inside a copied directory is copied as a link, never followed.
    fs.rmSync(path.join(dir, "link"));
    fs.rmSync(path.join(dir, "dirlink"));
    fs.mkdirSync(path.join(dir, "d"));
    fs.symlinkSync("/etc/shadow", path.join(dir, "d", "l"));
    fs.writeFileSync(path.join(dir, "Containerfile"), "FROM busybox\nCOPY d /d\n");
    ok(build(["-t", "esc:2", dir]));
    assert.equal(ok(t.capsa(["run", "--rm", "esc:2", "readlink", "/d/l"])), "/etc/shadow\n");
    assert.equal(t.capsa(["image", "inspect", "esc:1"]).status, 1, "no image tagged by failed builds");
  });

  void it("reports syntax errors, unknown stages and failing RUNs at their line, and tags nothing", () => {
    const dir = context("errors", { Containerfile: "FROM busybox\nRUN true\nFOO bar\n" });
    let r = build(["-t", "bad:1", dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Containerfile:3: unknown instruction: FOO/);
    fs.writeFileSync(path.join(dir, "Containerfile"), "FROM busybox\nCOPY --from=nowhere /x /x\n");
    r = build(["-t", "bad:1", dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Containerfile:2: .*nowhere/);
    fs.writeFileSync(path.join(dir, "Containerfile"), "FROM busybox\nRUN echo before\nRUN echo failing; false\nRUN echo after\n");
    r = build(["-t", "bad:1", dir]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /before/);
    assert.match(r.stdout, /failing/);
    assert.doesNotMatch(r.stdout, /Step 4\/4/);
    assert.match(r.stderr, /Containerfile:3: The command '\/bin\/sh -c echo failing; false' returned a non-zero code: 1/);
    r = build(["--target", "nope", dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /target stage "nope" could not be found/);
    assert.equal(t.capsa(["image", "inspect", "bad:1"]).status, 1);
    // The failed RUN's container is gone, and no scratch mounts are left.
    assert.equal(ok(t.capsa(["ps", "-aq"])).trim(), "");
    const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(t.root));
    assert.deepEqual(mounts, []);
    assert.deepEqual(fs.readdirSync(path.join(t.root, "tmp")).filter((n) => n.startsWith("build-")), []);
  });

  void it("writes ARG/ENV/WORKDIR/USER/CMD/ENTRYPOINT/LABEL/EXPOSE/VOLUME/STOPSIGNAL/HEALTHCHECK into the config", () => {
    const dir = context("config", {
      Dockerfile: [
        "# escape=`",
        "ARG BASE=busybox",
        "FROM ${BASE}",
        "ARG VERSION=1.0",
        'ENV APP_HOME=/opt/app APP_VERSION=$VERSION `',
        '    GREETING="hello world"',
        "WORKDIR $APP_HOME",
        "WORKDIR sub",
        "LABEL org.example.version=$VERSION other=x",
        "EXPOSE 8080 53/udp",
        "VOLUME /data",
        "USER app",
        "STOPSIGNAL SIGINT",
        "HEALTHCHECK --interval=5s --retries=2 CMD true",
        "SHELL [\"/bin/sh\", \"-ec\"]",
        'ENTRYPOINT ["/bin/sh", "-c"]',
        "CMD echo $GREETING from $(pwd) as $(whoami)",
        "",
      ].join("\n"),
    });
    ok(build(["-t", "cfg:1", "--build-arg", "VERSION=2.5", "--label", "built.by=capsa", "--iidfile", path.join(work, "iid"), dir]));
    const img = inspect("cfg:1");
    assert.equal(fs.readFileSync(path.join(work, "iid"), "utf8"), img.Id);
    const c = img.Config;
    assert.ok((c.Env as string[]).includes("APP_HOME=/opt/app"));
    assert.ok((c.Env as string[]).includes("APP_VERSION=2.5"));
    assert.ok((c.Env as string[]).includes("GREETING=hello world"));
    assert.ok(!(c.Env as string[]).some((e) => e.startsWith("VERSION=")), "ARGs are not kept in the image");
    assert.equal(c.WorkingDir, "/opt/app/sub");
    assert.equal(c.User, "app");
    assert.deepEqual(c.Labels, { "org.example.version": "2.5", other: "x", "built.by": "capsa" });
    assert.deepEqual(Object.keys(c.ExposedPorts as object).sort(), ["53/udp", "8080/tcp"]);
    assert.deepEqual(Object.keys(c.Volumes as object), ["/data"]);
    assert.equal(c.StopSignal, "SIGINT");
    assert.deepEqual((c.Healthcheck as { Test: string[] }).Test, ["CMD-SHELL", "true"]);
    assert.equal((c.Healthcheck as { Interval: number }).Interval, 5e9);
    assert.deepEqual(c.Entrypoint, ["/bin/sh", "-c"]);
    assert.deepEqual(c.Cmd, ["/bin/sh", "-ec", "echo $GREETING from $(pwd) as $(whoami)"]);
    const hist = ok(t.capsa(["history", "--no-trunc", "--format", "{{.CreatedBy}}", "cfg:1"]));
    assert.match(hist, /#\(nop\) {2}ENV APP_HOME=\/opt\/app APP_VERSION=2.5 GREETING=hello world/);
    assert.match(hist, /#\(nop\) {2}USER app/);
  });

  void it("runs exec-form RUN, heredocs, COPY --chown/--chmod, globs and ADD of a local tar", () => {
    const dir = context("copy", {
      Containerfile: [
        "FROM busybox AS files",
        'RUN ["/bin/sh", "-c", "echo exec form > /exec"]',
        "RUN <<EOF",
        "echo line one > /heredoc",
        "echo line two >> /heredoc",
        "EOF",
        "COPY --chown=app:staff --chmod=0640 *.txt /files/",
        "COPY dir /into",
        "ADD bundle.tar /unpacked/",
        "RUN --mount=type=bind,source=dir,target=/mnt/ctx cat /mnt/ctx/x/y > /from-bind",
        "USER app",
        "RUN id -u > /home/app/uid",
        "FROM busybox",
        "ARG WHO=heredoc",
        "COPY <<EOF /greeting",
        'hello from a "$WHO"',
        "EOF",
        "COPY <<'EOF' /raw",
        "not ${WHO}",
        "EOF",
        "COPY --from=0 /from-bind /home/app/uid /stage0/",
        "RUN --mount=type=bind,from=0,source=/exec,target=/e cp /e /exec-via-mount",
        "",
      ].join("\n"),
      "a.txt": "a",
      "b.txt": "b",
      "c.md": "c",
      "dir/x/y": "y",
    });
    spawnSync("tar", ["-C", path.join(dir, "dir"), "-cf", path.join(dir, "bundle.tar"), "x"]);
    ok(build(["-t", "copy:1", dir]));
    const sh = (cmd: string): string => ok(t.capsa(["run", "--rm", "copy:1", "sh", "-c", cmd]));
    assert.equal(build(["--target", "0", dir]).status, 1, "--target takes a stage name, as docker's");
    const sh0 = (cmd: string): string => ok(t.capsa(["run", "--rm", "copy:stage0", "sh", "-c", cmd]));
    assert.doesNotMatch(ok(build(["--target", "files", "-t", "copy:stage0", dir])), /Running in/, "the stage's steps come from the cache");
    assert.equal(sh0("cat /exec"), "exec form\n");
    assert.equal(sh0("cat /heredoc"), "line one\nline two\n");
    assert.equal(sh0("ls /files | sort | tr '\\n' ' '"), "a.txt b.txt ");
    assert.equal(sh0("stat -c '%u:%g %a' /files/a.txt"), "1000:50 640\n");
    assert.equal(sh0("cat /into/x/y"), "y");
    assert.equal(sh0("cat /unpacked/x/y"), "y");
    assert.equal(sh("cat /stage0/from-bind /stage0/uid"), "y1000\n");
    assert.equal(sh("cat /exec-via-mount"), "exec form\n");
    assert.equal(sh("cat /greeting"), 'hello from a "heredoc"\n', "an unquoted delimiter expands variables and keeps quotes");
    assert.equal(sh("cat /raw"), "not ${WHO}\n", "a quoted delimiter expands nothing");
  });

  void it("builds from a Containerfile or a tar context on stdin", () => {
    ok(build(["-t", "stdin:1", "-"], { input: "FROM busybox\nRUN echo from-stdin > /f\n" }));
    assert.equal(ok(t.capsa(["run", "--rm", "stdin:1", "cat", "/f"])), "from-stdin\n");
    const dir = context("tarctx", { Dockerfile: "FROM busybox\nCOPY msg /msg\n", msg: "in a tar\n" });
    const tarball = spawnSync("tar", ["-C", dir, "-cf", "-", "."], { maxBuffer: 1 << 24 }).stdout;
    ok(build(["-t", "stdin:2", "-"], { input: tarball }));
    assert.equal(ok(t.capsa(["run", "--rm", "stdin:2", "cat", "/msg"])), "in a tar\n");
  });

  void it("stops cleanly on Ctrl-C: the RUN container is removed and nothing is tagged", async () => {
    const dir = context("interrupt", { Containerfile: "FROM busybox\nRUN echo run-$((40+2)); sleep 60\n" });
    const child = spawn(CLI, ["build", "-t", "intr:1", dir], { env: t.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const started = new Promise<void>((resolve) => {
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes("run-42")) resolve();
      });
    });
    await started;
    const t0 = Date.now();
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 1, stderr);
    assert.ok(Date.now() - t0 < 30_000, "did not wait for the sleep");
    assert.match(stderr, /build canceled/);
    assert.equal(t.capsa(["image", "inspect", "intr:1"]).status, 1);
    assert.equal(ok(t.capsa(["ps", "-aq"])).trim(), "");
    assert.deepEqual(fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(t.root)), []);
  });

  void it("a later build removes what a killed build (SIGKILL) left running", async () => {
    const dir = context("killed", { Containerfile: "FROM busybox\nRUN echo run-$((40+2)); sleep 120\n" });
    const child = spawn(CLI, ["build", "-t", "killed:1", dir], { env: t.env, stdio: ["ignore", "pipe", "pipe"] });
    await new Promise<void>((resolve) => child.stdout.on("data", (d: Buffer) => d.toString().includes("run-42") && resolve()));
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));
    assert.notEqual(ok(t.capsa(["ps", "-aq"])).trim(), "", "the RUN container outlived the killed CLI");
    const other = context("after-kill", { Containerfile: "FROM busybox\nENV AFTER=1\n" });
    ok(build([other]));
    assert.equal(ok(t.capsa(["ps", "-aq"])).trim(), "");
    assert.equal(t.capsa(["image", "inspect", "killed:1"]).status, 1);
  });

  void it("ADDs a URL (from a loopback server this test starts), keeping RUN --mount=type=cache content between builds", async () => {
    const server = http.createServer((req, res) => {
      if (req.url === "/files/tool.sh") {
        res.writeHead(200, { "Content-Type": "text/plain", "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT" });
        res.end("echo downloaded\n");
      } else if (req.url === "/files/big.bin") {
        // 48 MiB in 1 MiB writes, honouring back-pressure: the builder streams it to its file.
        res.writeHead(200, { "Content-Type": "application/octet-stream" });
        let left = 48;
        const more = (): void => {
          while (left > 0) {
            left--;
            if (!res.write(BIG_CHUNK)) return void res.once("drain", more);
          }
          res.end();
        };
        more();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const dir = context("url", {
        Containerfile: [
          "FROM busybox",
          `ADD http://127.0.0.1:${port}/files/tool.sh /opt/`,
          "RUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /runs",
          "",
        ].join("\n"),
      });
      // RUN --network host so a later RUN could reach the server too; ADD itself fetches from the builder.
      let r = await capsaAsync(["build", "--network", "host", "-t", "url:1", dir]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(ok(t.capsa(["run", "--rm", "url:1", "sh", "-c", "stat -c %a /opt/tool.sh; sh /opt/tool.sh; cat /runs"])), "600\ndownloaded\n1\n");
      r = await capsaAsync(["build", "--no-cache", "-t", "url:2", dir]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(ok(t.capsa(["run", "--rm", "url:2", "cat", "/runs"])), "2\n", "the cache mount kept the first build's line");
      fs.writeFileSync(path.join(dir, "Containerfile"), `FROM busybox\nADD http://127.0.0.1:${port}/missing /x\n`);
      r = await capsaAsync(["build", dir]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /Containerfile:2: ADD failed: .*HTTP 404/);
      // --checksum: the right digest builds (a 48 MiB body, streamed), a wrong one fails the step, a malformed one is refused.
      const bigSha = crypto.createHash("sha256");
      for (let i = 0; i < 48; i++) bigSha.update(BIG_CHUNK);
      const good = `sha256:${bigSha.digest("hex")}`;
      fs.writeFileSync(path.join(dir, "Containerfile"), `FROM busybox\nADD --checksum=${good} http://127.0.0.1:${port}/files/big.bin /big\n`);
      r = await capsaAsync(["build", "-t", "url:big", dir]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(ok(t.capsa(["run", "--rm", "--network", "none", "url:big", "sh", "-c", "stat -c '%s %a' /big"])), `${48 << 20} 600\n`);
      const bad = `sha256:${"0".repeat(64)}`;
      fs.writeFileSync(path.join(dir, "Containerfile"), `FROM busybox\nADD --checksum=${bad} http://127.0.0.1:${port}/files/tool.sh /x\n`);
      r = await capsaAsync(["build", "-t", "url:bad", dir]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`Containerfile:2: ADD failed: .*digest mismatch: expected ${bad}, got sha256:[0-9a-f]{64}`));
      assert.equal(t.capsa(["image", "inspect", "url:bad"]).status, 1);
      fs.writeFileSync(path.join(dir, "Containerfile"), `FROM busybox\nADD --checksum=md5:abc http://127.0.0.1:${port}/files/tool.sh /x\n`);
      r = await capsaAsync(["build", dir]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /Containerfile:2: invalid --checksum "md5:abc"/);
    } finally {
      server.close();
    }
    ok(t.capsa(["builder", "prune", "-f"]));
    assert.deepEqual(fs.readdirSync(path.join(t.root, "build-cache-mounts")), []);
  });

  void it("lists build steps with images -a only", () => {
    const dir = context("steps", { Containerfile: "FROM busybox\nENV A=1\nRUN touch /x\nENV B=2\n" });
    const ids = (all: boolean): string[] => ok(t.capsa(["images", ...(all ? ["-a"] : []), "-q", "--no-trunc"])).split("\n").filter(Boolean);
    const [shown0, all0] = [ids(false), ids(true)];
    const id = ok(build(["-q", "-t", "steps:1", dir])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const [shown, all] = [ids(false), ids(true)];
    assert.deepEqual(shown.filter((i) => !shown0.includes(i)), [id]);
    assert.equal(all.filter((i) => !all0.includes(i)).length, 3, "ENV A and RUN steps, and the image, with -a");
  });

  void it("round-trips the built image through podman (save → podman load → podman run)", { skip: podmanMissing() }, () => {
    const dir = context("podman", { Containerfile: MULTI, "gen.sh": GEN });
    ok(build(["-t", "localhost/multi:podman", dir]));
    // And one built on busybox whose RUN deletes a file (a whiteout in the layer).
    const rdir = context("podman-run", { Containerfile: 'FROM busybox\nRUN rm /bin/vi && echo made > /made\nCMD ["sh", "-c", "cat /made; ls /bin/vi || echo vi-gone"]\n' });
    ok(build(["-t", "localhost/onbusybox:podman", rdir]));
    const archive = path.join(work, "multi.tar");
    ok(t.capsa(["save", "-o", archive, "localhost/multi:podman", "localhost/onbusybox:podman"]));
    // podman refuses a runroot path longer than 50 characters.
    const pdir = fs.mkdtempSync("/tmp/cpb-");
    const { env, args } = podmanEnv(pdir);
    try {
      const load = spawnSync("podman", [...args, "load", "-i", archive], { env, encoding: "utf8", timeout: 120_000 });
      assert.equal(load.status, 0, load.stderr);
      const run = spawnSync("podman", [...args, "run", "--rm", "--runtime", "runc", "--network", "none", "localhost/multi:podman"], { env, encoding: "utf8", timeout: 120_000 });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, "hello from a built program\n");
      const run2 = spawnSync("podman", [...args, "run", "--rm", "--runtime", "runc", "--network", "none", "localhost/onbusybox:podman"], { env, encoding: "utf8", timeout: 120_000 });
      assert.equal(run2.status, 0, run2.stderr);
      assert.equal(run2.stdout, "made\nvi-gone\n");
      const hist = spawnSync("podman", [...args, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "localhost/onbusybox:podman"], { env, encoding: "utf8" });
      assert.match(hist.stdout, /\/bin\/sh -c rm \/bin\/vi && echo made > \/made/);
    } finally {
      spawnSync("podman", [...args, "rmi", "-a", "-f"], { env });
      spawnSync("umount", ["-R", path.join(pdir, "podman-root")]);
      fs.rmSync(pdir, { recursive: true, force: true });
    }
  });
});

/** The CLI without blocking this process (a server in the test must keep answering). */
const BIG_CHUNK = Buffer.alloc(1 << 20, "capsa");

function capsaAsync(args: string[]): Promise<R> {
  return new Promise((resolve) => {
    const child = spawn(CLI, [...args], { env: t.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (status) => resolve({ status, stdout, stderr }));
  });
}

function podmanMissing(): string | false {
  if (spawnSync("sh", ["-c", "command -v podman"]).status !== 0) return "podman is not installed (apt-get install podman)";
  if (spawnSync("sh", ["-c", "command -v runc"]).status !== 0) return "runc is not installed";
  return false;
}

