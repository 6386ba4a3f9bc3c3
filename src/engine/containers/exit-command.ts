// The program conmon runs when a container exits: `capsa container cleanup <id>`
// (unmount, record the exit, apply the restart policy, honour --rm). Found
// beside the bundle this code runs from, so the SDK and the CLI agree.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Ctx, persistDir } from "./context.ts";

let cliPath: string | undefined;

export function capsaCliPath(): string {
  if (cliPath) return cliPath;
  if (process.env.CAPSA_CLI) return (cliPath = process.env.CAPSA_CLI);
  // Walk up from this module to the package root (dist/ when bundled, src/engine/containers under tsx).
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, "dist", "cli.js");
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(candidate)) return (cliPath = candidate);
    if (path.basename(dir) === "dist" && fs.existsSync(path.join(dir, "cli.js"))) return (cliPath = path.join(dir, "cli.js"));
    dir = path.dirname(dir);
  }
  throw new Error("cannot find capsa's CLI bundle (dist/cli.js): run `npm run build`");
}

let command: string[] | undefined;

/**
 * How to start the CLI: bin/capsa, the launcher, which runs the bundle under
 * Bun when it is installed (a few ms to start where Node takes ~55, on every
 * container exit; docs/decisions/0014-cli-runtime.md) and honours
 * CAPSA_JS_RUNTIME; this runtime and the bundle when there is no launcher.
 */
export function capsaCommand(): string[] {
  if (command) return command;
  const cli = capsaCliPath();
  const launcher = path.join(path.dirname(cli), "..", "bin", "capsa");
  return (command = !process.env.CAPSA_CLI && fs.existsSync(launcher) ? [launcher] : [process.execPath, cli]);
}

/**
 * The state root travels in the environment conmon passes on (see monitorEnv).
 * A small sh guard runs first: when a live process has said it will record
 * this exit itself (a stop, rm -f or kill -9 in progress; the API service,
 * which watches every container it starts), no CLI process starts at all —
 * 20 of them at once cost seconds of CPU. If that process is gone, the exit
 * command runs as usual.
 */
export function exitCommandFor(ctx: Ctx, id: string): string[] {
  const guard = 'read -r p 2>/dev/null < "$1" && kill -0 "$p" 2>/dev/null && exit 0; shift; exec "$@"';
  return ["/bin/sh", "-c", guard, "capsa-exit", settledMarker(ctx, id), ...capsaCommand(), "container", "cleanup", id];
}

/** "Process <pid> records this exit": the marker the exit command's guard reads. */
export function settledMarker(ctx: Ctx, id: string): string {
  return path.join(persistDir(ctx, id), "settled-by-caller");
}

export function markSettledByCaller(ctx: Ctx, id: string): void {
  try {
    fs.writeFileSync(settledMarker(ctx, id), `${process.pid}\n`);
  } catch {
    /* no run dir (not running): nothing to skip */
  }
}

export function monitorEnv(ctx: Ctx): Record<string, string> {
  return { CAPSA_ROOT: ctx.paths.root, CAPSA_RUNROOT: ctx.paths.runRoot };
}
