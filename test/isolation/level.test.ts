// Which isolation level a new container gets: --isolation, then
// CAPSA_ISOLATION, then the engine config file, then "container".
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { isolationOf, resolveIsolation } from "../../src/isolation/level.ts";
import { CapsaError } from "../../src/util/errors.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-level-"));
const conf = (text: string): NodeJS.ProcessEnv => {
  const f = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(f, text);
  return { CAPSA_CONFIG: f };
};
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

void test("the flag wins, then the environment, then the engine config, then container", () => {
  const env = { ...conf('{ "isolation": "sandbox" }'), CAPSA_ISOLATION: "vm" };
  assert.equal(resolveIsolation("container", env), "container");
  assert.equal(resolveIsolation(undefined, env), "vm");
  assert.equal(resolveIsolation("default", env), "vm", "docker's --isolation default means the engine's default");
  assert.equal(resolveIsolation(undefined, conf('{ "isolation": "sandbox" }')), "sandbox");
  assert.equal(resolveIsolation(undefined, { CAPSA_CONFIG: path.join(dir, "missing.json") }), "container", "no config file: the default");
  assert.equal(resolveIsolation("VM", {}), "vm", "case does not matter");
});

void test("bad values fail clearly with docker's 125, naming where they came from", () => {
  const bad = (f: () => unknown, re: RegExp): void =>
    assert.throws(f, (e: unknown) => e instanceof CapsaError && e.exitCode === 125 && re.test(e.message));
  bad(() => resolveIsolation("hyperv", {}), /invalid isolation 'hyperv' \(--isolation\)/);
  bad(() => resolveIsolation(undefined, { CAPSA_ISOLATION: "kvm" }), /CAPSA_ISOLATION/);
  const env = conf('{ "isolation": "process" }');
  bad(() => resolveIsolation(undefined, env), new RegExp(env.CAPSA_CONFIG!.replace(/[.]/g, "\\.")));
  bad(() => resolveIsolation(undefined, conf("{ not json")), /not valid JSON/);
  bad(() => resolveIsolation(undefined, conf("[1]")), /expected a JSON object/);
});

void test("records made before levels existed are containers", () => {
  assert.equal(isolationOf({}), "container");
  assert.equal(isolationOf({ Isolation: "" }), "container");
  assert.equal(isolationOf({ Isolation: "vm" }), "vm");
});
