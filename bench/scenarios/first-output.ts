// (2) Time to first output of `run --rm img echo x`: what an interactive user waits for.
import { errorMessage, interleaved, type Scenario } from "../lib/harness.ts";
import { timed } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";

export const firstOutput: Scenario = {
  id: "first-output",
  title: "run --rm img echo x: time to first output",
  describe: "Milliseconds from spawning the CLI until the first byte of the container's stdout arrives, and until the CLI exits.",
  async run(h) {
    const rec = new Recorder(this.id);
    rec.define("first", "echo x: time to first output", "ms", "paired");
    rec.define("wall", "echo x: wall time", "ms", "paired");
    await interleaved(h, h.opts.rounds ?? (h.opts.short ? 5 : 30), h.opts.short ? 1 : 2, async (sys, round) => {
      try {
        const r = await timed(sys.runRm(["echo", "x"]));
        if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.trim().slice(-300)}`);
        if (r.stdout !== "x\n") throw new Error(`printed ${JSON.stringify(r.stdout)}, expected "x\\n"`);
        if (round >= 0) {
          rec.set("first", sys.name, round, r.firstOutputMs ?? null);
          rec.set("wall", sys.name, round, r.ms);
        }
      } catch (e) {
        if (round >= 0) {
          rec.set("first", sys.name, round, null);
          rec.set("wall", sys.name, round, null);
        }
        rec.error("first", sys.name, errorMessage(e));
      }
    });
    return rec.finish(h.opts.subject);
  },
};
