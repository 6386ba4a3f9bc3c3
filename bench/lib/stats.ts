// Order statistics for benchmark samples. Percentiles interpolate linearly
// between closest ranks (the common "type 7" definition).

export interface Summary {
  n: number;
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
}

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const pos = (s.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    median: percentile(samples, 0.5),
    p10: percentile(samples, 0.1),
    p90: percentile(samples, 0.9),
    min: samples.length ? Math.min(...samples) : NaN,
    max: samples.length ? Math.max(...samples) : NaN,
  };
}

/**
 * Ratios subject/peer computed pair by pair: round i of the subject against
 * round i of the peer (they ran back to back), so slow phases of the machine
 * affect both sides of a ratio alike.
 */
export function pairedRatios(subject: readonly (number | undefined)[], peer: readonly (number | undefined)[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.min(subject.length, peer.length); i++) {
    const a = subject[i];
    const b = peer[i];
    if (a !== undefined && b !== undefined && b > 0) out.push(a / b);
  }
  return out;
}
