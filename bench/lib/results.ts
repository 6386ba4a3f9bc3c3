// Collected measurements and what the report derives from them.
import { pairedRatios, summarize, type Summary } from "./stats.ts";

export type RatioMethod = "paired" | "medians" | "none";

export interface Metric {
  id: string;
  scenario: string;
  title: string;
  /** Mbit/s: a throughput, where higher is better (and a ratio above 1 means the subject is faster). */
  unit: "ms" | "KiB" | "Mbit/s";
  /**
   * Per system, one value per sample; for "paired" metrics sample i of every
   * system belongs to round i (they ran back to back). null: that run failed.
   */
  samples: Record<string, (number | null)[]>;
  summary: Record<string, Summary>;
  /** subject/peer for each peer: medians and spread of per-round ratios, or a ratio of medians. */
  ratios: Record<string, Summary>;
  ratioMethod: RatioMethod;
  /** The system the ratios are for (subject/peer), when not the report's subject. */
  subject?: string;
  errors: Record<string, string[]>;
}

export class Recorder {
  private readonly metrics = new Map<string, Omit<Metric, "summary" | "ratios">>();

  constructor(private readonly scenario: string) {}

  define(id: string, title: string, unit: Metric["unit"], ratioMethod: RatioMethod): void {
    this.metrics.set(id, { id: `${this.scenario}.${id}`, scenario: this.scenario, title, unit, ratioMethod, samples: {}, errors: {} });
  }

  private get(id: string) {
    const m = this.metrics.get(id);
    if (!m) throw new Error(`metric ${id} not defined`);
    return m;
  }

  /** Sets sample i (a round, or a container) of a system. */
  set(id: string, system: string, i: number, value: number | null): void {
    const s = (this.get(id).samples[system] ??= []);
    while (s.length <= i) s.push(null);
    s[i] = value;
  }

  push(id: string, system: string, value: number | null): void {
    (this.get(id).samples[system] ??= []).push(value);
  }

  error(id: string, system: string, message: string): void {
    const e = (this.get(id).errors[system] ??= []);
    if (e.length < 5 && !e.includes(message)) e.push(message);
  }

  finish(subject: string): Metric[] {
    return [...this.metrics.values()].map((m) => finishMetric(m, subject));
  }
}

export function finishMetric(m: Omit<Metric, "summary" | "ratios">, subject: string): Metric {
  const valid = (xs: (number | null)[]) => xs.filter((x): x is number => x !== null && Number.isFinite(x));
  const summary: Record<string, Summary> = {};
  for (const [sys, xs] of Object.entries(m.samples)) summary[sys] = summarize(valid(xs));
  const ratios: Record<string, Summary> = {};
  const mine = m.samples[subject];
  if (mine && m.ratioMethod !== "none") {
    for (const [peer, xs] of Object.entries(m.samples)) {
      if (peer === subject) continue;
      if (m.ratioMethod === "paired") {
        const r = pairedRatios(
          mine.map((x) => x ?? undefined),
          xs.map((x) => x ?? undefined),
        );
        if (r.length) ratios[peer] = summarize(r);
      } else {
        const a = summary[subject]?.median;
        const b = summary[peer]?.median;
        if (a !== undefined && b !== undefined && b > 0 && Number.isFinite(a)) ratios[peer] = summarize([a / b]);
      }
    }
  }
  return { ...m, summary, ratios, subject };
}
