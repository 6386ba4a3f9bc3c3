import path from "node:path";
import type { CgroupStats } from "../types.ts";
import { readText } from "../files.ts";

/** io.stat: "8:0 rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…" → docker's "read"/"write" entries. */
export function ioStats(dir: string): CgroupStats["blkio_stats"] {
  const text = readText(path.join(dir, "io.stat"));
  if (text === undefined) return { io_service_bytes_recursive: null };
  const entries: NonNullable<CgroupStats["blkio_stats"]["io_service_bytes_recursive"]> = [];
  for (const line of text.split("\n")) {
    const [dev, ...fields] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? "");
    if (!m) continue;
    const kv: Record<string, number> = {};
    for (const f of fields) {
      const [k, v] = f.split("=");
      if (k && v !== undefined) kv[k] = Number(v);
    }
    const major = Number(m[1]);
    const minor = Number(m[2]);
    entries.push({ major, minor, op: "read", value: kv.rbytes ?? 0 }, { major, minor, op: "write", value: kv.wbytes ?? 0 });
  }
  return { io_service_bytes_recursive: entries };
}
