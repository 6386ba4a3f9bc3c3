// (3) Many detached containers: N × `run -d img sleep 1000` with a bounded
// number in flight, then stopping them all, then removing them all.
import { errorMessage, rotation, type Scenario } from "../lib/harness.ts";
import { mapLimit } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";
import type { ContainerSystem } from "../systems/system.ts";

const PHASES = ["start", "stop", "rm"] as const;

async function phase(names: string[], concurrency: number, fn: (n: string) => Promise<void>): Promise<{ ms: number; each: number[] }> {
  const t0 = performance.now();
  const each = await mapLimit(names, concurrency, async (n) => {
    const t = performance.now();
    await fn(n);
    return performance.now() - t;
  });
  return { ms: performance.now() - t0, each };
}

/** Best effort: nothing of a failed phase may stay running. */
async function sweep(sys: ContainerSystem, names: string[]): Promise<void> {
  for (const n of names) {
    await sys.stop(n).catch(() => undefined);
    await sys.remove(n).catch(() => undefined);
  }
}

export const startMany: Scenario = {
  id: "start-many",
  title: "N × run -d, then stop, then rm",
  describe: "Wall time to start N detached `sleep 1000` containers with at most C CLI calls in flight, then to stop them (no grace period) and to remove them.",
  async run(h) {
    const n = h.opts.short ? 8 : 50;
    const levels = [2, 8];
    const rounds = h.opts.rounds ?? (h.opts.short ? 1 : 3);
    const rec = new Recorder(this.id);
    for (const c of levels) {
      for (const p of PHASES) rec.define(`c${c}.${p}`, `${n} × ${p}, concurrency ${c}: wall time`, "ms", "paired");
      rec.define(`c${c}.start-each`, `one run -d while ${c} are in flight`, "ms", "medians");
    }
    for (let round = 0; round < rounds; round++) {
      for (const c of levels) {
        for (const sys of rotation(h.systems, round)) {
          const names = Array.from({ length: n }, (_, i) => h.name(sys.name, `c${c}r${round}n${i}`));
          h.log(`  ${sys.name}: ${n} containers, concurrency ${c}, round ${round + 1}/${rounds}`);
          let p: (typeof PHASES)[number] = "start";
          try {
            const start = await phase(names, c, (x) => sys.startDetached(x, ["sleep", "1000"]));
            rec.set(`c${c}.start`, sys.name, round, start.ms);
            for (const ms of start.each) rec.push(`c${c}.start-each`, sys.name, ms);
            p = "stop";
            rec.set(`c${c}.stop`, sys.name, round, (await phase(names, c, (x) => sys.stop(x))).ms);
            p = "rm";
            rec.set(`c${c}.rm`, sys.name, round, (await phase(names, c, (x) => sys.remove(x))).ms);
          } catch (e) {
            rec.set(`c${c}.${p}`, sys.name, round, null);
            rec.error(`c${c}.${p}`, sys.name, errorMessage(e));
            await sweep(sys, names);
          }
        }
      }
    }
    return rec.finish(h.opts.subject);
  },
};
