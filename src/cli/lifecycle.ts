// stop, kill, restart, pause, unpause, wait, rm, rename, container prune:
// each prints the names it was given, as docker does, and exits 1 if any failed.
import { intFlag, newCommand } from "./command.ts";
import { humanSize } from "./units.ts";
import { confirm, eachTarget, parseFilters, type VerbTable } from "./verb.ts";
import { UsageError } from "./command.ts";

const many = "[OPTIONS] CONTAINER [CONTAINER...]";

export const verbs: VerbTable = {
  stop: {
    command: (v) =>
      newCommand(v, many, "Stop one or more running containers")
        .option("-t, --time <int>", "Seconds to wait before killing the container")
        .option("--timeout <int>", "Seconds to wait before killing the container (alias)")
        .option("-s, --signal <string>", "Signal to send to the container"),
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const o = opts as { time?: string; timeout?: string; signal?: string };
      const cmd = verbs.stop?.command(ctx.verb);
      const timeout = cmd ? intFlag(cmd, ctx.verb, o.time !== undefined ? "time" : "timeout", o.time ?? o.timeout) : undefined;
      const engine = await ctx.engine();
      const stopOpts: { timeout?: number; signal?: string } = {};
      if (timeout !== undefined) stopOpts.timeout = timeout;
      if (o.signal !== undefined) stopOpts.signal = o.signal;
      return eachTarget(ctx, args, (n) => engine.containers.stop(n, stopOpts), true, true);
    },
  },

  kill: {
    command: (v) => newCommand(v, many, "Kill one or more running containers").option("-s, --signal <string>", "Signal to send to the container"),
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const o = opts as { signal?: string };
      const engine = await ctx.engine();
      return eachTarget(ctx, args, (n) => engine.containers.kill(n, o.signal), true, true);
    },
  },

  restart: {
    command: (v) =>
      newCommand(v, many, "Restart one or more containers")
        .option("-t, --time <int>", "Seconds to wait before killing the container")
        .option("-s, --signal <string>", "Signal to send to the container (not supported: the stop signal is used)"),
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const o = opts as { time?: string };
      const cmd = verbs.restart?.command(ctx.verb);
      const timeout = cmd ? intFlag(cmd, ctx.verb, "time", o.time) : undefined;
      const engine = await ctx.engine();
      return eachTarget(ctx, args, (n) => engine.containers.restart(n, timeout !== undefined ? { timeout } : {}), true, true);
    },
  },

  pause: {
    command: (v) => newCommand(v, "CONTAINER [CONTAINER...]", "Pause all processes within one or more containers"),
    args: [1, Infinity],
    async run(ctx, _opts, args) {
      const engine = await ctx.engine();
      return eachTarget(ctx, args, (n) => engine.containers.pause(n), true, true);
    },
  },

  unpause: {
    command: (v) => newCommand(v, "CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers"),
    args: [1, Infinity],
    async run(ctx, _opts, args) {
      const engine = await ctx.engine();
      return eachTarget(ctx, args, (n) => engine.containers.unpause(n), true, true);
    },
  },

  wait: {
    command: (v) => newCommand(v, "CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes"),
    args: [1, Infinity],
    async run(ctx, _opts, args) {
      const engine = await ctx.engine();
      return eachTarget(
        ctx,
        args,
        async (n) => {
          const r = await engine.containers.wait(n);
          ctx.out(`${r.StatusCode}\n`);
        },
        false,
      );
    },
  },

  rm: {
    command: (v) =>
      newCommand(v, many, "Remove one or more containers")
        .option("-f, --force", "Force the removal of a running container (uses SIGKILL)")
        .option("-v, --volumes", "Remove anonymous volumes associated with the container")
        .option("-l, --link", "Remove the specified link (not supported)"),
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const o = opts as { force?: boolean; volumes?: boolean; link?: boolean };
      if (o.link) throw new UsageError(ctx.verb, "links are not supported", 1);
      const engine = await ctx.engine();
      return eachTarget(ctx, args, (n) => engine.containers.remove(n, { force: !!o.force, volumes: !!o.volumes }), true, true);
    },
  },

  rename: {
    command: (v) => newCommand(v, "CONTAINER NEW_NAME", "Rename a container"),
    args: [2, 2],
    async run(ctx, _opts, args) {
      const engine = await ctx.engine();
      engine.containers.rename(args[0] as string, args[1] as string);
      return 0;
    },
  },

  "container prune": {
    command: (v) =>
      newCommand(v, "[OPTIONS]", "Remove all stopped containers")
        .option("-f, --force", "Do not prompt for confirmation")
        .option("--filter <filter>", "Provide filter values (not supported yet)", (x: string, p: string[] = []) => [...p, x]),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { force?: boolean; filter?: string[] };
      parseFilters(o.filter, (m) => new UsageError(ctx.verb, m));
      if (o.filter?.length) throw new UsageError(ctx.verb, "container prune --filter is not supported yet", 1);
      if (!o.force && !(await confirm(ctx, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"))) return 0;
      const engine = await ctx.engine();
      const r = await engine.containers.prune();
      if (r.ContainersDeleted.length > 0) ctx.out(`Deleted Containers:\n${r.ContainersDeleted.map((c) => c + "\n").join("")}\n`);
      ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
      return 0;
    },
  },

  // Internal: conmon's exit command for detached containers (not in --help).
  "container cleanup": {
    command: (v) => newCommand(v, "CONTAINER", "Record a container's exit and apply its restart policy (run by the monitor)"),
    args: [1, 1],
    async run(ctx, _opts, args) {
      if (!(await stateRootExists())) return 0;
      const engine = await ctx.engine();
      await engine.containers.cleanup(args[0] as string);
      return 0;
    },
  },

  // Runs the container's health check once (podman's `healthcheck run`); the
  // per-container loop calls it as `container healthcheck`.
  "healthcheck run": {
    command: (v) => newCommand(v, "CONTAINER", "Run the container's health check once"),
    args: [1, 1],
    async run(ctx, _opts, args) {
      if (!(await stateRootExists())) return 1;
      const engine = await ctx.engine();
      const h = await engine.containers.healthcheck(args[0] as string);
      ctx.out(h.Status + "\n");
      return h.Status === "unhealthy" || (h.Log.at(-1)?.ExitCode ?? 0) !== 0 ? 1 : 0;
    },
  },
};

/**
 * Background callers (the monitor's exit command, the health-check loop) may
 * run after the state root was deleted: they must not recreate it.
 */
async function stateRootExists(): Promise<boolean> {
  const { resolvePaths } = await import("../types/paths.ts");
  const { existsSync } = await import("node:fs");
  return existsSync(resolvePaths().db);
}
