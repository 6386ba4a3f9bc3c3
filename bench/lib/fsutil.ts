// File-system helpers for the harness's private state directory.
import fs from "node:fs";

import { unmountBelow } from "../../src/snapshot/overlay.ts";

export { unmountBelow };

/** Removes dir after unmounting anything below it. */
export function removeTree(dir: string): void {
  unmountBelow(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The hard limit of a resource from /proc/self/limits ("Max open files", "Max processes"). */
export function hardLimit(name: string): number | undefined {
  const line = fs
    .readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith(name));
  const hard = line?.slice(name.length).trim().split(/\s+/)[1];
  if (!hard || hard === "unlimited") return undefined;
  return Number(hard);
}

/**
 * Paths an engine creates outside its private state no matter how it is
 * configured. Those absent before it ran are removed afterwards, files by
 * unlink and directories only when empty (never recursively: another user
 * of the same engine on this host may have put something there meanwhile).
 * List children before their parents.
 */
export class Leftovers {
  private readonly absent: string[];
  constructor(paths: string[]) {
    this.absent = paths.filter((p) => !fs.existsSync(p));
  }
  remove(): void {
    for (const p of this.absent) {
      try {
        if (fs.lstatSync(p).isDirectory()) fs.rmdirSync(p);
        else fs.unlinkSync(p);
      } catch {
        // gone already, or in use by someone else: leave it
      }
    }
  }
}

/** Every mounted cgroup hierarchy's root directory (one on v2; one per controller on v1). */
export function cgroupHierarchies(base = "/sys/fs/cgroup"): string[] {
  if (fs.existsSync(`${base}/cgroup.controllers`)) return [base];
  if (!fs.existsSync(base)) return [];
  return fs
    .readdirSync(base)
    .map((d) => `${base}/${d}`)
    .filter((d) => fs.existsSync(`${d}/cgroup.procs`) && !fs.lstatSync(d).isSymbolicLink());
}

function topCgroups(pattern: RegExp): Set<string> {
  const out = new Set<string>();
  for (const h of cgroupHierarchies()) {
    for (const e of fs.readdirSync(h, { withFileTypes: true })) if (e.isDirectory() && pattern.test(e.name)) out.add(`${h}/${e.name}`);
  }
  return out;
}

/** Removes an empty cgroup and its empty descendants, deepest first; false if any is in use. */
function rmdirCgroup(dir: string): boolean {
  let ok = true;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) ok = rmdirCgroup(`${dir}/${e.name}`) && ok;
  try {
    fs.rmdirSync(dir);
  } catch {
    ok = false;
  }
  return ok;
}

/**
 * Top-level cgroups an engine creates (docker's "docker", podman's
 * "libpod_parent") and leaves behind, empty, after its containers are gone:
 * those that appeared since construction are removed when empty.
 */
export class CgroupLeftovers {
  private readonly before: Set<string>;
  constructor(private readonly pattern: RegExp) {
    this.before = topCgroups(pattern);
  }
  /** The ones that appeared since construction. */
  fresh(): string[] {
    return [...topCgroups(this.pattern)].filter((d) => !this.before.has(d));
  }

  /** Returns how many were left behind, and how many of those could not be removed (still in use). */
  remove(): { left: number; busy: number } {
    let left = 0;
    let busy = 0;
    for (const dir of topCgroups(this.pattern)) {
      if (this.before.has(dir)) continue;
      left++;
      if (!rmdirCgroup(dir)) busy++;
    }
    return { left, busy };
  }
}
