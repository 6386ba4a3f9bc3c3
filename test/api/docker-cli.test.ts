// The real docker CLI (28.x, on the PATH) against `capsa system service` on a
// private socket and state root: runc, conmon and overlay underneath.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { busyboxRootfsTar } from "../helpers.ts";
import { startService, type Service } from "./service.ts";

void describe("docker CLI against capsa system service", () => {
  let s: Service;
  let tmp: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-api-"));
    s = await startService("api");
  });
  after(async () => {
    await s?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const ok = (args: string[], opts?: { input?: string | Buffer }): string => {
    const r = s.docker(args, opts);
    assert.equal(r.status, 0, `docker ${args.join(" ")}: ${r.stderr}\n--- service log ---\n${s.log().slice(-3000)}`);
    return r.stdout;
  };

  void it("the unix socket is root's, mode 0660", () => {
    const st = fs.statSync(s.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 0);
  });

  void it("docker version negotiates down to capsa's API version", () => {
    assert.equal(ok(["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}} {{.Server.MinAPIVersion}}"]).trim(), "1.43 linux 1.24");
  });

  void it("ping carries the negotiation headers; versions out of range get docker's words", async () => {
    const ping = await s.request("HEAD", "/_ping");
    assert.equal(ping.status, 200);
    assert.equal(ping.headers["api-version"], "1.43");
    assert.equal(ping.headers["ostype"], "linux");
    assert.equal(ping.headers["docker-experimental"], "false");
    assert.equal(ping.headers["builder-version"], "1");
    const tooNew = await s.request("GET", "/v1.99/version");
    assert.equal(tooNew.status, 400);
    assert.match(tooNew.body, /client version 1\.99 is too new\. Maximum supported API version is 1\.51/);
    const tooOld = await s.request("GET", "/v1.12/version");
    assert.match(tooOld.body, /client version 1\.12 is too old\. Minimum supported API version is 1\.24/);
    assert.equal((await s.request("GET", "/v1.24/containers/json")).status, 200);
    assert.equal((await s.request("GET", "/containers/json")).status, 200);
  });

  void it("docker import, save, rmi and load round-trip an image", () => {
    const id = ok(["import", busyboxRootfsTar(), "bb:1"]).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const archive = path.join(tmp, "bb.tar");
    ok(["save", "-o", archive, "bb:1"]);
    assert.ok(fs.statSync(archive).size > 1_000_000);
    assert.match(ok(["rmi", "bb:1"]), /Untagged: bb:1/);
    assert.match(ok(["load", "-i", archive]), /Loaded image: bb:1/);
    assert.equal(ok(["image", "inspect", "-f", "{{.Id}} {{.Os}} {{.RootFS.Type}} {{index .RepoTags 0}}", "bb:1"]).trim(), `${id} linux layers bb:1`);
  });

  void it("docker run --rm prints the output and exits with the workload's code", () => {
    const hi = s.docker(["run", "--rm", "bb:1", "echo", "hi"]);
    assert.equal(hi.stdout, "hi\n");
    assert.equal(hi.status, 0, hi.stderr);
    const three = s.docker(["run", "--rm", "bb:1", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(three.stdout, "out\n");
    assert.equal(three.stderr, "err\n");
    assert.equal(three.status, 3);
    assert.equal(ok(["ps", "-aq"]), "", "--rm removed the containers");
  });

  void it("docker run --isolation vm and sandbox: the same image on the guest's kernel, through the API", () => {
    const vm = s.docker(["run", "--rm", "--isolation", "vm", "bb:1", "sh", "-c", "uname -r; exit 4"], { timeoutMs: 120_000 });
    assert.equal(vm.status, 4, vm.stderr);
    assert.notEqual(vm.stdout.trim(), os.release());
    const sandbox = s.docker(["run", "--rm", "--isolation", "sandbox", "bb:1", "uname", "-r"]);
    assert.equal(sandbox.status, 0, sandbox.stderr);
    assert.equal(sandbox.stdout.trim(), "4.4.0", "gVisor's kernel");
    assert.equal(ok(["ps", "-aq"]), "");
  });

  void it("docker run of a missing command exits 127, and --rm still removes the container", () => {
    const r = s.docker(["run", "--rm", "bb:1", "no-such-cmd"]);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /executable file not found/);
    assert.equal(ok(["ps", "-aq"]), "");
  });

  void it("short-lived --rm containers report their own exit codes", () => {
    for (const code of [0, 1, 7]) assert.equal(s.docker(["run", "--rm", "bb:1", "sh", "-c", `exit ${code}`]).status, code);
  });

  void it("docker run -i passes stdin and closes it at its end", () => {
    assert.equal(ok(["run", "--rm", "-i", "bb:1", "sh", "-c", "cat; echo done"], { input: "piped\n" }), "piped\ndone\n");
  });

  void it("detached lifecycle: run -d, ps, logs, exec, inspect, top, stop, rm", () => {
    const id = ok(["run", "-d", "--name", "web", "-e", "GREETING=hello", "bb:1", "sh", "-c", "echo started; echo warn >&2; exec sleep 120"]).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(ok(["ps", "--format", "{{.ID}} {{.Names}} {{.State}}"]), `${id.slice(0, 12)} web running\n`);
    const logs = s.docker(["logs", "web"]);
    assert.equal(logs.stdout, "started\n");
    assert.equal(logs.stderr, "warn\n");
    assert.match(ok(["logs", "-t", "--tail", "2", "web"]), /^\d{4}-\d\d-\d\dT[\d:.]+Z started\n$/);
    assert.equal(ok(["exec", "web", "sh", "-c", "echo $GREETING from exec"]), "hello from exec\n");
    const failing = s.docker(["exec", "web", "sh", "-c", "exit 4"]);
    assert.equal(failing.status, 4);
    assert.equal(ok(["exec", "-i", "web", "cat"], { input: "via stdin\n" }), "via stdin\n");
    assert.equal(ok(["inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.Name}} {{.Config.Image}} {{.Id}}", "web"]).trim(), `running true /web bb:1 ${id}`);
    const inspected = JSON.parse(ok(["container", "inspect", "web"])) as { State: { Pid: number }; HostConfig: object; Mounts: unknown[]; NetworkSettings: object }[];
    assert.ok(inspected[0]!.State.Pid > 0);
    assert.ok(Array.isArray(inspected[0]!.Mounts));
    assert.match(ok(["top", "web"]), /sleep 120/);
    assert.equal(ok(["stop", "-t", "1", "web"]), "web\n");
    assert.equal(ok(["inspect", "-f", "{{.State.Status}}", "web"]).trim(), "exited");
    assert.equal(ok(["rm", "web"]), "web\n");
    assert.equal(ok(["ps", "-aq"]), "");
  });

  void it("docker exec -it runs a shell on a terminal", (tt) => {
    if (spawnSync("script", ["--version"]).status !== 0) return tt.skip("util-linux script is missing");
    ok(["run", "-d", "--name", "tty", "bb:1", "sleep", "120"]);
    const r = spawnSync("script", ["-qec", "docker exec -it tty sh", "/dev/null"], { env: s.env, input: "tty; echo tty-ok; exit 5\n", encoding: "utf8", timeout: 60_000 });
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /tty-ok/);
    assert.equal(r.status, 5);
    ok(["rm", "-f", "tty"]);
  });

  void it("docker cp copies both ways", () => {
    ok(["run", "-d", "--name", "files", "bb:1", "sleep", "120"]);
    const src = path.join(tmp, "hello.txt");
    fs.writeFileSync(src, "hello from the host\n");
    ok(["cp", src, "files:/tmp/"]);
    assert.equal(ok(["exec", "files", "cat", "/tmp/hello.txt"]), "hello from the host\n");
    ok(["exec", "files", "sh", "-c", "mkdir -p /data/sub && echo inner > /data/sub/f"]);
    const dest = path.join(tmp, "out");
    fs.mkdirSync(dest);
    ok(["cp", "files:/data", dest]);
    assert.equal(fs.readFileSync(path.join(dest, "data", "sub", "f"), "utf8"), "inner\n");
    ok(["cp", "files:/etc/passwd", path.join(tmp, "passwd")]);
    assert.match(fs.readFileSync(path.join(tmp, "passwd"), "utf8"), /^root:x:0:0:/);
    const missing = s.docker(["cp", "files:/nope", tmp]);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /Could not find the file \/nope/);
  });

  void it("docker stats --no-stream reports a running container", () => {
    const out = ok(["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "files"]);
    assert.match(out, /^files \d+\n$/);
    ok(["rm", "-f", "files"]);
  });

  void it("docker images, tag and rmi", () => {
    ok(["tag", "bb:1", "bb:two"]);
    const listed = ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]).split("\n").filter(Boolean).sort();
    assert.deepEqual(listed, ["bb:1", "bb:two"]);
    assert.match(ok(["rmi", "bb:two"]), /Untagged: bb:two/);
    assert.match(s.docker(["rmi", "nosuch:1"]).stderr, /No such image: nosuch:1/);
  });

  void it("docker volume create, ls, inspect, rm", () => {
    assert.equal(ok(["volume", "create", "--label", "k=v", "vol1"]), "vol1\n");
    assert.match(ok(["volume", "ls", "--format", "{{.Name}} {{.Driver}}"]), /^vol1 local$/m);
    assert.equal(ok(["volume", "inspect", "-f", "{{.Labels.k}}", "vol1"]).trim(), "v");
    assert.equal(ok(["run", "--rm", "-v", "vol1:/data", "bb:1", "sh", "-c", "echo kept > /data/f && cat /data/f"]), "kept\n");
    assert.equal(ok(["volume", "rm", "vol1"]), "vol1\n");
  });

  void it("a missing container is docker's 404: exit 1, No such container", () => {
    const r = s.docker(["logs", "nosuch"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), "Error response from daemon: No such container: nosuch");
    const i = s.docker(["inspect", "nosuch"]);
    assert.equal(i.status, 1);
    assert.match(i.stderr, /No such object: nosuch/);
  });

  void it("start of a running container and stop of a stopped one are 304s (success for the CLI)", () => {
    ok(["run", "-d", "--name", "twice", "bb:1", "sleep", "120"]);
    assert.equal(ok(["start", "twice"]), "twice\n");
    ok(["stop", "-t", "1", "twice"]);
    assert.equal(ok(["stop", "twice"]), "twice\n");
    ok(["rm", "twice"]);
  });

  void it("a container made by the capsa CLI shows in docker ps, and the reverse", () => {
    const r = s.t.capsa(["run", "-d", "--name", "from-capsa", "bb:1", "sleep", "120"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(ok(["ps", "--format", "{{.Names}}"]), /^from-capsa$/m);
    ok(["run", "-d", "--name", "from-docker", "bb:1", "sleep", "120"]);
    assert.match(s.t.capsa(["ps", "--format", "{{.Names}}"]).stdout, /^from-docker$/m);
    ok(["rm", "-f", "from-capsa", "from-docker"]);
  });

  void it("events replays what the service did (since/until)", () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    ok(["run", "--rm", "--name", "evt", "bb:1", "true"]);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const out = ok(["events", "--since", String(since), "--until", String(until), "--filter", "container=evt", "--format", "{{.Action}}"]);
    const actions = out.split("\n").filter(Boolean);
    for (const a of ["create", "start", "die", "destroy"]) assert.ok(actions.includes(a), `${a} in ${actions.join(",")}`);
  });

  void it("docker logs -f follows until the container exits", () => {
    ok(["run", "-d", "--name", "follow", "bb:1", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done"]);
    assert.equal(ok(["logs", "-f", "follow"]), "line1\nline2\nline3\n");
    assert.equal(ok(["wait", "follow"]), "0\n");
    ok(["rm", "follow"]);
  });

  void it("wait conditions: removed and next-exit wait for the next start, by this service or the capsa CLI; a --rm container's code outlives it", async () => {
    const created = ok(["create", "--rm", "--name", "waited", "bb:1", "sh", "-c", "sleep 0.2; exit 7"]).trim();
    // As docker run --rm: the wait comes before the start.
    const removed = s.request("POST", "/containers/waited/wait?condition=removed");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await s.request("POST", "/containers/waited/start")).status, 204);
    assert.deepEqual(JSON.parse((await removed).body), { StatusCode: 7 });
    assert.equal(s.docker(["inspect", "waited"]).status, 1, "removed");
    // Gone, but its code is kept a while, by name and by id.
    assert.deepEqual(JSON.parse((await s.request("POST", "/containers/waited/wait")).body), { StatusCode: 7 });
    assert.deepEqual(JSON.parse((await s.request("POST", `/containers/${created}/wait`)).body), { StatusCode: 7 });
    assert.equal((await s.request("POST", "/containers/never-was/wait")).status, 404);

    ok(["create", "--name", "next", "bb:1", "sh", "-c", "exit 4"]);
    const next = s.request("POST", "/containers/next/wait?condition=next-exit");
    await new Promise((r) => setTimeout(r, 300));
    const started = s.t.capsa(["start", "next"]);
    assert.equal(started.status, 0, started.stderr);
    assert.deepEqual(JSON.parse((await next).body), { StatusCode: 4 });
    assert.deepEqual(JSON.parse((await s.request("POST", "/containers/next/wait?condition=not-running")).body), { StatusCode: 4 });
    ok(["rm", "next"]);
  });

  void it("docker events streams while it runs", async () => {
    const { spawn } = await import("node:child_process");
    const ev = spawn("docker", ["events", "--filter", "container=live", "--format", "{{.Action}}"], { env: s.env });
    let out = "";
    ev.stdout.on("data", (d: Buffer) => (out += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 500));
      ok(["run", "--rm", "--name", "live", "bb:1", "true"]);
      const deadline = Date.now() + 10_000;
      while (!out.includes("destroy") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.match(out, /create\nstart\n(.*\n)*die\n(.*\n)*destroy\n/);
    } finally {
      ev.kill();
    }
  });

  void it("docker events shows what the capsa CLI did (live and replayed), with docker's attributes", async () => {
    const { spawn } = await import("node:child_process");
    const since = Math.floor(Date.now() / 1000) - 1;
    const ev = spawn("docker", ["events", "--filter", "container=from-cli", "--format", "{{.Type}} {{.Action}} {{index .Actor.Attributes \"name\"}} {{index .Actor.Attributes \"exitCode\"}}"], { env: s.env });
    let out = "";
    ev.stdout.on("data", (d: Buffer) => (out += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 500));
      const cli = (args: string[]): void => {
        const r = s.t.capsa(args);
        assert.equal(r.status, 0, `capsa ${args.join(" ")}: ${r.stderr}`);
      };
      cli(["volume", "create", "cli-vol"]);
      cli(["run", "-d", "--name", "from-cli", "-v", "cli-vol:/data", "bb:1", "sh", "-c", "sleep 0.3; exit 5"]);
      // Nobody waits for it: conmon's exit command records the exit.
      const deadline = Date.now() + 15_000;
      while (!out.includes("die") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      cli(["rm", "from-cli"]);
      cli(["volume", "rm", "cli-vol"]);
      while (!out.includes("destroy") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const lines = out.split("\n").filter(Boolean);
      assert.deepEqual(
        lines.map((l) => l.trim()),
        ["container create from-cli", "container start from-cli", "container die from-cli 5", "container destroy from-cli"],
      );
    } finally {
      ev.kill();
    }
    const until = Math.ceil(Date.now() / 1000) + 1;
    const replay = ok(["events", "--since", String(since), "--until", String(until), "--filter", "container=from-cli", "--format", "{{.Action}}"]);
    assert.deepEqual(replay.split("\n").filter(Boolean), ["create", "start", "die", "destroy"]);
    const volumes = ok(["events", "--since", String(since), "--until", String(until), "--filter", "volume=cli-vol", "--format", "{{.Type}} {{.Action}}"]);
    assert.deepEqual(volumes.split("\n").filter(Boolean), ["volume create", "volume destroy"]);
  });

  void it("docker build (classic builder) and docker network through the API", async () => {
    const ctx = path.join(tmp, "ctx");
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, "Dockerfile"), 'FROM bb:1\nRUN echo built > /built.txt\nCMD ["cat", "/built.txt"]\n');
    const b = s.docker(["build", "-t", "app:1", ctx], { timeoutMs: 300_000 });
    assert.equal(b.status, 0, `${b.stderr}\n${s.log().slice(-2000)}`);
    assert.match(b.stdout, /Successfully tagged app:1/);
    assert.equal(ok(["run", "--rm", "app:1"]), "built\n");
    // app:1 is bb:1's layer plus one: bb:1's whole layer is shared (the build's intermediate image may share app's too).
    const df = JSON.parse((await s.request("GET", "/system/df")).body) as { Images: { RepoTags: string[]; Size: number; SharedSize: number }[] };
    const sizeOf = (tag: string) => df.Images.find((i) => i.RepoTags.includes(tag));
    const bb = sizeOf("bb:1");
    const app = sizeOf("app:1");
    assert.ok(bb && app && bb.SharedSize > 1_000_000, JSON.stringify(df.Images));
    assert.ok(app.SharedSize >= bb.SharedSize && app.SharedSize <= app.Size, JSON.stringify(df.Images));
    assert.match(ok(["system", "df", "-v"]), /SHARED SIZE/);
    ok(["network", "create", "--subnet", "10.213.91.0/24", "apitest-net"]);
    assert.match(ok(["network", "ls", "--format", "{{.Name}}"]), /^apitest-net$/m);
    assert.match(ok(["run", "--rm", "--network", "apitest-net", "bb:1", "sh", "-c", "ip -4 addr show eth0"]), /inet 10\.213\.91\.\d+\/24/);
    assert.equal(ok(["network", "rm", "apitest-net"]), "apitest-net\n");
    ok(["rmi", "app:1"]);
  });

  void it("swarm endpoints answer as a node outside a swarm", () => {
    const r = s.docker(["service", "ls"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /This node is not a swarm manager/);
  });

  void it("malformed JSON is a 400, and the service keeps serving", async () => {
    const bad = await s.request("POST", "/containers/create", "{not json");
    assert.equal(bad.status, 400);
    assert.match((JSON.parse(bad.body) as { message: string }).message, /invalid JSON/);
    const noImage = await s.request("POST", "/containers/create", "{}");
    assert.equal(noImage.status, 400);
    assert.equal((await s.request("GET", "/_ping")).body, "OK");
  });
});
