// `build` of a small Containerfile on the busybox image every engine imported:
// a RUN and a COPY of a few MB. Cold (--no-cache), then cached (the same build
// again, unchanged). RUN steps use --network none in every engine. docker
// builds with its classic builder (DOCKER_BUILDKIT=0): BuildKit needs the
// buildx plugin, which the docker CLI here does not have.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { errorMessage, interleaved, type Scenario } from "../lib/harness.ts";
import { timedOk } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";
import { BENCH_IMAGE } from "../systems/system.ts";

/** Files of random bytes in the build context, MiB each. */
const PAYLOAD_MIB = [2, 1, 1];
const TAG = "capsa-bench/built:latest";

/** The build context: a Containerfile and a payload directory of PAYLOAD_MIB random files. */
export function makeBuildContext(dir: string): void {
  fs.mkdirSync(path.join(dir, "payload"), { recursive: true });
  PAYLOAD_MIB.forEach((mib, i) => fs.writeFileSync(path.join(dir, "payload", `blob-${i}.bin`), randomBytes(mib << 20)));
  fs.writeFileSync(
    path.join(dir, "Containerfile"),
    [`FROM ${BENCH_IMAGE}`, "RUN echo built > /built.txt && ls /bin | wc -l > /applets.txt", "COPY payload /payload", 'CMD ["cat", "/built.txt"]', ""].join("\n"),
  );
}

export const build: Scenario = {
  id: "build",
  title: "build of a small Containerfile, cold and cached",
  describe: `\`build -t img DIR\` of FROM the bench's busybox image (imported beforehand), one RUN (two shell commands) and a COPY of ${PAYLOAD_MIB.reduce((a, b) => a + b, 0)} MiB of random files, RUN on \`--network none\`. Per round and engine: a cold build (\`--no-cache\`), then the same build again, unchanged (cached), each timed spawn to exit; the image is removed after the round. docker uses its classic builder (DOCKER_BUILDKIT=0: BuildKit needs the buildx plugin, absent here); podman builds with its built-in buildah. Interleaved, warm-up discarded; ratios per round.`,
  systems: ["capsa", "podman", "docker"],
  async run(h) {
    const rec = new Recorder(this.id);
    rec.define("cold", "build --no-cache: wall time", "ms", "paired");
    rec.define("cached", "build again, unchanged (cache): wall time", "ms", "paired");
    const systems = h.systems.filter((s) => {
      const ok = !!(s.build && s.removeImage);
      if (!ok) h.log(`  ${s.name}: no build: left out`);
      return ok;
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-bench-build-"));
    try {
      makeBuildContext(dir);
      await interleaved({ ...h, systems }, h.opts.rounds ?? (h.opts.short ? 2 : 8), 1, async (sys, round) => {
        let metric = "cold";
        try {
          const cold = await timedOk(sys.build!(dir, TAG, { noCache: true }), { timeoutMs: 300_000 });
          metric = "cached";
          const cached = await timedOk(sys.build!(dir, TAG, { noCache: false }), { timeoutMs: 300_000 });
          const check = await timedOk(sys.runRm([], TAG));
          if (check.stdout.trim() !== "built") throw new Error(`the built image printed ${JSON.stringify(check.stdout)}, expected "built"`);
          if (round >= 0) {
            rec.set("cold", sys.name, round, cold.ms);
            rec.set("cached", sys.name, round, cached.ms);
          }
          h.log(`  ${sys.name}${round < 0 ? " (warm-up)" : ""}: cold ${Math.round(cold.ms)} ms, cached ${Math.round(cached.ms)} ms`);
        } catch (e) {
          if (round >= 0) rec.set(metric, sys.name, round, null);
          rec.error(metric, sys.name, errorMessage(e));
        } finally {
          await sys.removeImage!(TAG).catch((e: unknown) => rec.error("cold", sys.name, `cleanup: ${errorMessage(e)}`));
        }
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return rec.finish(h.opts.subject);
  },
};
