// (5) The sandbox level: `capsa run --rm --isolation sandbox img true` against
// its floor, gVisor's `runsc run` on a prepared bundle with the same global
// flags. The ratio is what capsa's engine adds around runsc, round by round.
import { errorMessage, interleaved, type Scenario } from "../lib/harness.ts";
import { timed } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";

export const SANDBOX_SUBJECT = "capsa-sandbox";

export const sandbox: Scenario = {
  id: "sandbox",
  title: "run --rm --isolation sandbox img true",
  describe:
    "Wall time of one `capsa run --rm --isolation sandbox img true` (gVisor's runsc under capsa) and of `runsc run` on a prepared bundle with the same runsc flags, interleaved; ratios are capsa-sandbox/runsc per round.",
  systems: [SANDBOX_SUBJECT, "runsc"],
  async run(h) {
    const rec = new Recorder(this.id);
    rec.define("wall", "run --rm --isolation sandbox img true: wall time", "ms", "paired");
    await interleaved(h, h.opts.rounds ?? (h.opts.short ? 5 : 30), h.opts.short ? 1 : 2, async (sys, round) => {
      try {
        const r = await timed(sys.runRm(["true"]));
        if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.trim().slice(-300)}`);
        if (round >= 0) rec.set("wall", sys.name, round, r.ms);
      } catch (e) {
        if (round >= 0) rec.set("wall", sys.name, round, null);
        rec.error("wall", sys.name, errorMessage(e));
      }
    });
    return rec.finish(SANDBOX_SUBJECT);
  },
};
