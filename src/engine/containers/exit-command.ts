// The program conmon runs when a container exits: `capsa container cleanup <id>`
// (unmount, record the exit, apply the restart policy, honour --rm). Found
// beside the bundle this code runs from, so the SDK and the CLI agree.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Ctx } from "./context.ts";

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

/** The state root travels in the environment conmon passes on (see monitorEnv). */
export function exitCommandFor(id: string): string[] {
  return [process.execPath, capsaCliPath(), "container", "cleanup", id];
}

export function monitorEnv(ctx: Ctx): Record<string, string> {
  return { CAPSA_ROOT: ctx.paths.root, CAPSA_RUNROOT: ctx.paths.runRoot };
}
