// (4) Memory per running container: PSS of the process each engine keeps per
// container (capsa's and podman's conmon, docker's containerd-shim), and of
// the daemons an engine needs besides.
import { errorMessage, type Scenario } from "../lib/harness.ts";
import { pssKiB } from "../lib/memory.ts";
import { mapLimit, sleep } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";

export const memory: Scenario = {
  id: "memory",
  title: "memory per running container",
  describe:
    "PSS (/proc/<pid>/smaps_rollup) of the per-container monitor of K running `sleep 1000` containers; and the PSS of the engine's daemons while they run. runc keeps no process per container and is left out.",
  async run(h) {
    const k = h.opts.short ? 3 : 10;
    const rec = new Recorder(this.id);
    rec.define("monitor", `monitor process per container (${k} running)`, "KiB", "medians");
    rec.define("daemons", `daemons, total, with ${k} running`, "KiB", "none");
    for (const sys of h.systems) {
      const names = Array.from({ length: k }, (_, i) => h.name(sys.name, `mem${i}`));
      let started: string[] = [];
      try {
        await mapLimit(names, 2, async (n) => {
          await sys.startDetached(n, ["sleep", "1000"]);
          started.push(n);
        });
        await sleep(1000); // let lazily touched pages settle
        let engine = false;
        for (const n of names) {
          const pid = sys.monitorPid(n);
          if (pid === undefined) break; // this engine keeps no per-container process
          const kib = pssKiB(pid);
          if (kib === undefined) throw new Error(`monitor ${pid} of ${n} vanished`);
          rec.push("monitor", sys.name, kib);
          engine = true;
        }
        if (engine) rec.push("daemons", sys.name, sys.daemonPids().reduce((sum, p) => sum + (pssKiB(p) ?? 0), 0));
      } catch (e) {
        rec.error("monitor", sys.name, errorMessage(e));
      } finally {
        for (const n of started) {
          await sys.stop(n).catch(() => undefined);
          await sys.remove(n).catch((e: unknown) => rec.error("monitor", sys.name, `cleanup: ${errorMessage(e)}`));
        }
        started = [];
      }
    }
    return rec.finish(h.opts.subject);
  },
};
