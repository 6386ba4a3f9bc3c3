// Durations: docker prints them the go-units way ("Up 3 seconds") and takes
// them the way Go's time.ParseDuration reads them ("1h30m", "1.5s", "300ms").

/** go-units HumanDuration, from milliseconds: "Less than a second", "About a minute", "3 hours". */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

// Nanoseconds per unit; "µs" is U+00B5 (micro sign), "μs" U+03BC (Greek mu), as Go accepts both.
const UNIT_NANOS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  "µs": 1_000n,
  "μs": 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

// Go's durations are int64 nanoseconds; the parser works in uint64 and checks against 2^63.
const LIMIT = 1n << 63n;

/** Go's time.quote (not strconv.Quote), used in ParseDuration's errors: bytes outside printable ASCII as \xNN. */
function timeQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0x80 || code < 0x20) {
      for (const byte of Buffer.from(ch, "utf8")) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    } else {
      out += ch === '"' || ch === "\\" ? `\\${ch}` : ch;
    }
  }
  return out + '"';
}

/** The leading fraction digits as Go reads them: digits past what fits in 63 bits are skipped. */
function leadingFraction(digits: string): { value: bigint; scale: number } {
  let value = 0n;
  let scale = 1;
  for (const c of digits) {
    if (value > (LIMIT - 1n) / 10n) break;
    const next = value * 10n + BigInt(c);
    if (next > LIMIT) break;
    value = next;
    scale *= 10;
  }
  return { value, scale };
}

/**
 * Go's time.ParseDuration, in nanoseconds: an optional sign, then one or more
 * decimal numbers each with a unit ("1h30m", "1.5s", "-2m", ".5us", "300µs");
 * "0" needs no unit. Throws Go's own messages ("time: invalid duration \"x\"",
 * "time: missing unit in duration \"10\"", "time: unknown unit \"d\" in duration \"1d\"").
 */
export function parseGoDuration(text: string): number {
  const invalidDuration = (): Error => new Error(`time: invalid duration ${timeQuote(text)}`);
  let rest = text;
  let negative = false;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    negative = rest.startsWith("-");
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw invalidDuration();
  let total = 0n;
  while (rest !== "") {
    const number = /^(\d*)(?:\.(\d*))?/.exec(rest);
    const whole = number?.[1] ?? "";
    const fraction = number?.[2];
    // ".s" and "-.s" have no digits at all.
    if (whole === "" && !fraction) throw invalidDuration();
    let value = whole === "" ? 0n : BigInt(whole);
    if (value > LIMIT) throw invalidDuration();
    rest = rest.slice(number?.[0].length ?? 0);
    const unitLength = /^[^0-9.]*/.exec(rest)?.[0].length ?? 0;
    if (unitLength === 0) throw new Error(`time: missing unit in duration ${timeQuote(text)}`);
    const unitName = rest.slice(0, unitLength);
    rest = rest.slice(unitLength);
    const unit = UNIT_NANOS[unitName];
    if (unit === undefined) throw new Error(`time: unknown unit ${timeQuote(unitName)} in duration ${timeQuote(text)}`);
    if (value > LIMIT / unit) throw invalidDuration();
    value *= unit;
    const f = leadingFraction(fraction ?? "");
    if (f.value > 0n) {
      // As Go: float64 keeps fractions of hours nanosecond-accurate; the product is truncated.
      value += BigInt(Math.trunc(Number(f.value) * (Number(unit) / f.scale)));
      if (value > LIMIT) throw invalidDuration();
    }
    total += value;
    if (total > LIMIT) throw invalidDuration();
  }
  if (!negative && total > LIMIT - 1n) throw invalidDuration();
  return Number(negative ? -total : total);
}
