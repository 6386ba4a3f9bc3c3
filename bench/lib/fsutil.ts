// File-system helpers for the harness's private state directory.
import { spawnSync } from "node:child_process";
import fs from "node:fs";

/** Unmounts everything mounted at or below dir, deepest first. */
export function unmountBelow(dir: string): void {
  const mounts = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + "/")))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync("umount", ["-l", m]);
}

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
 * configured: remember which are absent before it runs, remove those after.
 */
export class Leftovers {
  private readonly absent: string[];
  constructor(paths: string[]) {
    this.absent = paths.filter((p) => !fs.existsSync(p));
  }
  remove(): void {
    for (const p of this.absent) fs.rmSync(p, { recursive: true, force: true });
  }
}
