// Real containers for the runtime tests: a busybox rootfs extracted into a
// private temp dir, a spec from buildSpec, and `runc run` with a private
// --root and a unique id. Everything (runtime state, cgroups, netns, files)
// is removed in cleanup(), which the tests call in `finally`.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { busyboxRootfsTar } from "../helpers.ts";
import { cgroupManager, cgroupParent, containerCgroupsPath } from "../../src/cgroups/index.ts";
import { specToJson, type RuntimeSpec } from "../../src/runtime/oci.ts";
import { buildSpec, type SpecInput } from "../../src/runtime/spec.ts";
import { resolveUser } from "../../src/runtime/user.ts";

export const RUNC = "/usr/sbin/runc";

export interface Sandbox {
  dir: string;
  rootfs: string;
  stateRoot: string;
  /** A unique container id. */
  newId(): string;
  /** buildSpec for the busybox rootfs with overrides; `script` runs under /bin/sh -c. */
  spec(script: string, overrides?: Partial<SpecInput> & { user?: SpecInput["user"] }): { id: string; spec: RuntimeSpec; cgroupsPath: string };
  /** Runs the container to completion in the foreground: runc's exit status is the container's. */
  run(script: string, overrides?: Partial<SpecInput>, timeoutMs?: number): SpawnSyncReturns<string> & { id: string; cgroupsPath: string };
  /**
   * Starts the container detached (stdout/stderr to files) and waits until it
   * has stopped; its runtime state and cgroup stay until cleanup or delete.
   */
  runDetached(script: string, overrides?: Partial<SpecInput>, timeoutMs?: number): Promise<{ id: string; cgroupsPath: string; stdout: string; stderr: string }>;
  /** Writes a bundle for `spec` and returns its directory. */
  bundle(id: string, spec: RuntimeSpec): string;
  /** A network namespace with loopback up (removed in cleanup). */
  netns(): string;
  cleanup(): void;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

export function makeSandbox(label: string): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `capsa-rt-${label}-`));
  const rootfs = path.join(dir, "rootfs");
  const stateRoot = path.join(dir, "state");
  fs.mkdirSync(rootfs);
  sh("tar", ["--numeric-owner", "-xf", busyboxRootfsTar(), "-C", rootfs]);
  // The fixture tarball's "." entry carries mkdtemp's 0700; a non-root user could not even reach /bin.
  fs.chmodSync(rootfs, 0o755);
  const ids: string[] = [];
  const netnsNames: string[] = [];
  const paths = { root: dir };
  const newId = (): string => {
    const id = `capsa-t-${label}-${randomBytes(4).toString("hex")}`;
    ids.push(id);
    return id;
  };
  const sb: Sandbox = {
    dir,
    rootfs,
    stateRoot,
    newId,
    spec(script, overrides = {}) {
      const id = newId();
      const cgroupsPath = containerCgroupsPath(paths, id);
      const hostConfig = overrides.hostConfig ?? {};
      const input: SpecInput = {
        id,
        rootfs,
        config: {},
        hostConfig,
        args: ["/bin/sh", "-c", script],
        env: [],
        cwd: "/",
        user: resolveUser(rootfs, undefined, hostConfig.GroupAdd ?? []),
        network: { mode: "none" },
        cgroupsPath,
        volumePath: (name) => {
          const p = path.join(dir, "volumes", name || randomBytes(8).toString("hex"));
          fs.mkdirSync(p, { recursive: true });
          return p;
        },
        ...overrides,
      };
      return { id, spec: buildSpec(input), cgroupsPath };
    },
    bundle(id, spec) {
      const b = path.join(dir, "bundles", id);
      fs.mkdirSync(b, { recursive: true });
      fs.writeFileSync(path.join(b, "config.json"), specToJson(spec));
      return b;
    },
    run(script, overrides = {}, timeoutMs = 30_000) {
      const { id, spec, cgroupsPath } = sb.spec(script, overrides);
      const b = sb.bundle(id, spec);
      const r = spawnSync(RUNC, ["--root", stateRoot, "run", "--bundle", b, id], { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
      return Object.assign(r, { id, cgroupsPath });
    },
    async runDetached(script, overrides = {}, timeoutMs = 30_000) {
      const { id, spec, cgroupsPath } = sb.spec(script, overrides);
      const b = sb.bundle(id, spec);
      const out = path.join(b, "stdout");
      const err = path.join(b, "stderr");
      const fds = [fs.openSync(out, "w"), fs.openSync(err, "w")];
      try {
        const r = spawnSync(RUNC, ["--root", stateRoot, "run", "--detach", "--bundle", b, id], { encoding: "utf8", stdio: ["ignore", fds[0], fds[1]] });
        if (r.status !== 0) throw new Error(`runc run -d: ${fs.readFileSync(err, "utf8")}`);
      } finally {
        for (const fd of fds) fs.closeSync(fd);
      }
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const st = spawnSync(RUNC, ["--root", stateRoot, "state", id], { encoding: "utf8" });
        if (st.status === 0 && (JSON.parse(st.stdout) as { status: string }).status === "stopped") break;
        if (Date.now() > deadline) throw new Error(`container ${id} still running after ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 20));
      }
      return { id, cgroupsPath, stdout: fs.readFileSync(out, "utf8"), stderr: fs.readFileSync(err, "utf8") };
    },
    netns() {
      const name = `capsa-t-${randomBytes(4).toString("hex")}`;
      sh("ip", ["netns", "add", name]);
      netnsNames.push(name);
      sh("ip", ["-n", name, "link", "set", "lo", "up"]);
      return `/var/run/netns/${name}`;
    },
    cleanup() {
      for (const id of ids) spawnSync(RUNC, ["--root", stateRoot, "delete", "--force", id], { encoding: "utf8" });
      const mgr = cgroupManager();
      for (const id of ids) {
        try {
          mgr.cleanup(containerCgroupsPath(paths, id));
        } catch {
          /* reported below if the parent cannot go either */
        }
      }
      mgr.cleanup(cgroupParent(paths));
      for (const n of netnsNames) spawnSync("ip", ["netns", "delete", n]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return sb;
}

/** A "Key:\tvalue" line of /proc/<pid>/status-like output. */
export function statusField(text: string, key: string): string | undefined {
  return new RegExp(`^${key}:\\s*(.*)$`, "m").exec(text)?.[1]?.trim();
}

/** Runs fn with a fresh sandbox and always cleans it up. */
export async function withSandbox<T>(label: string, fn: (sb: Sandbox) => T | Promise<T>): Promise<T> {
  const sb = makeSandbox(label);
  try {
    return await fn(sb);
  } finally {
    sb.cleanup();
  }
}
