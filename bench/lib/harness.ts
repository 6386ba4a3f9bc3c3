// What a scenario gets: the engines that work here, the run's options, and
// the interleaving discipline (A B C, B C A, C A B, … with warm-up rounds).
import type { ContainerSystem } from "../systems/system.ts";
import type { Metric } from "./results.ts";

export interface Options {
  short: boolean;
  /** Overrides each scenario's number of measured rounds. */
  rounds?: number;
  /** The system ratios are computed for (subject/peer). */
  subject: string;
}

export interface Harness {
  systems: ContainerSystem[];
  opts: Options;
  log(line: string): void;
  /** A container name unique to this bench run. */
  name(system: string, tag: string): string;
  /**
   * Registers a stop for something a scenario started outside the engines (a
   * registry): run at clean-up, before the engines', also on SIGINT/SIGTERM.
   * The scenario still stops it itself when done; fn must tolerate a second call.
   */
  defer(fn: () => Promise<void>): void;
}

export interface Scenario {
  id: string;
  title: string;
  describe: string;
  /** The systems this scenario compares, whatever --systems says (default: the run's systems). */
  systems?: string[];
  /** Debian packages it needs besides the engines' (installed with them unless --no-install). */
  packages?: string[];
  run(h: Harness): Promise<Metric[]>;
}

/** The systems in round r's order: rotated by r, so nobody always goes first. */
export function rotation<T>(items: readonly T[], r: number): T[] {
  const k = items.length ? r % items.length : 0;
  return [...items.slice(k), ...items.slice(0, k)];
}

/**
 * Runs `warmup` discarded rounds, then `rounds` measured ones; in each round
 * every system runs once, in rotated order. fn's result is the round's value.
 */
export async function interleaved(
  h: Harness,
  rounds: number,
  warmup: number,
  fn: (sys: ContainerSystem, round: number) => Promise<void>,
): Promise<void> {
  for (let r = -warmup; r < rounds; r++) {
    for (const sys of rotation(h.systems, r + warmup)) await fn(sys, r);
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
