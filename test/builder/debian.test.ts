// A build on a real Debian base: `apt-get install` in RUN through the package
// mirror, from the RUN container on the default (bridge, NAT'd) network — the
// only outside address it reaches is the machine's Debian mirror. Skipped when
// the mirror is unreachable from this host.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { debianMirror, debianRootfsTar } from "../fixtures/debian.ts";
import { makeTestRoot, type TestRoot } from "../helpers.ts";

async function mirrorUnreachable(): Promise<string | false> {
  const mirror = process.env.CAPSA_DEBIAN_MIRROR || debianMirror();
  try {
    const r = await fetch(`${mirror.replace(/\/$/, "")}/dists/bookworm/InRelease`, { method: "HEAD", signal: AbortSignal.timeout(10_000) });
    return r.ok ? false : `the Debian mirror ${mirror} answered ${r.status}`;
  } catch (e) {
    return `the Debian mirror ${mirror} is unreachable: ${e instanceof Error ? e.message : String(e)}`;
  }
}

const skip = await mirrorUnreachable();
let t: TestRoot;
let ctx: string;
before(() => {
  if (skip) return;
  t = makeTestRoot("build-deb");
  ctx = fs.mkdtempSync(path.join(t.root, "..", path.basename(t.root) + "-ctx-"));
});
after(() => {
  if (skip) return;
  t.cleanup();
  fs.rmSync(ctx, { recursive: true, force: true });
});

void test("a Debian image apt-get installs a package in RUN (through the mirror, default bridge network)", { skip, timeout: 20 * 60_000 }, () => {
  const imp = t.capsa(["import", debianRootfsTar(), "debian:bookworm"], { timeoutMs: 300_000 });
  assert.equal(imp.status, 0, imp.stderr);
  fs.writeFileSync(
    path.join(ctx, "Containerfile"),
    [
      "FROM debian:bookworm",
      "ENV DEBIAN_FRONTEND=noninteractive",
      "RUN apt-get update -q && apt-get install -y -q --no-install-recommends jq && rm -rf /var/lib/apt/lists/*",
      'CMD ["jq", "--version"]',
      "",
    ].join("\n"),
  );
  const r = t.capsa(["build", "-t", "deb-jq:1", ctx], { timeoutMs: 15 * 60_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /Setting up jq/);
  const run = t.capsa(["run", "--rm", "deb-jq:1"]);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^jq-1\.\d/);
  // The rebuild is all cache.
  const again = t.capsa(["build", "-t", "deb-jq:1", ctx], { timeoutMs: 120_000 });
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /Running in/);
});
