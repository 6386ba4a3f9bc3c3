// Commander glue with docker's (pflag's) conventions: `--flag=true|false` on
// boolean flags, docker's wording for flag errors, exit code 125 for bad flags
// and 1 for a wrong number of arguments.
import { Command, CommanderError, Option } from "commander";

/** A command-line mistake; printed as docker prints it, with a pointer to --help. */
export class UsageError extends Error {
  readonly exitCode: number;
  readonly verb: string;
  constructor(verb: string, message: string, exitCode = 125) {
    super(message);
    this.name = "UsageError";
    this.verb = verb;
    this.exitCode = exitCode;
  }
}

/** --help was given: print `text` to stdout and exit 0. */
export class HelpRequested extends Error {
  readonly text: string;
  constructor(text: string) {
    super("help requested");
    this.text = text;
  }
}

/** Collects a repeated flag's values in order. */
export const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** A command for `capsa <verb>`, help on --help only (-h is --hostname for run). */
export function newCommand(verb: string, usage: string, description: string): Command {
  const cmd = new Command(`capsa ${verb}`);
  cmd.usage(usage).description(description).helpOption("--help", "Print usage").allowExcessArguments(true).allowUnknownOption(false);
  cmd.argument("[args...]");
  return cmd;
}

/** Adds a repeatable flag. */
export function repeatable(cmd: Command, flags: string, description: string): Command {
  return cmd.addOption(new Option(flags, description).argParser(collect));
}

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/**
 * Rewrites pflag-style `--bool=true|false` (which commander does not know) into
 * `--bool`, `--no-bool` or nothing. Stops at the first operand of commands that
 * pass the rest through (run's image), and at `--`.
 */
export function normalizeBoolFlags(cmd: Command, verb: string, args: string[], passThrough: boolean): string[] {
  const opts = cmd.options;
  const byLong = new Map(opts.filter((o) => o.long).map((o) => [o.long as string, o]));
  const byShort = new Map(opts.filter((o) => o.short).map((o) => [o.short as string, o]));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq >= 0 ? a.slice(0, eq) : a;
      const o = byLong.get(name);
      if (o && !o.required && !o.optional && eq >= 0) {
        const v = a.slice(eq + 1);
        if (TRUE.has(v)) out.push(name);
        else if (FALSE.has(v)) {
          const neg = "--no-" + name.slice(2);
          if (byLong.has(neg)) out.push(neg);
        } else throw new UsageError(verb, `invalid argument "${v}" for "${flagLabel(o)}" flag: strconv.ParseBool: parsing "${v}": invalid syntax`);
        continue;
      }
      out.push(a);
      if (o?.required && eq < 0 && i + 1 < args.length) out.push(args[++i] as string);
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      out.push(a);
      // a short cluster: the first value-taking flag eats the rest or the next argument
      for (let j = 1; j < a.length; j++) {
        const o = byShort.get("-" + a[j]);
        if (o?.required) {
          if (j === a.length - 1 && i + 1 < args.length) out.push(args[++i] as string);
          break;
        }
      }
      continue;
    }
    out.push(a);
    if (passThrough) {
      out.push(...args.slice(i + 1));
      break;
    }
  }
  return out;
}

function flagLabel(o: Option): string {
  return o.short ? `${o.short}, ${o.long ?? ""}` : (o.long ?? "");
}

/** pflag's "-m, --memory" label for a flag name ("memory"). */
export function flagName(cmd: Command, long: string): string {
  const o = cmd.options.find((x) => x.long === `--${long}`);
  return o ? flagLabel(o) : `--${long}`;
}

export interface Parsed {
  opts: Record<string, unknown>;
  args: string[];
}

/** Parses args with docker's error wording; throws UsageError or HelpRequested. */
export function parseArgs(cmd: Command, verb: string, args: string[], passThrough = false): Parsed {
  let help = "";
  cmd.exitOverride();
  cmd.configureOutput({ writeOut: (s) => (help += s), writeErr: () => undefined, outputError: () => undefined });
  if (passThrough) cmd.passThroughOptions();
  const normalized = normalizeBoolFlags(cmd, verb, args, passThrough);
  try {
    cmd.parse(normalized, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.help") throw new HelpRequested(help);
      throw new UsageError(verb, commanderMessage(e));
    }
    throw e;
  }
  return { opts: cmd.opts(), args: cmd.processedArgs[0] as string[] };
}

function commanderMessage(e: CommanderError): string {
  const m = e.message.replace(/^error: /, "");
  let r: RegExpExecArray | null;
  if (e.code === "commander.unknownOption" && (r = /unknown option '([^']*)'/.exec(m))) {
    const flag = (r[1] ?? "").replace(/=.*$/, "");
    return flag.startsWith("--") ? `unknown flag: ${flag}` : `unknown shorthand flag: '${flag.slice(1, 2)}' in ${flag}`;
  }
  if (e.code === "commander.optionMissingArgument" && (r = /option '([^']*)' argument missing/.exec(m))) {
    const long = /--[\w-]+/.exec(r[1] ?? "")?.[0];
    return `flag needs an argument: ${long ?? r[1]}`;
  }
  return m;
}

/** Checks the operand count with docker's wording (exit 1, as docker). */
export function requireArgs(verb: string, args: string[], min: number, max = Infinity): void {
  if (args.length >= min && args.length <= max) return;
  const plural = (n: number): string => (n === 1 ? "argument" : "arguments");
  let msg: string;
  if (min === max) msg = `"capsa ${verb}" requires exactly ${min} ${plural(min)}.`;
  else if (args.length < min) msg = `"capsa ${verb}" requires at least ${min} ${plural(min)}.`;
  else if (max === 0) msg = `"capsa ${verb}" accepts no arguments.`;
  else msg = `"capsa ${verb}" requires at most ${max} ${plural(max)}.`;
  throw new UsageError(verb, msg, 1);
}

/** Parses an integer flag value with pflag's wording on error. */
export function intFlag(cmd: Command, verb: string, long: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = v;
  if (!/^[-+]?\d+$/.test(s)) throw new UsageError(verb, `invalid argument "${s}" for "${flagName(cmd, long)}" flag: strconv.ParseInt: parsing "${s}": invalid syntax`);
  return Number(s);
}
