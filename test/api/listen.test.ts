// Where the service may listen: address parsing, the loopback rule for TCP
// without TLS, and the service's own refusal and shutdown.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { describe, it } from "node:test";
import { isLoopback } from "../../src/api/guard.ts";
import { checkSecurity, parseHost } from "../../src/api/listen.ts";
import { splitVersion } from "../../src/api/version.ts";
import { goFileMode } from "../../src/api/routes/container-files.ts";
import { CLI, makeTestRoot } from "../helpers.ts";
import { startService } from "./service.ts";

void describe("API listen addresses and versions", () => {
  void it("parses unix and tcp addresses", () => {
    assert.deepEqual(parseHost("unix:///run/capsa/capsa.sock"), { kind: "unix", path: "/run/capsa/capsa.sock" });
    assert.deepEqual(parseHost("tcp://127.0.0.1:2376"), { kind: "tcp", host: "127.0.0.1", port: 2376 });
    assert.deepEqual(parseHost("tcp://[::1]:2375"), { kind: "tcp", host: "::1", port: 2375 });
    assert.throws(() => parseHost("unix://relative.sock"), /must be absolute/);
    assert.throws(() => parseHost("fd://"), /invalid host/);
  });

  void it("TCP without TLS only on loopback", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) assert.ok(isLoopback(h), h);
    for (const h of ["0.0.0.0", "10.0.0.1", "::", "example.com"]) assert.ok(!isLoopback(h), h);
    assert.throws(() => checkSecurity(parseHost("tcp://127.0.0.1:2375"), undefined), /--insecure-tcp/);
    assert.doesNotThrow(() => checkSecurity(parseHost("tcp://127.0.0.1:2375"), undefined, true));
    assert.throws(() => checkSecurity(parseHost("tcp://0.0.0.0:2375"), undefined), /refusing to listen on tcp:\/\/0\.0\.0\.0:2375 without TLS/);
    assert.doesNotThrow(() => checkSecurity(parseHost("tcp://0.0.0.0:2375"), { ca: "ca", cert: "c", key: "k" }));
  });

  void it("versioned and unversioned paths; docker's words out of range", () => {
    assert.deepEqual(splitVersion("/v1.43/containers/json"), { version: "1.43", path: "/containers/json" });
    assert.deepEqual(splitVersion("/containers/json"), { version: "1.43", path: "/containers/json" });
    assert.equal(splitVersion("/v1.50/_ping").version, "1.50");
    assert.throws(() => splitVersion("/v1.52/_ping"), /client version 1\.52 is too new\. Maximum supported API version is 1\.51/);
    assert.throws(() => splitVersion("/v1.23/_ping"), /client version 1\.23 is too old\. Minimum supported API version is 1\.24, please upgrade your client to a newer version/);
  });

  void it("path stats carry Go's FileMode bits", () => {
    assert.equal(goFileMode(0o040755), 2 ** 31 + 0o755);
    assert.equal(goFileMode(0o120777), 2 ** 27 + 0o777);
    assert.equal(goFileMode(0o100644), 0o644);
    assert.equal(goFileMode(0o104755), 2 ** 23 + 0o755);
  });

  void it("the service refuses non-loopback TCP without TLS, with a clear error", () => {
    const t = makeTestRoot("apitcp");
    try {
      const r = spawnSync(CLI, ["system", "service", "--host", "tcp://0.0.0.0:23750"], { env: t.env, encoding: "utf8", timeout: 30_000 });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /refusing to listen on tcp:\/\/0\.0\.0\.0:23750 without TLS/);
    } finally {
      t.cleanup();
    }
  });

  void it("SIGTERM closes the listeners and removes the socket file", async () => {
    const s = await startService("apiterm");
    try {
      assert.ok(fs.statSync(s.socket).isSocket());
      await s.terminate();
      assert.ok(!fs.existsSync(s.socket));
      assert.match(s.log(), /SIGTERM: closing the API listeners/);
    } finally {
      await s.stop();
    }
  });
});
