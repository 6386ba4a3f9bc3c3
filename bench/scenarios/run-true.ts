// (1) `run --rm img true`: the whole life of a container that does nothing.
import { errorMessage, interleaved, type Scenario } from "../lib/harness.ts";
import { timed } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";

export const runTrue: Scenario = {
  id: "run-true",
  title: "run --rm img true",
  describe: "Wall time of one `run --rm img true`, from spawning the CLI to its exit.",
  async run(h) {
    const rec = new Recorder(this.id);
    rec.define("wall", "run --rm img true: wall time", "ms", "paired");
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
    return rec.finish(h.opts.subject);
  },
};
