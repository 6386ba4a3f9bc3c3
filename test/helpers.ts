// Shared fixtures for the test suite: a private state root per test, the real
// CLI bundle, and images built from Debian packages on this machine.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import { unmountBelow } from "../src/snapshot/overlay.ts";

export const REPO = path.resolve(import.meta.dirname, "..");
export const CLI = path.join(REPO, "bin", "capsa");
/** Fixtures that are slow to make (debootstrap) are cached here between runs. */
export const CACHE = process.env.CAPSA_TEST_CACHE ?? path.join(REPO, ".cache", "test");

export interface TestRoot {
  root: string;
  env: NodeJS.ProcessEnv;
  /** Runs the real CLI against this root. */
  capsa(args: string[], opts?: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv }): SpawnSyncReturns<string>;
  cleanup(): void;
}

/** A fresh state root (and run root inside it) that cleanup() tears down completely. */
export function makeTestRoot(label = "t"): TestRoot {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `capsa-${label}-`));
  const env: NodeJS.ProcessEnv = { ...process.env, CAPSA_ROOT: root };
  delete env.CAPSA_RUNROOT;
  const capsa: TestRoot["capsa"] = (args, opts = {}) =>
    spawnSync(CLI, [...args], {
      env: { ...env, ...opts.env },
      input: opts.input,
      encoding: "utf8",
      timeout: opts.timeoutMs ?? 60_000,
    });
  return {
    root,
    env,
    capsa,
    cleanup() {
      // `system reset` stops containers, unmounts and deletes everything the root holds.
      spawnSync(CLI, ["system", "reset", "--force"], { env, encoding: "utf8", timeout: 60_000 });
      unmountBelow(root);
      // Monitors' exit commands may still be finishing: retry while they let go of the root.
      fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    },
  };
}

/** Unmounts anything still mounted below dir, deepest first (a safety net for failed tests). */
export { unmountBelow };

function sh(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.error?.message}`);
}

/**
 * A root file system tarball made from Debian's busybox-static: busybox with
 * its applet links, /etc/passwd and /etc/group with root, nobody and a user
 * "app" (1000), and the usual empty directories.
 */
export function busyboxRootfsTar(): string {
  const out = path.join(CACHE, "busybox-rootfs.tar");
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(CACHE, { recursive: true });
  const dir = fs.mkdtempSync(path.join(CACHE, "bb-"));
  try {
    for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev", "root", "home/app", "var/www"]) {
      fs.mkdirSync(path.join(dir, d), { recursive: true });
    }
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(path.join(dir, "tmp"), 0o1777);
    fs.copyFileSync("/bin/busybox", path.join(dir, "bin/busybox"));
    fs.chmodSync(path.join(dir, "bin/busybox"), 0o755);
    const applets = spawnSync("/bin/busybox", ["--list-full"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    for (const a of applets) {
      const p = path.join(dir, a);
      if (fs.existsSync(p)) continue;
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.symlinkSync("/bin/busybox", p);
    }
    fs.writeFileSync(path.join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
    fs.writeFileSync(path.join(dir, "etc/group"), "root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n");
    fs.chownSync(path.join(dir, "home/app"), 1000, 1000);
    const tmp = out + ".tmp";
    sh("tar", ["--numeric-owner", "-C", dir, "-cf", tmp, "."]);
    fs.renameSync(tmp, out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** Imports the busybox rootfs into a test root under `ref` (default busybox:latest). */
export function importBusybox(t: TestRoot, ref = "busybox:latest"): void {
  const r = t.capsa(["import", busyboxRootfsTar(), ref]);
  if (r.status !== 0) throw new Error(`import failed: ${r.stderr}`);
}

/**
 * A state root with the busybox image for the tests of the calling suite: made
 * before they run, torn down after them (also when they fail). Call it in a
 * describe(); the returned function gives the root.
 */
export function useBusyboxRoot(label: string, ref?: string): () => TestRoot {
  let t: TestRoot | undefined;
  before(() => {
    t = makeTestRoot(label);
    importBusybox(t, ref);
  });
  after(() => t?.cleanup());
  return () => {
    if (!t) throw new Error(`the ${label} test root is not set up (useBusyboxRoot outside a suite?)`);
    return t;
  };
}

/** Podman on a private root, with its configuration in the test's temp dir only. */
export function podmanEnv(dir: string): { env: NodeJS.ProcessEnv; args: string[] } {
  const conf = path.join(dir, "containers.conf");
  fs.writeFileSync(conf, '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n');
  const storage = path.join(dir, "storage.conf");
  fs.writeFileSync(storage, `[storage]\ndriver = "vfs"\nrunroot = "${dir}/podman-run"\ngraphroot = "${dir}/podman-root"\n`);
  return {
    env: { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage, XDG_RUNTIME_DIR: path.join(dir, "xdg") },
    args: ["--root", path.join(dir, "podman-root"), "--runroot", path.join(dir, "podman-run"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"],
  };
}

/** Retries f (every 200 ms) until it returns without throwing, or rethrows its last error after `ms`. */
export async function eventually<T>(f: () => T | Promise<T>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
