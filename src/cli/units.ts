// Sizes, durations and times the way docker's CLI parses and prints them
// (github.com/docker/go-units and Go's time package). Pure functions.
import { humanDuration } from "../util/duration.ts";

const BINARY: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** go-units RAMInBytes: "512m", "1g", "1.5GiB", "100" (bytes); binary multipliers. */
export function parseRamBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(s);
  if (!m) throw new Error(`invalid size: '${s}'`);
  const n = Number.parseFloat(m[1] ?? "");
  if (!Number.isFinite(n)) throw new Error(`invalid size: '${s}'`);
  return Math.trunc(n * (BINARY[(m[2] ?? "").toLowerCase()] ?? 1));
}

/** Go's fmt "%.{precision}g": shortest of fixed/exponent form, trailing zeros trimmed. */
export function formatG(x: number, precision: number): string {
  if (x === 0) return "0";
  const exp = Number(x.toExponential(precision - 1).split("e")[1]);
  if (exp < -4 || exp >= precision) {
    const [mant = "", e = "0"] = x.toExponential(precision - 1).split("e");
    const trimmed = mant.includes(".") ? mant.replace(/0+$/, "").replace(/\.$/, "") : mant;
    const en = Number(e);
    return `${trimmed}e${en < 0 ? "-" : "+"}${String(Math.abs(en)).padStart(2, "0")}`;
  }
  const fixed = x.toFixed(Math.max(0, precision - 1 - exp));
  return fixed.includes(".") ? fixed.replace(/0+$/, "").replace(/\.$/, "") : fixed;
}

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

function sizeAndUnit(size: number, base: number, units: string[]): [number, string] {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return [size, units[i] ?? "B"];
}

/** go-units HumanSizeWithPrecision: decimal units, "4.19MB". */
export function humanSize(bytes: number, precision = 3): string {
  const [n, u] = sizeAndUnit(bytes, 1000, DECIMAL_UNITS);
  return formatG(n, precision) + u;
}

/** go-units BytesSize: binary units with "%.4g", "1.5MiB". */
export function binarySize(bytes: number): string {
  const [n, u] = sizeAndUnit(bytes, 1024, BINARY_UNITS);
  return formatG(n, 4) + u;
}

export { humanDuration };

/** "2 minutes ago" for a time in unix milliseconds. */
export function timeAgo(whenMs: number, nowMs = Date.now()): string {
  return `${humanDuration(nowMs - whenMs)} ago`;
}

/** Go's time.Time.String() for a unix-seconds time: "2024-05-01 10:00:00 +0000 UTC". */
export function goTimeString(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const p = (n: number): string => String(n).padStart(2, "0");
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  let zone = "UTC";
  if (off !== 0) {
    zone =
      new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(d).find((x) => x.type === "timeZoneName")?.value ??
      `${sign}${p(Math.trunc(abs / 60))}`;
  }
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ` +
    `${sign}${p(Math.trunc(abs / 60))}${p(abs % 60)} ${zone}`
  );
}

/** Go's RFC3339Nano in UTC ("2024-01-01T10:00:00.1234Z": trailing zeros trimmed) from any RFC 3339 time. */
export function rfc3339NanoUtc(t: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$/.exec(t);
  if (!m) return t;
  const frac = (m[2] ?? "").replace(/0+$/, "");
  const zone = m[3] ?? "Z";
  let base = m[1] ?? "";
  if (zone !== "Z" && !/^[+-]00:?00$/.test(zone)) {
    base = new Date(`${base}${zone}`).toISOString().slice(0, 19);
  }
  return `${base}${frac ? "." + frac : ""}Z`;
}
