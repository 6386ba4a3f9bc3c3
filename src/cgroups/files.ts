// Reading cgroup interface files: tolerant of files a kernel does not have.
import fs from "node:fs";
import path from "node:path";

export function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** A single-number file; "max" (v2's unlimited) and missing files give undefined. */
export function readNumber(file: string): number | undefined {
  const t = readText(file)?.trim();
  if (t === undefined || t === "" || t === "max") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat, memory.events, memory.oom_control). */
export function readFlatKeyed(file: string): Record<string, number> | undefined {
  const t = readText(file);
  if (t === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const line of t.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** The pids in cgroup.procs of dir and of every cgroup below it. */
export function readProcsRecursive(dir: string): number[] {
  const pids = new Set<number>();
  const walk = (d: string): void => {
    const t = readText(path.join(d, "cgroup.procs"));
    if (t === undefined) return;
    for (const l of t.split("\n")) if (/^\d+$/.test(l.trim())) pids.add(Number(l));
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      entries = [];
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  walk(dir);
  return [...pids].sort((a, b) => a - b);
}

/**
 * rmdir of a cgroup directory and its child cgroups, deepest first. A cgroup
 * directory holds only kernel interface files, which rmdir removes with it.
 * Missing directories are fine; anything else (EBUSY: processes left) throws.
 */
export function removeCgroupDir(dir: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  for (const e of entries) if (e.isDirectory()) removeCgroupDir(path.join(dir, e.name));
  try {
    fs.rmdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

/** Machine memory: docker reports it as the limit of a container without one. */
export function capToMachineMemory(limit: number | undefined, machine: number): number | undefined {
  if (limit === undefined) return machine;
  return machine > 0 && limit > machine ? machine : limit;
}
