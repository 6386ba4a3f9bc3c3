// What every verb module exports, and the helpers verbs share. Kept free of
// engine imports: the engine is opened lazily, only by verbs that need it.
import type { Command } from "commander";
import { Writable } from "node:stream";
import type { EngineApi } from "../types/engine-api.ts";
import { CapsaError } from "../util/errors.ts";

export interface CliContext {
  /** The verb as typed, e.g. "ps" or "container ls" (for messages). */
  verb: string;
  engine(): Promise<EngineApi>;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  out(text: string): void;
  err(text: string): void;
}

export interface Verb {
  /** Flags and help text; parsed by command.ts's parseArgs. */
  command(verb: string): Command;
  /** Flags stop at the first operand (run's image, exec's container). */
  passThrough?: boolean;
  /** The verb parses its arguments itself (run/create): run() gets them untouched. */
  raw?: boolean;
  /** Operand count [min, max]. */
  args?: [number, number];
  /** Engine errors exit with CapsaError.exitCode (125/126/127) rather than 1, as docker's run/create/start/exec. */
  setupErrors?: boolean;
  /** Returns the process exit code (0 when omitted). */
  run(ctx: CliContext, opts: Record<string, unknown>, args: string[]): Promise<number | void>;
}

export type VerbTable = Record<string, Verb>;

/** One line on stderr for an error, as `capsa: <message>`. */
export function errorLine(e: unknown): string {
  return `capsa: ${e instanceof Error ? e.message : String(e)}\n`;
}

/**
 * Applies fn to each name, printing the name on success (docker's stop/kill/rm/…)
 * and the error on failure; exit code 1 when any failed. `parallel`: all at
 * once, as docker's container verbs do (`stop a b c` takes the longest one's
 * time, not the sum), still reported in the order given.
 */
export async function eachTarget(ctx: CliContext, names: string[], fn: (name: string) => Promise<unknown>, print = true, parallel = false): Promise<number> {
  const outcomes = parallel ? names.map((n) => settle(fn(n))) : [];
  let code = 0;
  for (const [i, n] of names.entries()) {
    const r = parallel ? await outcomes[i]! : await settle(fn(n));
    if (r.ok) {
      if (print) ctx.out(n + "\n");
      continue;
    }
    if (!(r.error instanceof CapsaError) && !(r.error instanceof Error)) throw r.error;
    ctx.err(errorLine(r.error));
    code = 1;
  }
  return code;
}

function settle(p: Promise<unknown>): Promise<{ ok: true } | { ok: false; error: unknown }> {
  return p.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** Reads docker's "[y/N]" answer from stdin; anything but y/yes is no. */
export async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  ctx.out(`${question} [y/N] `);
  const line = await readLine(ctx.stdin);
  return /^y(es)?$/i.test(line.trim());
}

async function readLine(input: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve) => {
    let buf = "";
    const done = (): void => {
      input.off("data", onData);
      input.off("end", done);
      input.pause();
      resolve(buf);
    };
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        buf = buf.slice(0, nl);
        done();
      }
    };
    input.on("data", onData);
    input.on("end", done);
    input.resume();
  });
}

/** Parses repeated --filter k=v into the API's filters map. */
export function parseFilters(list: string[] | undefined, mkError: (m: string) => Error): Record<string, string[]> | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, string[]> = {};
  for (const f of list) {
    const eq = f.indexOf("=");
    if (eq <= 0) throw mkError(`invalid argument "${f}" for "-f, --filter" flag: bad format of filter (expected name=value)`);
    (out[f.slice(0, eq).toLowerCase()] ??= []).push(f.slice(eq + 1));
  }
  return out;
}

/** A Writable that forwards to a process stream and never closes it. */
export function passThroughTo(target: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (target.write(chunk)) cb();
      else target.once("drain", () => cb());
    },
  });
}
