// What must not hurt the service or the containers: a restart of the service
// (containers keep running), bodies over the limit, a client that drops the
// connection mid-request, fields the service does not know. Each ends with
// the service still answering and nothing half-created.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { importBusybox } from "../helpers.ts";
import { startService, type Service } from "./service.ts";

void describe("the API service under restarts and bad clients", () => {
  let s: Service;
  before(async () => {
    s = await startService("robust");
    importBusybox(s.t, "rb:1");
  });
  after(async () => {
    await s?.stop();
  });

  const ok = (args: string[]): string => s.dockerOk(args);
  const containerCount = (): number => s.t.capsa(["ps", "-aq"]).stdout.split("\n").filter(Boolean).length;

  void it("containers keep running across a restart of the service, and the new one drives them", async () => {
    ok(["run", "-d", "--name", "survivor", "rb:1", "sh", "-c", "echo up; exec sleep 120"]);
    const pidBefore = ok(["inspect", "-f", "{{.State.Pid}}", "survivor"]).trim();
    await s.terminate();
    s = await startService("robust", {}, s.t);
    assert.equal(ok(["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "survivor"]).trim(), `running ${pidBefore}`);
    assert.equal(ok(["logs", "survivor"]), "up\n");
    assert.equal(ok(["exec", "survivor", "echo", "still here"]), "still here\n");
    ok(["stop", "-t", "1", "survivor"]);
    assert.match(ok(["inspect", "-f", "{{.State.Status}}", "survivor"]), /^exited/);
    ok(["rm", "survivor"]);
  });

  void it("a body over the limit is a 413 and creates nothing", async () => {
    const huge = JSON.stringify({ Image: "rb:1", Cmd: ["true"], Labels: { pad: "x".repeat(5 * 1024 * 1024) } });
    const r = await s.request("POST", "/containers/create?name=huge", huge);
    assert.equal(r.status, 413, r.body);
    assert.match(r.body, /"message":"request body too large/);
    assert.equal(containerCount(), 0);
  });

  void it("a client that drops the connection mid-body leaves no container, and the service keeps serving", async () => {
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(s.socket, () => {
        sock.write("POST /v1.43/containers/create?name=dropped HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n");
        sock.write('{"Image": "rb:1", "Cmd": ["tr');
        setTimeout(() => {
          sock.destroy();
          resolve();
        }, 200);
      });
      sock.on("error", reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await s.request("GET", "/_ping")).status, 200);
    assert.equal(containerCount(), 0);
    // And one that sends garbage instead of HTTP.
    await new Promise<void>((resolve) => {
      const sock = net.connect(s.socket, () => sock.end("\x00\x01 not http at all\r\n\r\n"));
      let reply = "";
      sock.on("data", (d: Buffer) => (reply += d.toString()));
      sock.on("close", () => {
        assert.match(reply, /^HTTP\/1\.1 400 Bad Request/);
        resolve();
      });
      sock.on("error", () => resolve());
    });
    assert.equal((await s.request("GET", "/_ping")).status, 200);
  });

  void it("unknown fields are ignored, as dockerd does; wrong types are a 400; a command string is one word", async () => {
    const r = await s.request("POST", "/containers/create?name=extra", JSON.stringify({ Image: "rb:1", Cmd: ["true"], NotADockerField: 1, HostConfig: { AlsoUnknown: true } }));
    assert.equal(r.status, 201, r.body);
    ok(["rm", "extra"]);
    for (const [body, field] of [
      [{ Image: "rb:1", HostConfig: "no" }, "Config.HostConfig"],
      [{ Image: "rb:1", Env: "A=1" }, "Config.Env"],
      [{ Image: "rb:1", Tty: "yes" }, "Config.Tty"],
      [{ Image: "rb:1", HostConfig: { Memory: "1g" } }, "HostConfig.Memory"],
      [{ Image: "rb:1", HostConfig: { Binds: [1] } }, "HostConfig.Binds"],
    ] as const) {
      const bad = await s.request("POST", "/containers/create?name=badtype", JSON.stringify(body));
      assert.equal(bad.status, 400, bad.body);
      assert.match(bad.body, new RegExp(`cannot unmarshal .* into Go struct field ${field.replace(".", "\\.")} of type`));
    }
    assert.equal(containerCount(), 0);
    // docker's StrSlice: "Cmd": "echo" is ["echo"].
    const one = await s.request("POST", "/containers/create?name=strcmd", JSON.stringify({ Image: "rb:1", Cmd: "pwd" }));
    assert.equal(one.status, 201, one.body);
    ok(["start", "strcmd"]);
    assert.equal(ok(["wait", "strcmd"]), "0\n");
    assert.equal(ok(["logs", "strcmd"]), "/\n");
    ok(["rm", "strcmd"]);
  });
});

void describe("stalled clients", () => {
  let s: Service;
  before(async () => {
    // A body idle limit of 2 s (60 s by default) keeps the test short.
    s = await startService("stalled", { CAPSA_API_BODY_TIMEOUT: "2" });
  });
  after(async () => {
    await s?.stop();
  });

  /** Resolves with how long the server took to close a connection that stalls mid-body. */
  const stall = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const sock = net.connect(s.socket, () => {
        sock.write("POST /v1.43/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Image\":");
      });
      sock.on("close", () => resolve(Date.now() - t0));
      sock.on("error", () => undefined);
      setTimeout(() => {
        sock.destroy();
        reject(new Error("the service kept a stalled connection for 20 s"));
      }, 20_000).unref();
    });

  void it("connections whose request body stalls are closed (20 at once), and the service keeps serving", async () => {
    const closedAfter = await Promise.all(Array.from({ length: 20 }, stall));
    for (const ms of closedAfter) assert.ok(ms >= 1500, `closed after ${ms} ms: before the idle limit`);
    assert.equal((await s.request("GET", "/_ping")).status, 200);
  });

  void it("a long streamed response is not cut by the body limit", async () => {
    const lasted = await new Promise<number>((resolve, reject) => {
      const t0 = Date.now();
      const sock = net.connect(s.socket, () => sock.write("GET /v1.43/events HTTP/1.1\r\nHost: x\r\n\r\n"));
      sock.on("error", reject);
      sock.on("close", () => resolve(Date.now() - t0));
      setTimeout(() => {
        sock.destroy();
      }, 5000).unref();
    });
    assert.ok(lasted >= 4900, `the events stream was closed after ${lasted} ms`);
  });
});
