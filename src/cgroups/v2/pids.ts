import path from "node:path";
import type { CgroupStats } from "../types.ts";
import { readNumber } from "../files.ts";

export function pidsStats(dir: string): CgroupStats["pids_stats"] {
  const out: CgroupStats["pids_stats"] = {};
  const current = readNumber(path.join(dir, "pids.current"));
  if (current !== undefined) out.current = current;
  const limit = readNumber(path.join(dir, "pids.max"));
  if (limit !== undefined) out.limit = limit;
  return out;
}
