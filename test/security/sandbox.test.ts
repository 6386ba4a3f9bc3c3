// A sandbox's workload is confined as a container's: runsc applies the OCI
// spec's capabilities and, with --oci-seccomp, its seccomp profile inside
// gVisor's kernel, so --cap-add, --cap-drop, -u and --security-opt mean the
// same at this level. The same probes run in a container with the same flags
// for comparison. gVisor's /proc/self/status has no NoNewPrivs line, so that
// one probe is left out of the comparison.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { findOnPath } from "../../src/runtime/probe.ts";
import { COMPARED, COMPARED_WITH_SYS_ADMIN, parseProbes, probeScript, sameAsContainer } from "./probes.ts";

let t: TestRoot;
const skip = findOnPath("runsc") ? false : "runsc (gVisor) is not installed";
const KEYS = COMPARED.filter((k) => k !== "nnp");

function run(flags: string[], isolation: "sandbox" | "container"): Map<string, string> {
  const r = t.capsa(["run", "--rm", "--pull", "never", "--isolation", isolation, ...flags, "busybox", "sh", "-c", probeScript()], { timeoutMs: 120_000 });
  assert.equal(r.status, 0, `run --isolation ${isolation} ${flags.join(" ")}: ${r.stderr}`);
  return parseProbes(r.stdout);
}

void describe("sandbox workload confinement", { skip, timeout: 10 * 60_000 }, () => {
  before(() => {
    t = makeTestRoot("sbsec");
    importBusybox(t);
  });
  after(() => t.cleanup());

  void it("a default sandbox is denied what a default container is denied, seccomp's probe included", () => {
    const ctr = run([], "container");
    const sb = run([], "sandbox");
    sameAsContainer(sb, ctr, "sandbox", KEYS);
    assert.equal(sb.get("userns"), "denied", "seccomp's default profile refuses unshare(CLONE_NEWUSER) without CAP_SYS_ADMIN");
    assert.equal(sb.get("seccomp"), "2");
  });

  void it("--cap-add SYS_ADMIN and seccomp=unconfined, and -u with no-new-privileges, mean the same as in a container", () => {
    for (const flags of [["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--read-only"], ["-u", "1000:1000", "--group-add", "123", "--security-opt", "no-new-privileges"]]) {
      const sb = run(flags, "sandbox");
      // gVisor (Debian's 2022 runsc) does not implement unshare(CLONE_NEWNS): refused even with
      // CAP_SYS_ADMIN — stricter than a container, never weaker.
      if (flags.includes("SYS_ADMIN")) assert.equal(sb.get("unshare-mount"), "denied");
      const keys = flags.includes("SYS_ADMIN") ? KEYS.filter((k) => k !== "unshare-mount" && COMPARED_WITH_SYS_ADMIN.includes(k)) : KEYS;
      sameAsContainer(sb, run(flags, "container"), `sandbox ${flags.join(" ")}`, keys);
    }
  });
});
