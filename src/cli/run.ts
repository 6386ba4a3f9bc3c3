// run, create, start, attach, exec: the verbs that attach a terminal or pipes
// to a workload. Raw mode, resizes and signal forwarding live in terminal.ts.
import fs from "node:fs";
import type { EngineApi, ExecOptions, RunIo } from "../types/engine-api.ts";
import { CapsaError } from "../util/errors.ts";
import { shortId } from "../util/ids.ts";
import { newCommand, repeatable, UsageError } from "./command.ts";
import { containerFlagsCommand, envEntry, parseEnvFiles, parseRunArgs, type ParseContext, type RunFlags } from "./container-flags.ts";
import { checkDetachKeys, openTerminal, proxySignals, untilDetached } from "./terminal.ts";
import type { CliContext, VerbTable } from "./verb.ts";

function parseContext(ctx: CliContext): ParseContext {
  return { env: ctx.env, cwd: ctx.cwd, readFile: (f) => fs.readFileSync(f, "utf8") };
}

/** run and create parse their own flags (stopping at the image): parseRunArgs gets the raw arguments. */
function runVerb(verb: "run" | "create"): VerbTable[string] {
  return {
    command: () => containerFlagsCommand(verb),
    raw: true,
    setupErrors: true,
    async run(ctx, _opts, args) {
      return verb === "run" ? runContainer(ctx, args) : createContainer(ctx, args);
    },
  };
}

/**
 * docker's --pull: "missing" pulls only when the image is not here (saying so
 * on stderr, as docker does), "always" pulls first, "never" uses what is here.
 */
async function ensureImage(ctx: CliContext, engine: EngineApi, flags: RunFlags): Promise<void> {
  const ref = flags.create.config.Image;
  if (flags.pull === "never") return;
  if (flags.pull === "missing") {
    try {
      engine.images.inspect(ref);
      return;
    } catch (e) {
      if (!(e instanceof CapsaError) || e.kind !== "not-found") throw e;
    }
    ctx.err(`Unable to find image '${ref}' locally\n`);
  }
  const img = await engine.images.pull(ref, flags.platform ? { platform: flags.platform } : {});
  if (flags.pull === "missing") ctx.err(`Status: Downloaded newer image for ${ref} (${shortId(img.id)})\n`);
}

async function createContainer(ctx: CliContext, args: string[]): Promise<number> {
  const flags = parseRunArgs(args, "create", parseContext(ctx));
  for (const w of flags.warnings) ctx.err(`WARNING: ${w}\n`);
  const engine = await ctx.engine();
  await ensureImage(ctx, engine, flags);
  const r = await engine.containers.create(flags.create);
  for (const w of r.Warnings) ctx.err(`WARNING: ${w}\n`);
  ctx.out(r.Id + "\n");
  return 0;
}

async function runContainer(ctx: CliContext, args: string[]): Promise<number> {
  const flags = parseRunArgs(args, "run", parseContext(ctx));
  checkDetachKeys(flags.detachKeys);
  for (const w of flags.warnings) ctx.err(`WARNING: ${w}\n`);
  const engine = await ctx.engine();
  await ensureImage(ctx, engine, flags);
  if (flags.detach) {
    const r = await engine.containers.run(flags.create, { detach: true, onCreated: (_id, warnings) => warnings.forEach((w) => ctx.err(`WARNING: ${w}\n`)) });
    ctx.out(r.Id + "\n");
    return 0;
  }
  const term = openTerminal(ctx, { interactive: flags.interactive, tty: flags.tty, detachKeys: flags.detachKeys });
  let id: string | undefined;
  const stopProxy =
    flags.sigProxy && !flags.tty
      ? proxySignals((sig) => {
          const target = id ?? flags.create.name;
          if (target === undefined) return false;
          engine.containers.kill(target, sig).catch(() => undefined);
          return true;
        })
      : () => undefined;
  try {
    const onCreated = (cid: string, warnings: string[]): void => {
      id = cid;
      for (const w of warnings) ctx.err(`WARNING: ${w}\n`);
    };
    const io: RunIo = { detach: false, streams: term.streams, onCreated };
    return await untilDetached(
      ctx,
      term,
      engine.containers.run(flags.create, io).then((r) => r.exitCode ?? 0),
      "quiet",
    );
  } finally {
    stopProxy();
    term.restore();
  }
}

async function startContainers(ctx: CliContext, opts: { attach?: boolean; interactive?: boolean; detachKeys?: string }, names: string[]): Promise<number> {
  checkDetachKeys(opts.detachKeys);
  const engine = await ctx.engine();
  if (!opts.attach && !opts.interactive) {
    let code = 0;
    for (const n of names) {
      try {
        await engine.containers.start(n);
        ctx.out(n + "\n");
      } catch (e) {
        ctx.err(`capsa: ${(e as Error).message}\n`);
        code = e instanceof CapsaError ? e.exitCode : 125;
      }
    }
    if (code !== 0) ctx.err("capsa: failed to start containers: " + names.join(", ") + "\n");
    return code;
  }
  if (names.length > 1) throw new UsageError("start", "you cannot start and attach multiple containers at once", 1);
  const name = names[0] as string;
  const info = await engine.containers.inspect(name);
  const tty = info.Config.Tty ?? false;
  const term = openTerminal(ctx, { interactive: !!opts.interactive && !!info.Config.OpenStdin, tty, detachKeys: opts.detachKeys });
  const stopProxy = tty ? () => undefined : proxySignals((sig) => (engine.containers.kill(name, sig).catch(() => undefined), true));
  try {
    // Attached before the process runs: nothing it writes is missed.
    const session = async (): Promise<number> => {
      await engine.containers.start(name, { attach: term.streams });
      return (await engine.containers.wait(name)).StatusCode;
    };
    return await untilDetached(ctx, term, session(), "quiet");
  } finally {
    stopProxy();
    term.restore();
  }
}

interface ExecOpts {
  interactive?: boolean;
  tty?: boolean;
  detach?: boolean;
  env?: string[];
  envFile?: string[];
  user?: string;
  workdir?: string;
  privileged?: boolean;
  detachKeys?: string;
}

export const verbs: VerbTable = {
  run: runVerb("run"),
  create: runVerb("create"),

  start: {
    command: (v) =>
      newCommand(v, "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers")
        .option("-a, --attach", "Attach STDOUT/STDERR and forward signals")
        .option("-i, --interactive", "Attach container's STDIN")
        .option("--detach-keys <string>", "Override the key sequence for detaching a container"),
    args: [1, Infinity],
    setupErrors: true,
    run: (ctx, opts, args) => startContainers(ctx, opts, args),
  },

  attach: {
    command: (v) =>
      newCommand(v, "[OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container")
        .option("--detach-keys <string>", "Override the key sequence for detaching a container")
        .option("--no-stdin", "Do not attach STDIN")
        .option("--sig-proxy", "Proxy all received signals to the process (default true)")
        .option("--no-sig-proxy", "Do not proxy signals"),
    args: [1, 1],
    async run(ctx, opts, args) {
      const o = opts as { stdin?: boolean; sigProxy?: boolean; detachKeys?: string };
      const name = args[0] as string;
      checkDetachKeys(o.detachKeys);
      const engine = await ctx.engine();
      const info = await engine.containers.inspect(name);
      const tty = info.Config.Tty ?? false;
      const term = openTerminal(ctx, { interactive: o.stdin !== false && !!info.Config.OpenStdin, tty, detachKeys: o.detachKeys });
      const stopProxy = o.sigProxy !== false && !tty ? proxySignals((sig) => (engine.containers.kill(name, sig).catch(() => undefined), true)) : () => undefined;
      try {
        const session = async (): Promise<number> => {
          await engine.containers.attach(name, term.streams);
          return (await engine.containers.wait(name)).StatusCode;
        };
        return await untilDetached(ctx, term, session(), "as-error");
      } finally {
        stopProxy();
        term.restore();
      }
    },
  },

  exec: {
    command: (v) => {
      const c = newCommand(v, "[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container")
        .option("-i, --interactive", "Keep STDIN open even if not attached")
        .option("-t, --tty", "Allocate a pseudo-TTY")
        .option("-d, --detach", "Detached mode: run command in the background")
        .option("--detach-keys <string>", "Override the key sequence for detaching a container")
        .option("-u, --user <string>", "Username or UID (format: <name|uid>[:<group|gid>])")
        .option("-w, --workdir <string>", "Working directory inside the container")
        .option("--privileged", "Give extended privileges to the command");
      repeatable(c, "-e, --env <list>", "Set environment variables");
      repeatable(c, "--env-file <list>", "Read in a file of environment variables");
      return c;
    },
    passThrough: true,
    args: [2, Infinity],
    setupErrors: true,
    async run(ctx, opts, args) {
      const o = opts as ExecOpts;
      const [name, ...cmd] = args as [string, ...string[]];
      checkDetachKeys(o.detachKeys);
      const fail = (m: string): UsageError => new UsageError("exec", m);
      const pctx = parseContext(ctx);
      const env = [...parseEnvFiles(o.envFile ?? [], pctx, fail), ...(o.env ?? []).flatMap((e) => envEntry(e, pctx, fail))];
      const execOpts: ExecOptions = { Cmd: cmd, Tty: !!o.tty, AttachStdin: !!o.interactive && !o.detach, Detach: !!o.detach };
      if (env.length > 0) execOpts.Env = env;
      if (o.user !== undefined) execOpts.User = o.user;
      if (o.workdir !== undefined) execOpts.WorkingDir = o.workdir;
      if (o.privileged) execOpts.Privileged = true;
      const engine = await ctx.engine();
      if (o.detach) {
        await engine.containers.exec(name, execOpts);
        return 0;
      }
      const term = openTerminal(ctx, { interactive: !!o.interactive, tty: !!o.tty, detachKeys: o.detachKeys });
      try {
        return await untilDetached(
          ctx,
          term,
          engine.containers.exec(name, execOpts, term.streams).then((r) => r.exitCode),
          "as-error",
        );
      } finally {
        term.restore();
      }
    },
  },
};
