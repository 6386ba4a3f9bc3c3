// bin/capsa, the launcher: which runtime runs the CLI bundle. It runs here on
// a package layout of its own whose dist/cli.js only reports what runs it, so
// each choice is seen directly: Bun when its npm binary is installed (in the
// package or hoisted beside it), Node otherwise, for the API service, and
// when CAPSA_JS_RUNTIME says so.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { CLI, REPO } from "../helpers.ts";

const oven = path.join(REPO, "node_modules", "@oven");
const realBun = (fs.existsSync(oven) ? fs.readdirSync(oven) : []).map((d) => path.join(oven, d, "bin", "bun")).find((b) => fs.existsSync(b));
const REPORT = `process.stdout.write(JSON.stringify({ runtime: process.versions.bun ? "bun" : "node", args: process.argv.slice(2), fromDotEnv: process.env.FROM_DOT_ENV ?? null }));\n`;

/** A package: bin/capsa, a dist/cli.js that reports, and optionally the Bun binary in its node_modules. */
function makePackage(dir: string, withBun: boolean): string {
  fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
  fs.mkdirSync(path.join(dir, "dist"), { recursive: true });
  fs.copyFileSync(CLI, path.join(dir, "bin", "capsa"));
  fs.chmodSync(path.join(dir, "bin", "capsa"), 0o755);
  fs.writeFileSync(path.join(dir, "package.json"), '{ "type": "module" }\n');
  fs.writeFileSync(path.join(dir, "dist", "cli.js"), REPORT);
  if (withBun) addBun(path.join(dir, "node_modules"));
  return path.join(dir, "bin", "capsa");
}

function addBun(nodeModules: string): void {
  const bin = path.join(nodeModules, "@oven", "bun-linux-x64-baseline", "bin");
  fs.mkdirSync(bin, { recursive: true });
  fs.symlinkSync(realBun!, path.join(bin, "bun"));
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-launcher-"));

function launch(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = tmp): { status: number | null; stderr: string; out?: { runtime: string; args: string[]; fromDotEnv: string | null } } {
  const e = { ...process.env, ...env };
  if (!("CAPSA_JS_RUNTIME" in env)) delete e.CAPSA_JS_RUNTIME;
  const r = spawnSync(cmd, args, { env: e, cwd, encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stderr: r.stderr, out: r.status === 0 ? (JSON.parse(r.stdout) as never) : undefined };
}

void describe("bin/capsa", { skip: !realBun && "no Bun binary in node_modules/@oven" }, () => {
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const withBun = makePackage(path.join(tmp, "with-bun"), true);
  const nodeOnly = makePackage(path.join(tmp, "node-only"), false);

  void it("runs the CLI under Bun when the package has it, with the arguments as given; CAPSA_JS_RUNTIME=node picks Node", () => {
    assert.deepEqual(launch(withBun, ["run", "--rm", "a b", ""]).out, { runtime: "bun", args: ["run", "--rm", "a b", ""], fromDotEnv: null });
    assert.equal(launch(withBun, ["ps"], { CAPSA_JS_RUNTIME: "node" }).out?.runtime, "node");
    assert.equal(launch(withBun, ["ps"], { CAPSA_JS_RUNTIME: "bun" }).out?.runtime, "bun");
  });

  void it("runs the API service under Node unless CAPSA_JS_RUNTIME says bun", () => {
    assert.equal(launch(withBun, ["system", "service", "--host", "unix:///x"]).out?.runtime, "node");
    assert.equal(launch(withBun, ["system", "service"], { CAPSA_JS_RUNTIME: "bun" }).out?.runtime, "bun");
    assert.equal(launch(withBun, ["system", "df"]).out?.runtime, "bun");
  });

  void it("a Node-only install runs under Node; asking for Bun there, or for anything else, is a one-line error with exit 125", () => {
    assert.equal(launch(nodeOnly, ["ps"]).out?.runtime, "node");
    const bun = launch(nodeOnly, ["ps"], { CAPSA_JS_RUNTIME: "bun" });
    assert.equal(bun.status, 125);
    assert.match(bun.stderr, /^capsa: CAPSA_JS_RUNTIME=bun, but no Bun binary is installed .*\n$/);
    const bad = launch(withBun, ["ps"], { CAPSA_JS_RUNTIME: "deno" });
    assert.equal(bad.status, 125);
    assert.equal(bad.stderr, "capsa: CAPSA_JS_RUNTIME must be node or bun, not 'deno'\n");
  });

  void it("finds its package through a symlink (npm's .bin) and a Bun binary hoisted into the node_modules it was installed in", () => {
    const link = path.join(tmp, "capsa-link");
    fs.symlinkSync(withBun, link);
    assert.equal(launch(link, ["ps"]).out?.runtime, "bun");
    const hoisted = path.join(tmp, "app", "node_modules");
    const installed = makePackage(path.join(hoisted, "capsa"), false);
    addBun(hoisted);
    assert.equal(launch(installed, ["ps"]).out?.runtime, "bun");
  });

  void it("ignores the working directory's .env and bunfig.toml", () => {
    const cwd = path.join(tmp, "project");
    fs.mkdirSync(cwd);
    fs.writeFileSync(path.join(cwd, ".env"), "FROM_DOT_ENV=yes\n");
    fs.writeFileSync(path.join(cwd, "preload.js"), 'process.stdout.write("preloaded ");\n');
    fs.writeFileSync(path.join(cwd, "bunfig.toml"), 'preload = ["./preload.js"]\n');
    assert.deepEqual(launch(withBun, ["ps"], {}, cwd).out, { runtime: "bun", args: ["ps"], fromDotEnv: null });
  });

  void it("is also a JavaScript module: `node bin/capsa` runs the CLI under that Node", () => {
    const r = spawnSync(process.execPath, [withBun, "ps"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { runtime: string }).runtime, "node");
  });
});
