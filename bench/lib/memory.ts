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

/** What one process costs, in KiB: PSS, RSS and USS (its private pages only). */
export interface ProcessMemory {
  pss: number;
  rss: number;
  uss: number;
}

/** Parses /proc/<pid>/smaps_rollup; undefined when a field is missing. */
export function parseSmapsRollup(text: string): ProcessMemory | undefined {
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const [pss, rss, clean, dirty] = [field("Pss"), field("Rss"), field("Private_Clean"), field("Private_Dirty")];
  if (pss === undefined || rss === undefined || clean === undefined || dirty === undefined) return undefined;
  return { pss, rss, uss: clean + dirty };
}

/** PSS, RSS and USS of one process; undefined when it is gone. */
export function processMemory(pid: number): ProcessMemory | undefined {
  try {
    return parseSmapsRollup(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  } catch {
    return undefined;
  }
}

/** pid and every process below it (children of children too), pid first. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const c of childPids(out[i]!)) if (!out.includes(c)) out.push(c);
  return out;
}

/** The sum over processes still alive; `alive` counts them. */
export function sumMemory(pids: readonly number[]): ProcessMemory & { alive: number } {
  const total = { pss: 0, rss: 0, uss: 0, alive: 0 };
  for (const pid of pids) {
    const m = processMemory(pid);
    if (!m) continue;
    total.pss += m.pss;
    total.rss += m.rss;
    total.uss += m.uss;
    total.alive++;
  }
  return total;
}
