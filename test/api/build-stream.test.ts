// Streamed answers as dockerd sends them: POST /build's JSON messages (the
// classic builder's), errors inside a stream once it has begun (a truncated
// image archive, a failing RUN step) and as the request's own status before
// (no such Dockerfile, an unreachable registry). Driven by the docker CLI,
// dockerode, and raw HTTP where a client hides the shape.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { busyboxRootfsTar } from "../helpers.ts";
import { freeSubnet } from "../network/fixtures.ts";
import { startService, type Service } from "./service.ts";

interface Message {
  stream?: string;
  aux?: { ID?: string };
  error?: string;
  errorDetail?: { code?: number; message: string };
}

void describe("streamed answers: build, load and pull as dockerd sends them", () => {
  let s: Service;
  let docker: Docker;
  let tmp: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-stream-"));
    s = await startService("stream", { CAPSA_DEFAULT_BRIDGE_SUBNET: freeSubnet() });
    docker = new Docker({ socketPath: s.socket });
    s.dockerOk(["import", busyboxRootfsTar(), "bb:1"]);
  });
  after(async () => {
    await s?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A POST with a binary body over the socket; the status and the body's JSON lines (or its one JSON object). */
  const postBody = (p: string, body: Buffer, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; messages: Message[] }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath: s.socket, agent: false, method: "POST", path: p, headers: { "Content-Type": "application/x-tar", ...headers } }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, messages: text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Message) }));
      });
      req.on("error", reject);
      req.end(body);
    });

  /** A build context: the files given, as a tar (gzip-compressed when asked). */
  const context = (files: Record<string, string>, gzip: boolean): Buffer => {
    const dir = fs.mkdtempSync(path.join(tmp, "ctx-"));
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
    const r = spawnSync("tar", [gzip ? "-czf" : "-cf", "-", "-C", dir, "."], { maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, r.stderr.toString());
    return r.stdout;
  };

  const DOCKERFILE = 'FROM bb:1\n\n# empty lines and comments between steps\n\nRUN echo out; echo err >&2; grep myhost /etc/hosts; ip -o link | cut -d" " -f2\n\n\nCMD ["true"]\n';

  void it("a gzip context, a nested Dockerfile path, extrahosts, networkmode, cachefrom: dockerd's message stream, RUN's stderr in it (in red), aux before 'Successfully built'", async () => {
    const body = context({ "sub/dir/Dock.file": DOCKERFILE }, true);
    const q = `dockerfile=sub/dir/Dock.file&t=streamed:1&extrahosts=myhost:10.1.2.3&networkmode=none&cachefrom=${encodeURIComponent('["bb:1"]')}`;
    // docker-py sends Content-Encoding: gzip with a gzip body; the docker CLI sends none.
    for (const headers of [{}, { "Content-Encoding": "gzip" }]) {
      const r = await postBody(`/v1.43/build?${q}&nocache=1`, body, headers);
      assert.equal(r.status, 200);
      const streams = r.messages.map((m) => m.stream ?? (m.aux ? `<aux ${m.aux.ID}>` : `<${JSON.stringify(m)}>`));
      assert.equal(streams[0], "Step 1/3 : FROM bb:1\n");
      assert.match(streams[1]!, /^ ---> [0-9a-f]{12}\n$/);
      assert.equal(streams[2], "Step 2/3 : RUN echo out; echo err >&2; grep myhost /etc/hosts; ip -o link | cut -d\" \" -f2\n");
      // RUN's output (stdout and stderr alike) comes as stream messages; how it is cut into messages depends on timing.
      const runOutput = streams.slice(4, streams.findIndex((l) => l.startsWith("Removing intermediate container"))).join("");
      // stderr between dockerd's ANSI red, as its classic builder sends it.
      assert.ok(runOutput.includes("\x1b[91merr\n\x1b[0m"), JSON.stringify(streams));
      assert.equal(runOutput.replace("\x1b[91merr\n\x1b[0m", "").split("\n").sort().join("\n"), ["", "10.1.2.3\tmyhost", "lo:", "out"].join("\n"), `networkmode=none: only lo; ${JSON.stringify(streams)}`);
      assert.ok(streams.includes("Step 3/3 : CMD [\"true\"]\n"));
      const aux = r.messages.findIndex((m) => m.aux);
      assert.match(r.messages[aux]!.aux!.ID!, /^sha256:[0-9a-f]{64}$/);
      assert.deepEqual(streams.slice(aux + 1), [`Successfully built ${r.messages[aux]!.aux!.ID!.slice(7, 19)}\n`, "Successfully tagged streamed:1\n"]);
      assert.ok(!r.messages.some((m) => m.error));
    }
    assert.equal(s.dockerOk(["image", "inspect", "-f", "{{json .Config.Cmd}}", "streamed:1"]).trim(), '["true"]');
  });

  void it("the Dockerfile path: absolute is inside the context; outside it or missing is the request's error (before any output)", async () => {
    const body = context({ "sub/Dockerfile": "FROM bb:1\nCMD [\"true\"]\n" }, false);
    const abs = await postBody("/v1.43/build?dockerfile=/sub/Dockerfile", body);
    assert.equal(abs.status, 200);
    assert.ok(abs.messages.some((m) => m.aux?.ID));
    for (const [p, message] of [
      ["../Dockerfile", "forbidden path outside the build context: ../Dockerfile ()"],
      ["sub/../../etc/passwd", "forbidden path outside the build context: sub/../../etc/passwd ()"],
      ["nope", "Cannot locate specified Dockerfile: nope"],
    ] as const) {
      const r = await postBody(`/v1.43/build?dockerfile=${encodeURIComponent(p)}`, body);
      assert.equal(r.status, 500, p);
      assert.equal((r.messages[0] as { message?: string }).message, message);
    }
    // A context cut inside an entry's data stays an error (the completion of a missing end does not hide it).
    const cut = await postBody("/v1.43/build", body.subarray(0, 700));
    assert.ok(cut.status >= 400);
    assert.match((cut.messages[0] as { message?: string }).message ?? "", /^build context: .*truncated/);
    const quiet = await postBody("/v1.43/build?q=1&dockerfile=sub/Dockerfile", body);
    assert.equal(quiet.messages.length, 1, "q=1: the id, nothing else");
    assert.match(quiet.messages[0]!.stream!, /^sha256:[0-9a-f]{64}\n$/);
  });

  void it("a failing RUN: errorDetail with the command's exit status in a 200 stream; the docker CLI exits with it; a Dockerfile outside the context (docker build -f) still builds", async () => {
    const body = context({ Dockerfile: "FROM bb:1\nRUN echo before; exit 3\n" }, false);
    const r = await postBody("/v1.43/build?t=never:1", body);
    assert.equal(r.status, 200);
    assert.ok(r.messages.some((m) => m.stream === "before\n"));
    const last = r.messages.at(-1)!;
    assert.equal(last.errorDetail?.code, 3);
    assert.match(last.error!, /The command '\/bin\/sh -c echo before; exit 3' returned a non-zero code: 3/);
    assert.equal(last.errorDetail?.message, last.error);
    assert.equal(s.docker(["image", "inspect", "never:1"]).status, 1, "nothing tagged");
    const ctx = fs.mkdtempSync(path.join(tmp, "cli-"));
    const elsewhere = fs.mkdtempSync(path.join(tmp, "df-"));
    fs.writeFileSync(path.join(elsewhere, "Dockerfile"), "FROM bb:1\nRUN exit 3\n");
    const cli = s.docker(["build", "-f", path.join(elsewhere, "Dockerfile"), ctx], { timeoutMs: 120_000 });
    assert.equal(cli.status, 3, cli.stderr);
    assert.match(cli.stderr, /returned a non-zero code: 3/);
    fs.writeFileSync(path.join(elsewhere, "Dockerfile"), "FROM bb:1\nCMD [\"true\"]\n");
    assert.match(s.dockerOk(["build", "-q", "-f", path.join(elsewhere, "Dockerfile"), ctx]), /^sha256:[0-9a-f]{64}\n$/);
  });

  void it("image load of a truncated archive: 200 with the error in the stream; docker load exits 1 with it, dockerode hands it over", async () => {
    const archive = path.join(tmp, "bb.tar");
    s.dockerOk(["save", "-o", archive, "bb:1"]);
    const truncated = fs.readFileSync(archive).subarray(0, 100_000);
    const raw = await postBody("/v1.43/images/load", truncated);
    assert.equal(raw.status, 200);
    assert.equal(raw.messages.length, 1);
    assert.match(raw.messages[0]!.error!, /truncated archive/);
    assert.deepEqual(raw.messages[0]!.errorDetail, { message: raw.messages[0]!.error });
    const cli = s.docker(["load"], { input: truncated });
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /truncated archive/);
    // dockerode's followProgress hands the messages over; the error is one of them, as dockerd's.
    const stream = await docker.loadImage(Buffer.from(truncated) as unknown as NodeJS.ReadableStream);
    const out = await new Promise<Message[]>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, res: Message[]) => (err ? reject(err) : resolve(res))));
    assert.match(out.at(-1)?.error ?? "", /truncated archive/);
    // The service still serves.
    assert.equal((await s.request("GET", "/_ping")).body, "OK");
  });

  void it("pull: a failure before any progress is the request's status and message, as dockerd", async () => {
    const r = await s.request("POST", "/v1.43/images/create?fromImage=127.0.0.1:1/nope&tag=1");
    assert.equal(r.status, 500);
    assert.match((JSON.parse(r.body) as { message: string }).message, /127\.0\.0\.1:1/);
    const cli = s.docker(["pull", "127.0.0.1:1/nope:1"]);
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /^Error response from daemon: .*127\.0\.0\.1:1/);
  });
});
