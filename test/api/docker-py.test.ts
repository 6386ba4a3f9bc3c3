// docker-py (Debian's python3-docker) against capsa system service: a smoke
// test of a second client library (run, detach, exec, logs, images, volumes,
// wait, 404s).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { busyboxRootfsTar } from "../helpers.ts";
import { freeSubnet } from "../network/fixtures.ts";
import { startService, type Service } from "./service.ts";

const PYTHON = "/usr/bin/python3";

const hasDockerPy = spawnSync(PYTHON, ["-c", "import docker"]).status === 0;

void describe("docker-py against capsa system service", { skip: hasDockerPy ? false : "python3-docker is not installed (apt-get install python3-docker)" }, () => {
  let s: Service;
  before(async () => {
    s = await startService("apipy", { CAPSA_DEFAULT_BRIDGE_SUBNET: freeSubnet() });
    const r = s.docker(["import", busyboxRootfsTar(), "bb:1"]);
    assert.equal(r.status, 0, r.stderr);
  });
  after(async () => {
    await s?.stop();
  });

  void it("runs containers, execs, reads logs, lists images and volumes", () => {
    const script = path.join(import.meta.dirname, "fixtures", "docker_py_smoke.py");
    const r = spawnSync(PYTHON, [script, `unix://${s.socket}`], { encoding: "utf8", timeout: 120_000, env: s.env });
    assert.equal(r.status, 0, `${r.stderr}\n--- service log ---\n${s.log().slice(-3000)}`);
    const lines = r.stdout.split("\n");
    assert.ok(lines.includes("api 1.43"), r.stdout);
    assert.ok(lines.includes("run b'hi-from-py\\n'"), r.stdout);
    assert.ok(lines.includes("status running"), r.stdout);
    assert.ok(lines.includes("exec 2 b'exec-out\\n'"), r.stdout);
    assert.ok(lines.includes("logs b'ready\\n'"), r.stdout);
    assert.ok(lines.includes("images ['bb:1']"), r.stdout);
    assert.ok(lines.includes("vol pyvol"), r.stdout);
    assert.ok(lines.includes("notfound No such container: nosuch"), r.stdout);
  });

  void it("networks, volumes, build and load as docker-py's own integration tests use them", () => {
    const script = path.join(import.meta.dirname, "fixtures", "docker_py_fidelity.py");
    const subnet = freeSubnet();
    const r = spawnSync(PYTHON, [script, `unix://${s.socket}`, subnet, `py${process.pid}`], { encoding: "utf8", timeout: 180_000, env: s.env });
    assert.equal(r.status, 0, `${r.stderr}\n--- service log ---\n${s.log().slice(-3000)}`);
    assert.deepEqual(r.stdout.trim().split("\n"), [
      `ipam-options None {'a': '${subnet.replace(/0\/24$/, "")}9'}`,
      "duplicate-refused 409",
      "duplicate-made True True",
      "linklocal ['169.254.8.8']",
      "volume-driver 404",
      "volume-pruned True",
      "build True True",
      "build-error 3 True",
      "build-raises True",
      "load-error True",
    ]);
  });
});
