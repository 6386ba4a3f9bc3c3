// Shared settings of the fuzz tests (property-based, fast-check).
//
// In the suite every property runs with a fixed seed and a run count sized to
// keep the whole of test/fuzz within a few minutes. scripts/fuzz.sh runs the
// same properties longer: CAPSA_FUZZ_SCALE multiplies every run count and the
// seed is random (fast-check prints it, with the path, when a property fails).
// To replay a failure: CAPSA_FUZZ_SEED=<seed> [CAPSA_FUZZ_PATH=<path>].
import v8 from "node:v8";
import vm from "node:vm";
import type { Parameters } from "fast-check";

const scale = Number(process.env.CAPSA_FUZZ_SCALE ?? "1");
const fixedSeed = process.env.CAPSA_FUZZ_SEED;

/** Parameters for fc.assert: the suite's fixed seed and runs, or the long run's. */
export function fuzzParams<T>(seed: number, numRuns: number, extra: Parameters<T> = {}): Parameters<T> {
  const p: Parameters<T> = { includeErrorInReport: true, ...extra, numRuns: Math.max(1, Math.round(numRuns * (Number.isFinite(scale) && scale > 0 ? scale : 1))) };
  if (fixedSeed !== undefined) {
    p.seed = Number(fixedSeed);
    if (process.env.CAPSA_FUZZ_PATH) p.path = process.env.CAPSA_FUZZ_PATH;
  } else if (scale === 1) p.seed = seed;
  // Otherwise fast-check draws a seed and prints it with any counterexample.
  return p;
}

/**
 * An error that is the JavaScript engine's, not the code's: a TypeError from a
 * missing field, a RangeError from runaway recursion or string growth. These
 * mean the input reached code that did not expect it. Wrapped ones (a plain
 * Error carrying their message) count too.
 */
export function isInternalError(e: unknown): boolean {
  if (e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError) return true;
  const msg = e instanceof Error ? e.message : String(e);
  return /Cannot read propert|Cannot set propert|is not a function|is not iterable|is not defined|Maximum call stack|Invalid (string|array|typed array) length|URI malformed|Cannot convert/.test(msg);
}

/** Describes a thrown value for an assertion message. */
export function describe(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
}

let gcFn: (() => void) | undefined;
/** A full garbage collection (exposed on demand, so no node flag is needed). */
export function gc(): void {
  if (!gcFn) {
    v8.setFlagsFromString("--expose-gc");
    gcFn = vm.runInNewContext("gc") as () => void;
  }
  gcFn();
}

/** The heap in use after a full collection, in bytes. */
export function heapAfterGc(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** Runs f and fails when it took longer than ms (a hang or catastrophic backtracking, not a slow machine: bounds are generous). */
export function timed<T>(what: string, ms: number, f: () => T): T {
  const t0 = performance.now();
  const r = f();
  const took = performance.now() - t0;
  if (took > ms) throw new Error(`${what} took ${Math.round(took)} ms (bound ${ms} ms)`);
  return r;
}
