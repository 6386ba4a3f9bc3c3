// The times --since and --until take (logs, events), as docker's CLI reads
// them (timetypes.GetTimestamp) before sending unix seconds to the engine.
import { parseGoDuration } from "./duration.ts";

/**
 * A --since/--until value in unix seconds (with a fraction): a Go duration
 * before `nowMs` ("10m", "1h30m"), an RFC 3339 time or date (local time when
 * it has no zone), or unix seconds ("1700000000.5"). "0" is unix second 0.
 */
export function parseTimestamp(value: string, nowMs = Date.now()): number {
  if (value !== "0") {
    try {
      return (nowMs - parseGoDuration(value) / 1e6) / 1000;
    } catch {
      // not a duration
    }
  }
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  if (value.includes("-") || value.includes(":")) {
    const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?))?(Z|[+-]\d{2}:?\d{2})?$/.exec(value);
    if (m) {
      // "2006-01-02T15" (the hour alone) is one of docker's layouts too.
      const time = m[2] === undefined ? "00:00:00" : m[2].length === 2 ? `${m[2]}:00` : m[2];
      const zone = m[3] ?? "";
      // JS Date parses date-time strings without a zone as local time, as docker does.
      const frac = /\.(\d+)/.exec(time)?.[1] ?? "";
      const base = new Date(`${m[1]}T${time.replace(/\.\d+/, "")}${zone}`).getTime();
      if (!Number.isNaN(base)) return base / 1000 + (frac ? Number(`0.${frac}`) : 0);
    }
  }
  throw new Error(`failed to parse value as time or duration: "${value}"`);
}
