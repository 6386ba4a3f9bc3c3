// A default container, a default sandbox and a default VM each deny, inside,
// what a default docker container denies. The probes (./probes.ts) run in a
// real dockerd of the test's own too, when the machine has dockerd, so the list
// of what docker denies is checked against docker itself, not only written down.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { busyboxRootfsTar, useBusyboxRoot, type TestRoot } from "../helpers.ts";
import { hasDockerd, PrivateDockerd } from "../dockerd.ts";
import { DENIED_BY_DOCKER, DENIED_SINCE_DOCKER_28, allowedOf, parseProbes, probeScript } from "./probes.ts";

const isRoot = process.getuid?.() === 0;

function capsaProbe(t: TestRoot, level: string, extra: string[] = []): Map<string, string> {
  const r = t.capsa(["run", "--rm", "--network", "none", "--isolation", level, ...extra, "busybox", "sh", "-c", probeScript()], { timeoutMs: 180_000 });
  assert.equal(r.status, 0, `${level}: exit ${r.status}: ${r.stderr}`);
  return parseProbes(r.stdout);
}

void describe("what a workload can do inside, per isolation level, against docker's defaults", { skip: !isRoot && "needs root" }, () => {
  const root = useBusyboxRoot("sec-levels");

  void test("the probe list is what dockerd's default container denies", { skip: !hasDockerd && "dockerd is not installed (scripts/setup.sh --tests installs it)" }, async () => {
    const t = root();
    const d = new PrivateDockerd();
    try {
      await d.start();
      const imp = d.docker(["import", busyboxRootfsTar(), "probe:1"]);
      assert.equal(imp.status, 0, imp.stderr);
      const r = d.docker(["run", "--rm", "--network", "none", "probe:1", "sh", "-c", probeScript()]);
      assert.equal(r.status, 0, r.stderr);
      const docker = parseProbes(r.stdout);
      const version = d.docker(["version", "--format", "{{.Server.Version}}"]).stdout.trim();
      const expected = Number(version.split(".")[0]) >= 28 ? DENIED_BY_DOCKER : DENIED_BY_DOCKER.filter((p) => !DENIED_SINCE_DOCKER_28.includes(p));
      assert.deepEqual(allowedOf(docker, expected), [], `dockerd ${version} allows a probe the list says it denies`);
      assert.equal(docker.get("seccomp"), "2");
      // capsa's default container has no capability docker's lacks.
      const capsa = capsaProbe(t, "container");
      const capsaCaps = BigInt("0x" + capsa.get("capeff")!);
      const dockerCaps = BigInt("0x" + docker.get("capeff")!);
      assert.equal(capsaCaps & ~dockerCaps, 0n, `capsa CapEff ${capsa.get("capeff")} vs docker ${docker.get("capeff")}`);
    } finally {
      await d.stop();
    }
  });

  // The vm level answers every probe as a container with the same flags does: test/security/vm.test.ts
  // (one VM boot runs these probes, its own in the guest, and an exec's).
  for (const level of ["container", "sandbox"] as const) {
    void test(`a default ${level} denies every probe a default docker container denies`, () => {
      const t = root();
      const r = capsaProbe(t, level);
      assert.deepEqual(allowedOf(r, DENIED_BY_DOCKER), []);
      assert.equal(r.get("rw-root"), "allowed", "the probes ran (the root is writable by default)");
      assert.equal(r.get("seccomp"), "2", "seccomp filter mode");
    });
  }
});
