// Memory of processes as PSS (proportional set size): shared pages are split
// among the processes sharing them, so N monitors sum to what they cost.
import fs from "node:fs";

/** PSS of one process in KiB, from /proc/<pid>/smaps_rollup; undefined when it is gone. */
export function pssKiB(pid: number): number | undefined {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function parentPid(pid: number): number | undefined {
  try {
    // The command name may contain spaces and parentheses: parse after the last ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[1]);
  } catch {
    return undefined;
  }
}

export function commandName(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Children of pid (all threads' children), from /proc/<pid>/task/<tid>/children. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const c = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (c) out.push(...c.split(" ").map(Number));
    }
  } catch {
    // gone
  }
  return out;
}
