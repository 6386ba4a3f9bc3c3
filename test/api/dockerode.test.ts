// dockerode (a widely used Node client, on docker-modem) against `capsa system
// service` on a private socket and state root. Images come in by import from a
// local tarball: no registry traffic.
import assert from "node:assert/strict";
import fs from "node:fs";
import { PassThrough, type Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { busyboxRootfsTar } from "../helpers.ts";
import { startService, type Service } from "./service.ts";

/** Collects a readable until it ends. */
function collect(r: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    r.on("data", (d: Buffer) => (text += d.toString()));
    r.on("end", () => resolve(text));
    r.on("error", reject);
  });
}

/** Splits a multiplexed stream with docker-modem's demuxer; resolves when the stream ends. */
async function demux(docker: Docker, stream: NodeJS.ReadableStream): Promise<{ stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const texts = Promise.all([collect(out), collect(err)]);
  docker.modem.demuxStream(stream, out, err);
  await new Promise<void>((resolve, reject) => {
    stream.on("end", () => resolve());
    stream.on("close", () => resolve());
    stream.on("error", reject);
  });
  out.end();
  err.end();
  const [stdout, stderr] = await texts;
  return { stdout, stderr };
}

/** Reads a progress stream (import, load) to its end, as docker.modem.followProgress does. */
function follow(docker: Docker, stream: NodeJS.ReadableStream): Promise<{ status?: string; error?: string; stream?: string }[]> {
  return new Promise((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, res: { status?: string; error?: string; stream?: string }[]) => (err ? reject(err) : resolve(res))));
}

void describe("dockerode against capsa system service", () => {
  let s: Service;
  let docker: Docker;
  before(async () => {
    s = await startService("dockerode");
    docker = new Docker({ socketPath: s.socket });
  });
  after(async () => {
    await s?.stop();
  });

  void it("ping and version", async () => {
    const pong = (await docker.ping()) as unknown as Buffer | string;
    assert.equal(pong.toString(), "OK");
    const v = await docker.version();
    assert.equal(v.ApiVersion, "1.43");
    assert.equal(v.MinAPIVersion, "1.24");
    assert.equal(v.Os, "linux");
    assert.ok(v.Version);
    const info = (await docker.info()) as { OSType: string; Containers: number };
    assert.equal(info.OSType, "linux");
    assert.equal(typeof info.Containers, "number");
  });

  void it("a client pinned to an API version talks to the versioned paths", async () => {
    const pinned = new Docker({ socketPath: s.socket, version: "v1.41" });
    assert.equal((await pinned.version()).ApiVersion, "1.43");
    assert.ok(Array.isArray(await pinned.listContainers({ all: true })));
  });

  void it("importImage from a local tarball, then listImages and getImage().inspect", async () => {
    const res = await follow(docker, await docker.importImage(busyboxRootfsTar(), { repo: "bb", tag: "1" }));
    assert.ok(!res.some((r) => r.error), JSON.stringify(res));
    const images = await docker.listImages();
    assert.equal(images.length, 1);
    assert.deepEqual(images[0]!.RepoTags, ["bb:1"]);
    assert.match(images[0]!.Id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(typeof images[0]!.Created, "number");
    assert.ok(images[0]!.Size > 1_000_000);
    const inspected = await docker.getImage("bb:1").inspect();
    assert.equal(inspected.Id, images[0]!.Id);
    assert.equal(inspected.Os, "linux");
    assert.deepEqual(inspected.RepoTags, ["bb:1"]);
  });

  void it("createContainer, start, wait, logs demuxed into stdout and stderr", async () => {
    const c = await docker.createContainer({ Image: "bb:1", name: "job", Cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], Labels: { suite: "dockerode" } });
    assert.match(c.id, /^[0-9a-f]{64}$/);
    await c.start();
    const waited = (await c.wait()) as { StatusCode: number };
    assert.equal(waited.StatusCode, 3);
    const logs = await c.logs({ stdout: true, stderr: true, follow: true });
    assert.deepEqual(await demux(docker, logs), { stdout: "out\n", stderr: "err\n" });
    // Without follow the whole multiplexed body comes back as one buffer.
    const buf = await c.logs({ stdout: true, stderr: true, follow: false });
    assert.ok(Buffer.isBuffer(buf));
    assert.equal(buf[0], 1, "the first frame is stdout's");
    const info = await c.inspect();
    assert.equal(info.State.Status, "exited");
    assert.equal(info.State.ExitCode, 3);
    assert.equal(info.Name, "/job");
    assert.equal(info.Config.Labels["suite"], "dockerode");
    // attach with logs=1 replays what the container wrote (stream=0: then ends).
    const replay = await c.attach({ logs: true, stream: false, stdout: true, stderr: true });
    assert.deepEqual(await demux(docker, replay), { stdout: "out\n", stderr: "err\n" });
    await c.remove();
    await assert.rejects(c.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  void it("docker.run: attach before start, output into the given streams", async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const texts = Promise.all([collect(out), collect(err)]);
    const [result, container] = (await docker.run("bb:1", ["sh", "-c", "echo run-out; echo run-err >&2; exit 5"], [out, err], { Tty: false })) as [{ StatusCode: number }, Docker.Container];
    assert.equal(result.StatusCode, 5);
    out.end();
    err.end();
    assert.deepEqual(await texts, ["run-out\n", "run-err\n"]);
    await container.remove();

    // With a TTY, HostConfig.ConsoleSize is the terminal's size from the process's start.
    const tty = new PassThrough();
    const ttyText = collect(tty);
    const [ttyResult] = (await docker.run("bb:1", ["stty", "size"], tty, { Tty: true, HostConfig: { AutoRemove: true, ConsoleSize: [33, 101] } })) as [{ StatusCode: number }];
    tty.end();
    assert.equal(ttyResult.StatusCode, 0);
    assert.equal((await ttyText).trim(), "33 101");
  });

  void it("exec with demuxed output, stdin, and inspect's exit code", async () => {
    const c = await docker.createContainer({ Image: "bb:1", name: "svc", Cmd: ["sleep", "120"], Env: ["GREETING=hello"] });
    await c.start();
    const ex = await c.exec({ Cmd: ["sh", "-c", "echo $GREETING from exec; echo oops >&2; exit 4"], AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({ hijack: true, stdin: false });
    assert.deepEqual(await demux(docker, stream), { stdout: "hello from exec\n", stderr: "oops\n" });
    const ei = await ex.inspect();
    assert.equal(ei.ExitCode, 4);
    assert.equal(ei.Running, false);

    const cat = await c.exec({ Cmd: ["cat"], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const duplex = (await cat.start({ hijack: true, stdin: true })) as unknown as NodeJS.ReadWriteStream & { end(chunk?: string): void };
    const echoed = demux(docker, duplex);
    duplex.end("via stdin\n");
    assert.deepEqual(await echoed, { stdout: "via stdin\n", stderr: "" });
    assert.equal((await cat.inspect()).ExitCode, 0);

    const tty = await c.exec({ Cmd: ["sh", "-c", "sleep 1; stty size"], AttachStdin: true, AttachStdout: true, Tty: true });
    const raw = await tty.start({ hijack: true, stdin: true, Tty: true });
    const sized = collect(raw);
    await tty.resize({ h: 33, w: 101 });
    assert.equal((await sized).trim(), "33 101", "a TTY exec's stream is raw, and resize reaches its terminal");
  });

  void it("listContainers: running, all, filters", async () => {
    const stopped = await docker.createContainer({ Image: "bb:1", name: "idle", Cmd: ["true"] });
    const running = await docker.listContainers();
    assert.deepEqual(running.map((c) => c.Names), [["/svc"]]);
    assert.equal(running[0]!.State, "running");
    assert.equal(running[0]!.Image, "bb:1");
    assert.match(running[0]!.Status, /^Up /);
    const ip = (await docker.getContainer("svc").inspect()).NetworkSettings.Networks["bridge"]?.IPAddress;
    assert.match(ip ?? "", /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(running[0]!.NetworkSettings.Networks["bridge"]?.IPAddress, ip, "the list carries the endpoints");
    const sized = await docker.listContainers({ size: true });
    const size = sized[0] as Docker.ContainerInfo & { SizeRw?: number; SizeRootFs?: number };
    assert.ok((size.SizeRootFs ?? 0) > 1_000_000, `SizeRootFs ${size.SizeRootFs}`);
    assert.equal(typeof size.SizeRw, "number");
    const all = await docker.listContainers({ all: true });
    assert.deepEqual(all.map((c) => c.Names[0]).sort(), ["/idle", "/svc"]);
    const byName = await docker.listContainers({ all: true, filters: { name: ["idle"] } });
    assert.deepEqual(byName.map((c) => c.Id), [stopped.id]);
    const byStatus = await docker.listContainers({ all: true, filters: JSON.stringify({ status: ["created"] }) });
    assert.deepEqual(byStatus.map((c) => c.Id), [stopped.id]);
    await stopped.remove();
  });

  void it("stop, remove (force), and errors carry docker's status codes", async () => {
    const c = docker.getContainer("svc");
    await c.stop({ t: 1 });
    assert.equal((await c.inspect()).State.Running, false);
    await assert.rejects(c.stop(), (e: { statusCode?: number }) => e.statusCode === 304);
    await c.start();
    await c.remove({ force: true });
    assert.deepEqual(await docker.listContainers({ all: true }), []);
    await assert.rejects(docker.getContainer("nosuch").inspect(), (e: { statusCode?: number; json?: { message?: string } }) => e.statusCode === 404 && /No such container: nosuch/.test(e.json?.message ?? ""));
    await assert.rejects(docker.createContainer({ Image: "nosuch:1" }), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  void it("image tag and remove", async () => {
    await docker.getImage("bb:1").tag({ repo: "bb", tag: "two" });
    const tags = (await docker.listImages()).flatMap((i) => i.RepoTags ?? []).sort();
    assert.deepEqual(tags, ["bb:1", "bb:two"]);
    const removed = (await docker.getImage("bb:two").remove()) as { Untagged?: string }[];
    assert.deepEqual(removed, [{ Untagged: "bb:two" }]);
    assert.ok(fs.existsSync(s.socket));
  });
});
