import path from "node:path";
import type { CgroupStats } from "../types.ts";
import { readText } from "../files.ts";

type Entry = { major: number; minor: number; op: string; value: number };

function parse(text: string | undefined): Entry[] {
  const out: Entry[] = [];
  for (const line of (text ?? "").split("\n")) {
    // "8:0 Read 4096"; the trailing "Total N" line has no device and is left out, as runc does.
    const m = /^(\d+):(\d+)\s+(\S+)\s+(\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3] ?? "", value: Number(m[4]) });
  }
  return out;
}

/** The CFQ/BFQ counters when the scheduler keeps them, else the throttle layer's (which every kernel has). */
export function blkioStats(dir: string): CgroupStats["blkio_stats"] {
  let entries = parse(readText(path.join(dir, "blkio.io_service_bytes_recursive")));
  if (entries.length === 0) entries = parse(readText(path.join(dir, "blkio.throttle.io_service_bytes_recursive")));
  return { io_service_bytes_recursive: entries };
}
