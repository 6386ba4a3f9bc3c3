// `capsa update`: docker update's flags, applied to each container given
// (the name printed on success, the error on stderr, exit 1 if any failed).
import type { ContainerUpdate } from "../types/engine-api.ts";
import { intFlag, newCommand, UsageError } from "./command.ts";
import { parseRestartPolicy } from "./run-flags/lifecycle.ts";
import { parseRamBytes } from "./units.ts";
import { eachTarget, type VerbTable } from "./verb.ts";

interface UpdateFlags {
  blkioWeight?: string;
  cpuShares?: string;
  cpus?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  pidsLimit?: string;
  restart?: string;
}

export const verbs: VerbTable = {
  update: {
    command: (v) =>
      newCommand(v, "[OPTIONS] CONTAINER [CONTAINER...]", "Update configuration of one or more containers")
        .option("--blkio-weight <weight>", "Block IO (relative weight), between 10 and 1000, or 0 to disable")
        .option("-c, --cpu-shares <shares>", "CPU shares (relative weight)")
        .option("--cpus <decimal>", "Number of CPUs")
        .option("--cpu-period <us>", "Limit CPU CFS (Completely Fair Scheduler) period")
        .option("--cpu-quota <us>", "Limit CPU CFS (Completely Fair Scheduler) quota")
        .option("--cpuset-cpus <list>", "CPUs in which to allow execution (0-3, 0,1)")
        .option("--cpuset-mems <list>", "MEMs in which to allow execution (0-3, 0,1)")
        .option("-m, --memory <bytes>", "Memory limit")
        .option("--memory-swap <bytes>", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
        .option("--memory-reservation <bytes>", "Memory soft limit")
        .option("--pids-limit <n>", "Tune container pids limit (set -1 for unlimited)")
        .option("--restart <policy>", "Restart policy to apply when a container exits"),
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const o = opts as UpdateFlags;
      const verb = ctx.verb;
      const cmd = verbs.update!.command(verb);
      const bad = (flag: string, v: string, why: string): UsageError => new UsageError(verb, `invalid argument "${v}" for "${flag}" flag: ${why}`);
      const bytes = (flag: string, v: string | undefined): number | undefined => {
        if (v === undefined) return undefined;
        if (v === "-1" && flag === "--memory-swap") return -1;
        try {
          return parseRamBytes(v);
        } catch (e) {
          throw bad(flag, v, (e as Error).message);
        }
      };
      const u: ContainerUpdate = {
        BlkioWeight: intFlag(cmd, verb, "--blkio-weight", o.blkioWeight),
        CpuShares: intFlag(cmd, verb, "--cpu-shares", o.cpuShares),
        CpuPeriod: intFlag(cmd, verb, "--cpu-period", o.cpuPeriod),
        CpuQuota: intFlag(cmd, verb, "--cpu-quota", o.cpuQuota),
        CpusetCpus: o.cpusetCpus,
        CpusetMems: o.cpusetMems,
        Memory: bytes("--memory", o.memory),
        MemorySwap: bytes("--memory-swap", o.memorySwap),
        MemoryReservation: bytes("--memory-reservation", o.memoryReservation),
        PidsLimit: intFlag(cmd, verb, "--pids-limit", o.pidsLimit),
      };
      if (o.cpus !== undefined) {
        if (!/^\d*\.?\d+$/.test(o.cpus)) throw bad("--cpus", o.cpus, `failed to parse ${o.cpus} as a rational number`);
        u.NanoCpus = Math.round(Number(o.cpus) * 1e9);
      }
      if (o.restart !== undefined) u.RestartPolicy = parseRestartPolicy(o.restart, (m) => new UsageError(verb, m));
      for (const k of Object.keys(u) as (keyof ContainerUpdate)[]) if (u[k] === undefined) delete u[k];
      if (Object.keys(u).length === 0) throw new UsageError(verb, "you must provide one or more flags when using this command", 1);
      const engine = await ctx.engine();
      return eachTarget(ctx, args, async (n) => {
        const r = await engine.containers.update(n, u);
        for (const w of r.Warnings) ctx.err(w + "\n");
      });
    },
  },
};
