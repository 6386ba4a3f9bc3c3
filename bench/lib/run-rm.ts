// The measurement several scenarios share: `run --rm IMAGE true` per system,
// interleaved, its wall time recorded per round under one metric, failures
// recorded as errors (a failed round is a gap, not a number).
import { errorMessage, interleaved, type Harness } from "./harness.ts";
import { timed } from "./proc.ts";
import type { Recorder } from "./results.ts";

export interface RunRmWallOptions {
  metric: string;
  rounds: number;
  warmup: number;
  image?: string;
  timeoutMs?: number;
}

export async function recordRunRmWall(h: Harness, rec: Recorder, o: RunRmWallOptions): Promise<void> {
  await interleaved(h, h.opts.rounds ?? o.rounds, o.warmup, async (sys, round) => {
    try {
      const r = await timed(sys.runRm(["true"], o.image), o.timeoutMs ? { timeoutMs: o.timeoutMs } : {});
      if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.trim().slice(-300)}`);
      if (round >= 0) rec.set(o.metric, sys.name, round, r.ms);
    } catch (e) {
      if (round >= 0) rec.set(o.metric, sys.name, round, null);
      rec.error(o.metric, sys.name, errorMessage(e));
    }
  });
}
