// (1) `run --rm img true`: the whole life of a container that does nothing.
import { type Scenario } from "../lib/harness.ts";
import { Recorder } from "../lib/results.ts";
import { recordRunRmWall } from "../lib/run-rm.ts";

export const runTrue: Scenario = {
  id: "run-true",
  title: "run --rm img true",
  describe: "Wall time of one `run --rm img true`, from spawning the CLI to its exit.",
  async run(h) {
    const rec = new Recorder(this.id);
    rec.define("wall", "run --rm img true: wall time", "ms", "paired");
    await recordRunRmWall(h, rec, { metric: "wall", rounds: h.opts.short ? 5 : 30, warmup: h.opts.short ? 1 : 2 });
    return rec.finish(h.opts.subject);
  },
};
