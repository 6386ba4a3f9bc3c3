// Go durations (time.ParseDuration, cases from Go's own time_test.go) and the
// --since/--until times that logs and events share.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseGoDuration } from "../../src/util/duration.ts";
import { parseTimestamp } from "../../src/util/timestamp.ts";

const SECOND = 1e9;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

void describe("parseGoDuration (Go's time.ParseDuration)", () => {
  void it("reads what Go reads", () => {
    const cases: [string, number][] = [
      ["0", 0],
      ["-0", 0],
      ["+0", 0],
      ["5s", 5 * SECOND],
      ["-5s", -5 * SECOND],
      ["+5s", 5 * SECOND],
      ["5.6s", 5.6 * SECOND],
      ["5.s", 5 * SECOND],
      [".5s", 0.5 * SECOND],
      ["1.004s", 1.004 * SECOND],
      ["100.00100s", 100 * SECOND + 1e6],
      ["10ns", 10],
      ["11us", 11e3],
      ["12µs", 12e3], // U+00B5
      ["12μs", 12e3], // U+03BC
      ["13ms", 13e6],
      ["15m", 15 * MINUTE],
      ["16h", 16 * HOUR],
      ["1h30m", 90 * MINUTE],
      ["10.5s4m", 4 * MINUTE + 10.5 * SECOND],
      ["-2m3.4s", -(2 * MINUTE + 3.4 * SECOND)],
      ["1h2m3s4ms5us6ns", HOUR + 2 * MINUTE + 3 * SECOND + 4e6 + 5e3 + 6],
      ["39h9m14.425s", 39 * HOUR + 9 * MINUTE + 14.425 * SECOND],
      ["0.3333333333333333333h", 20 * MINUTE],
      ["0.830103483285477580700h", 49 * MINUTE + 48 * SECOND + 372539827],
      ["-9223372036854775808ns", -(2 ** 63)],
    ];
    for (const [text, ns] of cases) assert.equal(parseGoDuration(text), ns, text);
  });
  void it("refuses what Go refuses, with Go's messages", () => {
    for (const text of ["", "-", "s", ".", "-.", ".s", "+.s"]) {
      assert.throws(() => parseGoDuration(text), { message: `time: invalid duration ${JSON.stringify(text)}` }, text);
    }
    assert.throws(() => parseGoDuration("10"), { message: 'time: missing unit in duration "10"' });
    assert.throws(() => parseGoDuration("1h30"), { message: 'time: missing unit in duration "1h30"' });
    assert.throws(() => parseGoDuration("1.5.s"), { message: 'time: missing unit in duration "1.5.s"' });
    assert.throws(() => parseGoDuration("1d"), { message: 'time: unknown unit "d" in duration "1d"' });
    assert.throws(() => parseGoDuration("1 s"), { message: 'time: unknown unit " s" in duration "1 s"' });
    assert.throws(() => parseGoDuration("1H"), { message: 'time: unknown unit "H" in duration "1H"' });
    assert.throws(() => parseGoDuration("\uFFFD"), { message: 'time: invalid duration "\\xef\\xbf\\xbd"' });
    assert.throws(() => parseGoDuration('1"'), { message: 'time: unknown unit "\\"" in duration "1\\""' });
  });
  void it("refuses what does not fit in int64 nanoseconds", () => {
    for (const text of ["9223372036854775808ns", "9223372036854775810ns", "-9223372036854775809ns", "9223372036854776us", "3000000h", "9223372036854775.808us", "9223372036854ms775us808ns"]) {
      assert.throws(() => parseGoDuration(text), { message: `time: invalid duration "${text}"` }, text);
    }
  });
});

void describe("parseTimestamp (--since/--until of logs and events)", () => {
  const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);
  void it("takes a Go duration before now, with several units (logs and events once disagreed on 1h30m)", () => {
    assert.equal(parseTimestamp("10m", NOW), NOW / 1000 - 600);
    assert.equal(parseTimestamp("1h30m", NOW), NOW / 1000 - 5400);
    assert.equal(parseTimestamp("1.5h", NOW), NOW / 1000 - 5400);
    assert.equal(parseTimestamp("500ms", NOW), NOW / 1000 - 0.5);
    assert.equal(parseTimestamp("-1m", NOW), NOW / 1000 + 60);
  });
  void it("takes unix seconds, with a fraction; 0 is the epoch", () => {
    assert.equal(parseTimestamp("0", NOW), 0);
    assert.equal(parseTimestamp("1700000000", NOW), 1700000000);
    assert.equal(parseTimestamp("1700000000.25", NOW), 1700000000.25);
  });
  void it("takes RFC 3339 times and dates, local without a zone", () => {
    assert.equal(parseTimestamp("2024-01-01T10:00:00Z", NOW), Date.UTC(2024, 0, 1, 10) / 1000);
    assert.equal(parseTimestamp("2024-01-01T10:00:00.5+02:00", NOW), Date.UTC(2024, 0, 1, 8) / 1000 + 0.5);
    assert.equal(parseTimestamp("2024-01-01T10:30Z", NOW), Date.UTC(2024, 0, 1, 10, 30) / 1000);
    assert.equal(parseTimestamp("2024-01-01T10Z", NOW), Date.UTC(2024, 0, 1, 10) / 1000);
    assert.equal(parseTimestamp("2024-01-01", NOW), new Date(2024, 0, 1).getTime() / 1000);
    assert.equal(parseTimestamp("2024-01-01T10:00:00", NOW), new Date(2024, 0, 1, 10).getTime() / 1000);
  });
  void it("refuses anything else with docker's message", () => {
    for (const text of ["yesterday", "1d", "2024-13-45", "1e9", "-5"]) {
      assert.throws(() => parseTimestamp(text, NOW), { message: `failed to parse value as time or duration: "${text}"` }, text);
    }
  });
});
