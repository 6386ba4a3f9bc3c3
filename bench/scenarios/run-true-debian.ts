// (1b) run-true with a realistic base image: Debian bookworm minbase
// (debootstrap, cached) imported into each engine as the busybox image is.
import { debianRootfsTar } from "../../test/fixtures/debian.ts";
import { errorMessage, type Scenario } from "../lib/harness.ts";
import { timedOk } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";
import { recordRunRmWall } from "../lib/run-rm.ts";
import type { ContainerSystem } from "../systems/system.ts";

export const DEBIAN_IMAGE = "capsa-bench/debian:bookworm";

export const runTrueDebian: Scenario = {
  id: "run-true-debian",
  title: "run --rm debian true",
  describe:
    "Wall time of one `run --rm img true` where img is a Debian bookworm minbase root file system (debootstrap, built once and cached), imported with each engine's `import` before the rounds; and the time that import took (one sample each). Engines without images (runc) are left out.",
  async run(h) {
    const rec = new Recorder(this.id);
    rec.define("wall", "run --rm debian true: wall time", "ms", "paired");
    rec.define("import", "import of the Debian tarball (one sample)", "ms", "medians");
    let tar: string;
    try {
      tar = debianRootfsTar();
    } catch (e) {
      for (const s of h.systems) rec.error("wall", s.name, `no Debian image: ${errorMessage(e).split("\n")[0]}`);
      return rec.finish(h.opts.subject);
    }
    const ready: ContainerSystem[] = [];
    for (const sys of h.systems) {
      if (!sys.importImage) {
        h.log(`  ${sys.name}: imports no images: left out`);
        continue;
      }
      try {
        const t0 = performance.now();
        await sys.importImage(tar, DEBIAN_IMAGE);
        rec.push("import", sys.name, performance.now() - t0);
        const r = await timedOk(sys.runRm(["cat", "/etc/debian_version"], DEBIAN_IMAGE));
        if (!/^12\./.test(r.stdout)) throw new Error(`/etc/debian_version is ${JSON.stringify(r.stdout.trim())}, expected 12.x`);
        ready.push(sys);
      } catch (e) {
        rec.error("wall", sys.name, `import: ${errorMessage(e)}`);
      }
    }
    if (ready.length === 0) return rec.finish(h.opts.subject);
    await recordRunRmWall({ ...h, systems: ready }, rec, { metric: "wall", rounds: h.opts.short ? 5 : 30, warmup: h.opts.short ? 1 : 2, image: DEBIAN_IMAGE });
    return rec.finish(h.opts.subject);
  },
};
