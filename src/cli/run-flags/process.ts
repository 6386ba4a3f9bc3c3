// The process flags of run/create: command, entrypoint, working directory,
// user, host and domain name, the attach and stdin settings, environment
// (-e, --env-file), labels (-l, --label-file) and the stop signal and timeout.
import type { FlagParse, ParseContext } from "./types.ts";

export function applyProcessFlags(p: FlagParse, command: string[], io: { detach: boolean; interactive: boolean; tty: boolean }): void {
  const { o, ctx, config, fail } = p;
  if (command.length > 0) config.Cmd = command;
  if (o.entrypoint !== undefined) config.Entrypoint = [o.entrypoint]; // "" clears it: docker sends [""]
  if (o.workdir !== undefined) {
    if (!o.workdir.startsWith("/")) throw fail(`the working directory '${o.workdir}' is invalid, it needs to be an absolute path`);
    config.WorkingDir = o.workdir;
  }
  if (o.user !== undefined) config.User = o.user;
  if (o.hostname !== undefined) config.Hostname = o.hostname;
  if (o.domainname !== undefined) config.Domainname = o.domainname;
  config.AttachStdin = io.interactive;
  config.AttachStdout = !io.detach;
  config.AttachStderr = !io.detach;
  config.Tty = io.tty;
  config.OpenStdin = io.interactive;
  config.StdinOnce = io.interactive && !io.detach;

  const env = [...parseEnvFiles(o.envFile ?? [], ctx, fail), ...(o.env ?? []).flatMap((e) => envEntry(e, ctx, fail))];
  if (env.length > 0) config.Env = env;

  const labels = { ...parseLabelFiles(o.labelFile ?? [], ctx, fail), ...p.keyValues("label", o.label, false) };
  if (Object.keys(labels).length > 0) config.Labels = labels;
  if (o.stopSignal !== undefined) config.StopSignal = o.stopSignal;
  if (o.stopTimeout !== undefined) config.StopTimeout = p.int("stop-timeout", o.stopTimeout);
}

/** One -e value: "K=V" as is; a bare "K" takes the value from the environment (dropped when unset). */
export function envEntry(e: string, ctx: ParseContext, fail: (m: string) => Error): string[] {
  const eq = e.indexOf("=");
  const name = eq >= 0 ? e.slice(0, eq) : e;
  if (name === "") throw fail(`invalid environment variable: ${e}`);
  if (eq >= 0) return [e];
  if (/\s/.test(name)) throw fail(`poorly formatted environment: variable '${name}' contains whitespaces`);
  const v = ctx.env[name];
  return v === undefined ? [] : [`${name}=${v}`];
}

/** docker's --env-file: one K=V or bare K per line, # comments and blank lines skipped, no quote processing. */
export function parseEnvFiles(files: string[], ctx: ParseContext, fail: (m: string) => Error): string[] {
  const out: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = ctx.readFile(f);
    } catch (e) {
      throw fail(`open ${f}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`);
    }
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/^\s+/, "");
      if (line === "" || line.startsWith("#")) continue;
      out.push(...envEntry(line, ctx, fail));
    }
  }
  return out;
}

function parseLabelFiles(files: string[], ctx: ParseContext, fail: (m: string) => Error): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files) {
    let text: string;
    try {
      text = ctx.readFile(f);
    } catch {
      throw fail(`open ${f}: no such file or directory`);
    }
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const eq = line.indexOf("=");
      if (eq < 0) out[line] = "";
      else out[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return out;
}
