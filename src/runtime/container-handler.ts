// The "container" isolation level: crun or runc (probed once per state root,
// or the one --runtime names), on the host's kernel.
//
// --runtime (HostConfig.Runtime) takes a NAME, never a path: as dockerd allows
// only the runtimes its configuration defines, an API client must not be able
// to make the engine execute a file of its choosing as root. The names are
// capsa's own (crun, runc; runsc is the sandbox level) and those of the
// engine config's "runtimes": { "name": { "path": "/abs/path" } }.
import path from "node:path";
import type { RuntimeHandler } from "./handler.ts";
import { engineConfigPath, loadEngineConfig } from "./engine-config.ts";
import { resolveRuntime } from "./probe.ts";
import { OciRuntime } from "./runc.ts";
import { invalid } from "../util/errors.ts";

/** Container-level runtimes capsa knows by name (found on $PATH and probed). */
export const BUILTIN_RUNTIMES = ["crun", "runc"] as const;
/** The runtime name that means the sandbox isolation level. */
export const SANDBOX_RUNTIME = "runsc";

/** The engine config's "runtimes": name → absolute path of the binary. */
export function configuredRuntimes(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const file = engineConfigPath(env);
  const raw = loadEngineConfig(env).runtimes;
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw invalid(`${file}: "runtimes" must be an object of name → { "path": "/abs/path" }`);
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    const p = v && typeof v === "object" ? (v as { path?: unknown }).path : undefined;
    if (typeof p !== "string" || !path.isAbsolute(p)) throw invalid(`${file}: runtimes.${name}.path must be an absolute path`);
    if ((BUILTIN_RUNTIMES as readonly string[]).includes(name) || name === SANDBOX_RUNTIME || name.includes("/")) throw invalid(`${file}: runtimes.${name}: the name is reserved or not a name`);
    out[name] = p;
  }
  return out;
}

/**
 * What a container-level runtime name resolves to: a builtin name (looked up
 * on $PATH) or a configured one (its path). Anything else — a path above
 * all — is dockerd's 400, `unknown or invalid runtime name: X`.
 */
export function checkRuntimeName(name: string, env: NodeJS.ProcessEnv = process.env): { name: string; path?: string } {
  if ((BUILTIN_RUNTIMES as readonly string[]).includes(name)) return { name };
  const configured = configuredRuntimes(env)[name];
  if (configured) return { name, path: configured };
  throw invalid(`unknown or invalid runtime name: ${name}`);
}

export const containerHandler: RuntimeHandler = {
  level: "container",
  runtimeName: (c) => c.runtime || "auto",
  async runtime(paths, c) {
    // Checked again here: a record written before names were enforced may hold a path.
    const requested = c.runtime || c.hostConfig.Runtime || undefined;
    const named = requested ? checkRuntimeName(requested) : undefined;
    const rt = await resolveRuntime(paths, named ? (named.path ?? named.name) : undefined);
    return new OciRuntime(rt.path, paths.runtimeRoot, named?.name ?? rt.name);
  },
  status: () => Promise.resolve({ available: true, detail: "available" }),
};
