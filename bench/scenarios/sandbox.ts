// (5) The sandbox level: `capsa run --rm --isolation sandbox img true` against
// its floor, gVisor's `runsc run` on a prepared bundle with the same global
// flags. The ratio is what capsa's engine adds around runsc, round by round.
import { type Scenario } from "../lib/harness.ts";
import { Recorder } from "../lib/results.ts";
import { recordRunRmWall } from "../lib/run-rm.ts";

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
    await recordRunRmWall(h, rec, { metric: "wall", rounds: h.opts.short ? 5 : 30, warmup: h.opts.short ? 1 : 2 });
    return rec.finish(SANDBOX_SUBJECT);
  },
};
