// --ulimit: only the limits asked for are set (the process inherits the rest),
// and never above the current hard limit: raising one needs CAP_SYS_RESOURCE
// (and, for nofile, fs.nr_open), which capsa may not have; failing here gives
// a clear message instead of a runtime error at start.
import fs from "node:fs";
import type { Ulimit } from "../types/records.ts";
import { invalid } from "../util/errors.ts";
import { type OciRlimit, RLIM_INFINITY } from "./oci.ts";

/** docker's --ulimit names → RLIMIT_* and the row title in /proc/self/limits. */
const RLIMITS: Record<string, { type: string; title: string }> = {
  core: { type: "RLIMIT_CORE", title: "Max core file size" },
  cpu: { type: "RLIMIT_CPU", title: "Max cpu time" },
  data: { type: "RLIMIT_DATA", title: "Max data size" },
  fsize: { type: "RLIMIT_FSIZE", title: "Max file size" },
  locks: { type: "RLIMIT_LOCKS", title: "Max file locks" },
  memlock: { type: "RLIMIT_MEMLOCK", title: "Max locked memory" },
  msgqueue: { type: "RLIMIT_MSGQUEUE", title: "Max msgqueue size" },
  nice: { type: "RLIMIT_NICE", title: "Max nice priority" },
  nofile: { type: "RLIMIT_NOFILE", title: "Max open files" },
  nproc: { type: "RLIMIT_NPROC", title: "Max processes" },
  rss: { type: "RLIMIT_RSS", title: "Max resident set" },
  rtprio: { type: "RLIMIT_RTPRIO", title: "Max realtime priority" },
  rttime: { type: "RLIMIT_RTTIME", title: "Max realtime timeout" },
  sigpending: { type: "RLIMIT_SIGPENDING", title: "Max pending signals" },
  stack: { type: "RLIMIT_STACK", title: "Max stack size" },
  as: { type: "RLIMIT_AS", title: "Max address space" },
};

/** The current hard limits of this process by --ulimit name (Infinity for unlimited), from /proc/self/limits. */
export function currentHardLimits(limits: string = fs.readFileSync("/proc/self/limits", "utf8")): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, { title }] of Object.entries(RLIMITS)) {
    const line = limits.split("\n").find((l) => l.startsWith(title));
    if (!line) continue;
    const fields = line.slice(title.length).trim().split(/\s+/);
    const hard = fields[1];
    if (hard !== undefined) out[name] = hard === "unlimited" ? RLIM_INFINITY : Number(hard);
  }
  return out;
}

const asLimit = (v: number): number => (v < 0 ? RLIM_INFINITY : v);
const show = (v: number): string => (v === RLIM_INFINITY ? "unlimited" : String(v));

export function buildRlimits(ulimits: Ulimit[] | undefined, hardLimits: Record<string, number> = currentHardLimits()): OciRlimit[] {
  const out: OciRlimit[] = [];
  for (const u of ulimits ?? []) {
    const def = RLIMITS[u.Name];
    if (!def) throw invalid(`invalid ulimit type: ${u.Name}`);
    const soft = asLimit(u.Soft);
    const hard = asLimit(u.Hard);
    if (soft > hard) throw invalid(`ulimit ${u.Name}: soft limit ${show(soft)} is above the hard limit ${show(hard)}`);
    const max = hardLimits[u.Name];
    if (max !== undefined && hard > max) {
      throw invalid(`ulimit ${u.Name}: hard limit ${show(hard)} is above the current hard limit ${show(max)}; capsa does not raise limits`);
    }
    const existing = out.findIndex((r) => r.type === def.type);
    if (existing >= 0) out.splice(existing, 1);
    out.push({ type: def.type, soft, hard });
  }
  return out;
}
