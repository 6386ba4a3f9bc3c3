// docker push and pull through capsa system service, against a local
// docker-registry (Debian's distribution) on loopback.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { busyboxRootfsTar } from "../helpers.ts";
import { haveTools, startRegistry, type RunningRegistry } from "../registry/fixtures.ts";
import { startService, type Service } from "./service.ts";

const missing = haveTools();

void describe("docker push/pull through capsa system service", { skip: missing ?? false }, () => {
  let s: Service;
  let reg: RunningRegistry;
  let cfg: string;
  before(async () => {
    reg = await startRegistry();
    cfg = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-apireg-"));
    fs.writeFileSync(path.join(cfg, "registries.json"), JSON.stringify({ registries: {} }));
    // The service's own registry settings and credentials, never the machine's.
    s = await startService("apireg", { DOCKER_CONFIG: cfg, CAPSA_REGISTRIES_CONF: path.join(cfg, "registries.json"), CAPSA_CERTS_D: path.join(cfg, "certs.d") });
    assert.equal(s.docker(["import", busyboxRootfsTar(), "bb:1"]).status, 0);
  });
  after(async () => {
    await s?.stop();
    await reg?.stop();
    if (cfg) fs.rmSync(cfg, { recursive: true, force: true });
  });

  void it("tag, push, rmi, pull, run", () => {
    const ref = `${reg.host}/api/bb:1`;
    const run = (args: string[]): string => {
      const r = s.docker(args, { timeoutMs: 120_000 });
      assert.equal(r.status, 0, `docker ${args.join(" ")}: ${r.stderr}\n--- service log ---\n${s.log().slice(-3000)}`);
      return r.stdout;
    };
    run(["tag", "bb:1", ref]);
    assert.match(run(["push", ref]), /1: digest: sha256:[0-9a-f]{64} size: \d+/);
    run(["rmi", ref]);
    const pulled = run(["pull", ref]);
    assert.match(pulled, /Digest: sha256:[0-9a-f]{64}/);
    assert.equal(run(["run", "--rm", ref, "echo", "pulled"]), "pulled\n");
    assert.match(run(["images", "--digests", "--format", "{{.Repository}} {{.Digest}}"]), new RegExp(`${reg.host}/api/bb sha256:`));
  });
});
