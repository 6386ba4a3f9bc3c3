// (6) The engine itself, idle: capsa's API service (`capsa system service`)
// against dockerd + containerd and `podman system service`, each on a private
// socket, after serving one `run --rm img true` and a few seconds of rest.
import { errorMessage, interleaved, type Scenario } from "../lib/harness.ts";
import { commandName, processTree, sumMemory } from "../lib/memory.ts";
import { sleep } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";
import type { EngineService } from "../systems/system.ts";

const KINDS = [
  ["pss", "PSS"],
  ["uss", "USS (private pages only)"],
  ["rss", "RSS"],
] as const;

export const idleMemory: Scenario = {
  id: "idle-memory",
  title: "idle memory of the engine",
  describe:
    "Memory of the engine's long-lived processes and everything below them, idle: `capsa system service` and `podman system service --time 0` (each started on a private unix socket with the bench's root and configuration, stopped by pid after each round) and the bench's dockerd with its containerd (up throughout). Each serves one `run --rm img true` through the docker CLI, rests a few seconds, and is measured from /proc/<pid>/smaps_rollup. PSS splits shared pages among every process mapping them (capsa's node binary is shared with the harness's own node, for instance); USS counts only private pages, RSS every page mapped. Ratios are per round.",
  async run(h) {
    const rounds = h.opts.rounds ?? (h.opts.short ? 2 : 5);
    const idleMs = h.opts.short ? 3000 : 5000;
    const rec = new Recorder(this.id);
    for (const [id, what] of KINDS) rec.define(id, `engine processes, idle ${idleMs / 1000} s after one run: ${what}`, "KiB", "paired");
    const systems = h.systems.filter((s) => {
      if (!s.startService) h.log(`  ${s.name}: no API service or daemon: left out`);
      return !!s.startService;
    });
    if (systems.length === 0) return rec.finish(h.opts.subject);
    await interleaved({ ...h, systems }, rounds, 0, async (sys, round) => {
      let svc: EngineService | undefined;
      try {
        svc = await sys.startService!();
        await sleep(idleMs);
        const pids = [...new Set(svc.roots.flatMap(processTree))];
        const m = sumMemory(pids);
        if (m.alive === 0) throw new Error("the engine's processes are gone");
        for (const [id] of KINDS) rec.set(id, sys.name, round, m[id]);
        const names = pids.map((p) => commandName(p) ?? "?").join(" + ");
        h.log(`  ${sys.name}, round ${round + 1}/${rounds}: ${names}: PSS ${m.pss} KiB, USS ${m.uss} KiB, RSS ${m.rss} KiB`);
      } catch (e) {
        for (const [id] of KINDS) rec.set(id, sys.name, round, null);
        rec.error("pss", sys.name, errorMessage(e));
      } finally {
        await svc?.stop().catch((e: unknown) => rec.error("pss", sys.name, `stop: ${errorMessage(e)}`));
      }
    });
    return rec.finish(h.opts.subject);
  },
};
