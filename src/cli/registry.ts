// login, logout, pull, push: the registry verbs. Progress: docker's status
// lines per layer (a line per change when stdout is not a terminal; redrawn
// bars on a terminal); -q prints only the result.
import type { ProgressEvent, ProgressFn } from "../types/registry.ts";
import { newCommand, UsageError } from "./command.ts";
import { humanSize } from "./units.ts";
import type { CliContext, VerbTable } from "./verb.ts";

/** Status lines for a non-terminal: every status change once, no byte counters. */
function lineProgress(ctx: CliContext): ProgressFn {
  const last = new Map<string, string>();
  return (e) => {
    if (e.id !== undefined) {
      if (e.status === "Downloading" || e.status === "Pushing") {
        if (last.get(e.id) === e.status) return;
        last.set(e.id, e.status);
        return;
      }
      last.set(e.id, e.status);
      ctx.out(`${e.id}: ${e.status}\n`);
    } else ctx.out(`${e.status}\n`);
  };
}

/** A terminal: one line per layer, redrawn in place with its byte counter. */
function ttyProgress(ctx: CliContext): ProgressFn {
  const order: string[] = [];
  const lines = new Map<string, string>();
  let drawn = 0;
  const render = (e: ProgressEvent): string => {
    if (e.current === undefined || !e.total) return `${e.id}: ${e.status}`;
    const width = 40;
    const filled = Math.min(width, Math.floor((e.current / e.total) * width));
    const bar = "=".repeat(Math.max(0, filled - 1)) + (filled > 0 ? ">" : "") + " ".repeat(width - filled);
    return `${e.id}: ${e.status.padEnd(12)} [${bar}] ${humanSize(e.current)}/${humanSize(e.total)}`;
  };
  return (e) => {
    if (e.id === undefined) {
      ctx.out(`${e.status}\n`);
      order.length = 0;
      lines.clear();
      drawn = 0;
      return;
    }
    if (!lines.has(e.id)) order.push(e.id);
    lines.set(e.id, render(e));
    let out = drawn > 0 ? `\x1b[${drawn}A` : "";
    for (const id of order) out += `\x1b[2K${lines.get(id)}\n`;
    drawn = order.length;
    ctx.out(out);
  };
}

function progressFor(ctx: CliContext, quiet: boolean): ProgressFn | undefined {
  if (quiet) return undefined;
  return ctx.stdout.isTTY ? ttyProgress(ctx) : lineProgress(ctx);
}

async function readAll(input: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/** Asks on the terminal; the answer is not echoed when secret. */
async function prompt(ctx: CliContext, question: string, secret: boolean): Promise<string> {
  ctx.out(question);
  const input = ctx.stdin;
  if (secret) input.setRawMode(true);
  try {
    return await new Promise<string>((resolve, reject) => {
      let buf = "";
      const onData = (d: Buffer): void => {
        for (const ch of d.toString("utf8")) {
          if (ch === "\r" || ch === "\n") {
            input.off("data", onData);
            input.pause();
            if (secret) ctx.out("\n");
            resolve(buf);
            return;
          }
          if (ch === "\x03") {
            input.off("data", onData);
            reject(new Error("login canceled"));
            return;
          }
          if (ch === "\x7f") buf = buf.slice(0, -1);
          else buf += ch;
        }
      };
      input.on("data", onData);
      input.resume();
    });
  } finally {
    if (secret) input.setRawMode(false);
  }
}

const displayHost = (host: string | undefined): string => (host === undefined || host === "docker.io" ? "https://index.docker.io/v1/" : host);

export const verbs: VerbTable = {
  login: {
    command: (v) =>
      newCommand(v, "[OPTIONS] [SERVER]", "Log in to a registry")
        .option("-u, --username <string>", "Username")
        .option("-p, --password <string>", "Password")
        .option("--password-stdin", "Take the password from stdin"),
    args: [0, 1],
    async run(ctx, opts, args) {
      const o = opts as { username?: string; password?: string; passwordStdin?: boolean };
      let password = o.password;
      if (o.passwordStdin) {
        if (password !== undefined) throw new UsageError(ctx.verb, "--password and --password-stdin are mutually exclusive", 1);
        if (o.username === undefined) throw new UsageError(ctx.verb, "Must provide --username with --password-stdin", 1);
        password = (await readAll(ctx.stdin)).replace(/\r?\n$/, "");
      } else if (password !== undefined) {
        ctx.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
      }
      let username = o.username;
      if (username === undefined || password === undefined) {
        if (!ctx.stdin.isTTY) throw new UsageError(ctx.verb, "Cannot perform an interactive login from a non TTY device", 1);
        if (username === undefined) username = (await prompt(ctx, "Username: ", false)).trim();
        if (password === undefined) password = await prompt(ctx, "Password: ", true);
      }
      const engine = await ctx.engine();
      await engine.images.login(args[0], { username, password });
      ctx.out("Login Succeeded\n");
      return 0;
    },
  },

  logout: {
    command: (v) => newCommand(v, "[SERVER]", "Log out from a registry"),
    args: [0, 1],
    async run(ctx, _opts, args) {
      const engine = await ctx.engine();
      const removed = await engine.images.logout(args[0]);
      const shown = displayHost(args[0]);
      ctx.out(removed ? `Removing login credentials for ${shown}\n` : `Not logged in to ${shown}\n`);
      return 0;
    },
  },

  pull: {
    command: (v) =>
      newCommand(v, "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry")
        .option("-a, --all-tags", "Download all tagged images in the repository")
        .option("--platform <string>", "Set platform if server is multi-platform capable (os/arch[/variant])")
        .option("-q, --quiet", "Suppress verbose output"),
    args: [1, 1],
    async run(ctx, opts, args) {
      const o = opts as { allTags?: boolean; platform?: string; quiet?: boolean };
      const ref = args[0]!;
      const { parseReference, referenceString, withDefaultTag, familiarString, repositoryName, shortNameRegistry } = await import("../engine/index.ts");
      shortNameRegistry(); // a registries.json error is not a usage error: report it as the engine does
      let parsed;
      try {
        parsed = parseReference(ref);
      } catch (e) {
        throw new UsageError(ctx.verb, (e as Error).message, 1);
      }
      const engine = await ctx.engine();
      const progress = progressFor(ctx, !!o.quiet);
      const pullOpts = { ...(o.platform ? { platform: o.platform } : {}), ...(progress ? { progress } : {}) };
      if (o.allTags) {
        if (parsed.tag !== undefined || parsed.digest !== undefined) throw new UsageError(ctx.verb, "tag can't be used with --all-tags/-a", 1);
        await engine.images.pullAllTags(ref, pullOpts);
        ctx.out(o.quiet ? `${repositoryName(parsed)}\n` : `Status: Downloaded images for ${familiarString(parsed)}\n${repositoryName(parsed)}\n`);
        return 0;
      }
      const full = withDefaultTag(parsed);
      if (!o.quiet && parsed.tag === undefined && parsed.digest === undefined) ctx.out("Using default tag: latest\n");
      const before = (() => {
        try {
          return engine.images.inspect(referenceString(full)).id;
        } catch {
          return undefined;
        }
      })();
      const img = await engine.images.pull(referenceString(full), pullOpts);
      if (!o.quiet) {
        ctx.out(before === img.id ? `Status: Image is up to date for ${familiarString(full)}\n` : `Status: Downloaded newer image for ${familiarString(full)}\n`);
      }
      ctx.out(`${referenceString(full)}\n`);
      return 0;
    },
  },

  push: {
    command: (v) =>
      newCommand(v, "[OPTIONS] NAME[:TAG] [DESTINATION[:TAG]]", "Upload an image to a registry")
        .option("--format <string>", "Manifest format: oci (default) or v2s2 (Docker schema 2)", "oci")
        .option("-q, --quiet", "Suppress verbose output"),
    args: [1, 2],
    async run(ctx, opts, args) {
      const o = opts as { format: string; quiet?: boolean };
      if (o.format !== "oci" && o.format !== "v2s2") throw new UsageError(ctx.verb, `unsupported manifest format: ${o.format} (oci or v2s2)`, 1);
      const engine = await ctx.engine();
      const progress = progressFor(ctx, !!o.quiet);
      const r = await engine.images.push(args[0]!, args[1], { format: o.format, ...(progress ? { progress } : {}) });
      if (o.quiet) ctx.out(`${r.ref}@${r.digest}\n`);
      return 0;
    },
  },
};
