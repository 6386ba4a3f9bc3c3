// The client side of an attached session: which streams to hand the engine,
// the terminal in raw mode with -t (restored on every exit path), resizes,
// docker's --sig-proxy, and its detach keys (ctrl-p ctrl-q or --detach-keys:
// the client leaves, the workload keeps running).
import os from "node:os";
import type { AttachStreams } from "../types/engine-api.ts";
import { passThroughTo, type CliContext } from "./verb.ts";
import { CapsaError } from "../util/errors.ts";
import { DEFAULT_DETACH_KEYS, detachingStdin, parseDetachKeys } from "../util/detach-keys.ts";

export interface Terminal {
  streams: AttachStreams;
  /** Resolves when the user typed the detach keys (the session is over, the workload runs on). */
  detached: Promise<void>;
  restore(): void;
}

/** Checks a --detach-keys value before anything is created (a bad one is a one-line error). */
export function checkDetachKeys(keys: string | undefined): void {
  if (keys !== undefined && keys !== "") parseDetachKeys(keys);
}

/**
 * Runs an attached session until `session` settles or the user detaches. As
 * docker's CLI: run and start -a end quietly with 0; attach and exec report
 * the detach as an error ("read escape sequence", exit 1).
 */
export async function untilDetached(ctx: CliContext, term: Terminal, session: Promise<number>, how: "quiet" | "as-error"): Promise<number> {
  const detached = term.detached.then(() => {
    if (how === "quiet") return 0;
    term.restore(); // the message on a cooked terminal
    ctx.err("read escape sequence\n");
    return 1;
  });
  return Promise.race([session, detached]);
}

export function openTerminal(ctx: CliContext, opts: { interactive: boolean; tty: boolean; detachKeys?: string }): Terminal {
  // As docker: an interactive terminal session needs a terminal to read from.
  // (`echo ls | capsa run -it img sh` used to wait forever with the container running.)
  if (opts.tty && opts.interactive && !ctx.stdin.isTTY) throw new CapsaError("invalid", "the input device is not a TTY", 1);
  const streams: AttachStreams = { stdout: passThroughTo(ctx.stdout) };
  if (!opts.tty) streams.stderr = passThroughTo(ctx.stderr);
  let onDetach: () => void = () => undefined;
  const detached = new Promise<void>((r) => (onDetach = r));
  if (opts.interactive) streams.stdin = detachingStdin(ctx.stdin, parseDetachKeys(opts.detachKeys || DEFAULT_DETACH_KEYS), onDetach);
  const cleanups: (() => void)[] = [];
  if (opts.tty && opts.interactive && ctx.stdin.isTTY) {
    ctx.stdin.setRawMode(true);
    const restore = (): void => {
      if (ctx.stdin.isRaw) ctx.stdin.setRawMode(false);
    };
    cleanups.push(restore);
    // Also on a hard exit: a terminal left in raw mode is unusable.
    process.once("exit", restore);
    cleanups.push(() => process.off("exit", restore));
  }
  if (opts.tty && ctx.stdout.isTTY) {
    streams.onResize = (resize) => {
      const send = (): void => resize(ctx.stdout.rows, ctx.stdout.columns);
      send();
      ctx.stdout.on("resize", send);
      cleanups.push(() => ctx.stdout.off("resize", send));
    };
  }
  return {
    streams,
    detached,
    restore() {
      for (const c of cleanups.splice(0).reverse()) c();
      if (opts.interactive) ctx.stdin.pause();
    },
  };
}

const PROXIED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/**
 * docker's --sig-proxy: while attached, signals the CLI receives go to the
 * container. `forward` returns false when there is no container to send to yet;
 * the CLI then exits as the signal would have ended it.
 */
export function proxySignals(forward: (sig: NodeJS.Signals) => boolean): () => void {
  const handlers = PROXIED.map((sig) => {
    const h = (): void => {
      if (!forward(sig)) process.exit(128 + (os.constants.signals[sig] ?? 0));
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}
