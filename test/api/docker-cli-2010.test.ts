// Debian's own docker CLI (the docker.io package: client 20.10, API 1.41)
// against `capsa system service` on a private socket and state root. The
// static docker 28 CLI stays first on the PATH for the other tests, so this
// one is called by its absolute path from the package's file list.
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { busyboxRootfsTar } from "../helpers.ts";
import { startService, type Service } from "./service.ts";

/** /usr/bin/docker of the docker.io package, when it is installed and is a 20.10 client. */
function debianDocker(): string | undefined {
  const files = spawnSync("dpkg", ["-L", "docker.io"], { encoding: "utf8" });
  if (files.status !== 0) return undefined;
  const bin = files.stdout.split("\n").find((f) => /\/bin\/docker$/.test(f));
  if (!bin || !fs.existsSync(bin)) return undefined;
  const v = spawnSync(bin, ["version", "--format", "{{.Client.Version}}"], { encoding: "utf8", env: { ...process.env, DOCKER_HOST: "unix:///nonexistent.sock" } });
  return /^20\.10\./.test(v.stdout.trim()) ? bin : undefined;
}

const DOCKER = debianDocker();

void describe("docker CLI 20.10 (Debian's docker.io) against capsa system service", { skip: DOCKER ? false : "the docker.io package (docker CLI 20.10) is not installed" }, () => {
  let s: Service;
  let tmp: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-api2010-"));
    s = await startService("api2010");
  });
  after(async () => {
    await s?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const docker = (args: string[], opts: { input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> =>
    spawnSync(DOCKER!, args, { env: s.env, input: opts.input, encoding: "utf8", timeout: opts.timeoutMs ?? 60_000 });
  const ok = (args: string[], opts?: { input?: string }): string => {
    const r = docker(args, opts);
    assert.equal(r.status, 0, `docker ${args.join(" ")}: ${r.stderr}\n--- service log ---\n${s.log().slice(-3000)}`);
    return r.stdout;
  };

  void it("is the 20.10 client, not the static docker 28 on the PATH", () => {
    assert.equal(ok(["version", "--format", "{{.Client.APIVersion}}"]).trim(), "1.41");
  });

  void it("docker version: the client stays at 1.41, the server reports its own range", () => {
    assert.equal(ok(["version", "--format", "{{.Client.APIVersion}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}} {{.Server.Arch}}"]).trim(), `1.41 1.43 1.24 linux ${os.arch() === "x64" ? "amd64" : os.arch()}`);
    const info = ok(["info", "--format", "{{.OSType}} {{.Driver}} {{.CgroupVersion}}"]).trim();
    assert.match(info, /^linux \S+ [12]$/);
  });

  void it("docker import brings the image in without a registry; image inspect parses", () => {
    const id = ok(["import", busyboxRootfsTar(), "bb:1"]).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(ok(["image", "inspect", "-f", "{{.Id}} {{.Os}} {{.Architecture}} {{.RootFS.Type}} {{index .RepoTags 0}}", "bb:1"]).trim(), `${id} linux ${os.arch() === "x64" ? "amd64" : os.arch()} layers bb:1`);
    assert.deepEqual(ok(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]).trim().split("\n"), [`bb:1 ${id.slice(7, 19)}`]);
  });

  void it("docker run --rm: output on its own streams, the workload's exit code", () => {
    const hi = docker(["run", "--rm", "--pull", "never", "bb:1", "echo", "hi"]);
    assert.equal(hi.status, 0, hi.stderr);
    assert.equal(hi.stdout, "hi\n");
    const three = docker(["run", "--rm", "bb:1", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(three.stdout, "out\n");
    assert.equal(three.stderr, "err\n");
    assert.equal(three.status, 3);
    for (const code of [0, 1, 7]) assert.equal(docker(["run", "--rm", "bb:1", "sh", "-c", `exit ${code}`]).status, code);
    assert.equal(ok(["ps", "-aq"]), "", "--rm removed the containers");
  });

  void it("docker run of a missing command exits 127", () => {
    const r = docker(["run", "--rm", "bb:1", "no-such-cmd"]);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /executable file not found/);
    assert.equal(ok(["ps", "-aq"]), "");
  });

  void it("docker run -i passes stdin and closes it at its end", () => {
    assert.equal(ok(["run", "--rm", "-i", "bb:1", "sh", "-c", "cat; echo done"], { input: "piped\n" }), "piped\ndone\n");
  });

  void it("docker run without --rm, then wait and rm", () => {
    const r = docker(["run", "--name", "kept", "bb:1", "sh", "-c", "echo kept; exit 2"]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, "kept\n");
    assert.equal(ok(["wait", "kept"]), "2\n");
    assert.equal(ok(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "kept"]).trim(), "exited 2");
    assert.equal(ok(["rm", "kept"]), "kept\n");
  });

  void it("detached lifecycle: run -d, ps, logs, exec, inspect, stop, rm", () => {
    const id = ok(["run", "-d", "--name", "web", "-e", "GREETING=hello", "-l", "role=test", "bb:1", "sh", "-c", "echo started; echo warn >&2; exec sleep 120"]).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(ok(["ps", "--format", "{{.ID}} {{.Names}} {{.Image}} {{.Label \"role\"}}"]), `${id.slice(0, 12)} web bb:1 test\n`);
    assert.match(ok(["ps", "--format", "{{.Status}}"]), /^Up /);
    assert.equal(ok(["ps", "--format", "{{.Networks}}"]), "bridge\n", "the list carries NetworkSettings.Networks");
    ok(["exec", "web", "sh", "-c", "head -c 100000 /dev/zero > /tmp/blob"]);
    assert.match(ok(["ps", "--size", "--format", "{{.Size}}"]), /^1\d\d(\.\d+)?kB \(virtual \d(\.\d+)?MB\)\n$/);
    const [rw = "", rootfs = ""] = ok(["inspect", "--size", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "web"]).trim().split(" ");
    assert.ok(Number(rw) >= 100_000 && Number(rootfs) > Number(rw) + 1_000_000, `SizeRw ${rw}, SizeRootFs ${rootfs}`);
    assert.equal(ok(["ps", "-q", "--filter", "label=role=test"]), `${id.slice(0, 12)}\n`);
    assert.equal(ok(["ps", "-q", "--filter", "name=nomatch"]), "");
    const logs = docker(["logs", "web"]);
    assert.equal(logs.stdout, "started\n");
    assert.equal(logs.stderr, "warn\n");
    const tail = docker(["logs", "-t", "--tail", "1", "web"]);
    assert.match(tail.stdout + tail.stderr, /^\d{4}-\d\d-\d\dT[\d:.]+Z (started|warn)\n$/, "one line of the two streams");
    assert.equal(ok(["exec", "web", "sh", "-c", "echo $GREETING from exec"]), "hello from exec\n");
    const failing = docker(["exec", "web", "sh", "-c", "echo e >&2; exit 4"]);
    assert.equal(failing.status, 4);
    assert.equal(failing.stderr, "e\n");
    assert.equal(ok(["exec", "-i", "web", "cat"], { input: "via stdin\n" }), "via stdin\n");
    assert.equal(ok(["exec", "-e", "X=1", "-w", "/tmp", "web", "sh", "-c", "echo $X $(pwd)"]), "1 /tmp\n");
    assert.equal(ok(["inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.Name}} {{.Config.Image}} {{.Id}} {{index .Config.Labels \"role\"}}", "web"]).trim(), `running true /web bb:1 ${id} test`);
    const [c] = JSON.parse(ok(["container", "inspect", "web"])) as {
      State: { Pid: number; StartedAt: string };
      Created: string;
      HostConfig: { NetworkMode: string };
      Mounts: unknown[];
      Config: { Env: string[]; Cmd: string[] };
      NetworkSettings: { Networks: object };
    }[];
    assert.ok(c!.State.Pid > 0);
    assert.ok(!Number.isNaN(Date.parse(c!.State.StartedAt)));
    assert.ok(!Number.isNaN(Date.parse(c!.Created)));
    assert.ok(Array.isArray(c!.Mounts));
    assert.ok(c!.Config.Env.includes("GREETING=hello"));
    assert.deepEqual(c!.Config.Cmd, ["sh", "-c", "echo started; echo warn >&2; exec sleep 120"]);
    assert.equal(typeof c!.NetworkSettings.Networks, "object");
    assert.match(ok(["top", "web"]), /sleep 120/);
    assert.equal(ok(["stop", "-t", "1", "web"]), "web\n");
    assert.equal(ok(["inspect", "-f", "{{.State.Status}}", "web"]).trim(), "exited");
    assert.match(ok(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]), /^web Exited \(\d+\) /);
    assert.equal(ok(["start", "web"]), "web\n");
    assert.equal(ok(["inspect", "-f", "{{.State.Running}}", "web"]).trim(), "true");
    assert.equal(ok(["rm", "-f", "web"]), "web\n");
    assert.equal(ok(["ps", "-aq"]), "");
  });

  void it("TTYs: run -it and exec -it through script(1); the terminal's size arrives by resize (20.10 sends no ConsoleSize)", (tt) => {
    if (spawnSync("script", ["--version"]).status !== 0) return tt.skip("util-linux script is missing");
    const inTerminal = (cmd: string, input = ""): SpawnSyncReturns<string> =>
      spawnSync("script", ["-qec", `stty rows 40 cols 90; ${cmd}`, "/dev/null"], { env: s.env, input, encoding: "utf8", timeout: 60_000 });
    const run = inTerminal(`${DOCKER} run --rm -it bb:1 sh`, "tty; echo tty-ok; exit 5\n");
    assert.match(run.stdout, /\/dev\/pts\/\d+/);
    assert.match(run.stdout, /tty-ok/);
    assert.equal(run.status, 5);
    assert.match(inTerminal(`${DOCKER} run --rm -t bb:1 sh -c 'sleep 1; stty size'`).stdout, /^40 90\r?$/m);
    ok(["run", "-d", "--name", "tty", "bb:1", "sleep", "120"]);
    for (let i = 0; i < 3; i++) assert.match(inTerminal(`${DOCKER} exec -t tty stty size`).stdout, /^40 90\r?$/m);
    ok(["rm", "-f", "tty"]);
  });

  void it("docker cp, docker stats --no-stream", () => {
    ok(["run", "-d", "--name", "files", "bb:1", "sleep", "120"]);
    const src = path.join(tmp, "hello.txt");
    fs.writeFileSync(src, "hello from the host\n");
    ok(["cp", src, "files:/tmp/"]);
    assert.equal(ok(["exec", "files", "cat", "/tmp/hello.txt"]), "hello from the host\n");
    ok(["cp", "files:/etc/passwd", path.join(tmp, "passwd")]);
    assert.match(fs.readFileSync(path.join(tmp, "passwd"), "utf8"), /^root:x:0:0:/);
    assert.match(ok(["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "files"]), /^files \d+\n$/);
    ok(["rm", "-f", "files"]);
  });

  void it("docker tag, images, rmi", () => {
    ok(["tag", "bb:1", "bb:two"]);
    assert.deepEqual(ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]).split("\n").filter(Boolean).sort(), ["bb:1", "bb:two"]);
    assert.match(ok(["rmi", "bb:two"]), /Untagged: bb:two/);
    assert.match(docker(["rmi", "nosuch:1"]).stderr, /No such image: nosuch:1/);
  });

  void it("docker volume and docker network", () => {
    assert.equal(ok(["volume", "create", "vol2010"]), "vol2010\n");
    assert.equal(ok(["run", "--rm", "-v", "vol2010:/data", "bb:1", "sh", "-c", "echo kept > /data/f && cat /data/f"]), "kept\n");
    assert.match(ok(["volume", "ls", "--format", "{{.Name}} {{.Driver}}"]), /^vol2010 local$/m);
    assert.equal(ok(["volume", "rm", "vol2010"]), "vol2010\n");
    assert.match(ok(["network", "ls", "--format", "{{.Name}}"]), /^bridge$/m);
  });

  void it("errors where dockerd puts them: load of a truncated archive, a failing RUN (its exit status), an unknown volume driver; a network name with spaces", () => {
    const archive = path.join(tmp, "bb.tar");
    ok(["save", "-o", archive, "bb:1"]);
    const load = spawnSync(DOCKER!, ["load"], { env: s.env, input: fs.readFileSync(archive).subarray(0, 100_000), encoding: "utf8", timeout: 60_000 });
    assert.equal(load.status, 1);
    assert.match(load.stderr, /truncated archive/);
    const ctx = fs.mkdtempSync(path.join(tmp, "ctx-"));
    const elsewhere = fs.mkdtempSync(path.join(tmp, "df-"));
    fs.writeFileSync(path.join(elsewhere, "Dockerfile"), "FROM bb:1\nRUN exit 3\n");
    const build = spawnSync(DOCKER!, ["build", "-f", path.join(elsewhere, "Dockerfile"), ctx], { env: { ...s.env, DOCKER_BUILDKIT: "0" }, encoding: "utf8", timeout: 120_000 });
    assert.equal(build.status, 3, build.stderr);
    assert.match(build.stderr, /The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/);
    const vol = docker(["volume", "create", "-d", "foo", "v2010"]);
    assert.equal(vol.status, 1);
    assert.equal(vol.stderr.trim(), 'Error response from daemon: create v2010: error looking up volume plugin foo: plugin "foo" not found');
    assert.match(ok(["network", "create", "net 2010"]), /^[0-9a-f]{64}\n$/);
    assert.equal(ok(["network", "inspect", "-f", "{{.Name}}", "net 2010"]), "net 2010\n");
    assert.equal(ok(["network", "rm", "net 2010"]), "net 2010\n");
  });

  void it("a missing container is docker's 404, in the 20.10 client's words", () => {
    const r = docker(["logs", "nosuch"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), "Error: No such container: nosuch");
    const i = docker(["inspect", "nosuch"]);
    assert.equal(i.status, 1);
    assert.match(i.stderr, /No such object: nosuch/);
  });

  void it("events replays what the service did", () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    ok(["run", "--rm", "--name", "evt", "bb:1", "true"]);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const out = ok(["events", "--since", String(since), "--until", String(until), "--filter", "container=evt", "--format", "{{.Action}}"]);
    const actions = out.split("\n").filter(Boolean);
    for (const a of ["create", "start", "die", "destroy"]) assert.ok(actions.includes(a), `${a} in ${actions.join(",")}`);
  });

  void it("docker system prune and builder prune (the build cache step ends it)", () => {
    ok(["create", "--name", "stale", "bb:1", "true"]);
    assert.match(ok(["system", "prune", "-f"]), /Deleted Containers:\n[0-9a-f]{64}\n[\s\S]*Total reclaimed space:/);
    assert.match(ok(["builder", "prune", "-f"]), /Total reclaimed space: 0B/);
    assert.equal(ok(["ps", "-aq"]), "");
    assert.equal(ok(["images", "-q", "bb:1"]).length > 0, true, "an image with a tag stays");
  });
});
