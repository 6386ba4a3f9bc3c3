// Which isolation level a container runs at: "container" (shared kernel, runc),
// "sandbox" (gVisor's user-space kernel, runsc) or "vm" (its own kernel under
// QEMU). The level is chosen once, at create, and kept in HostConfig.Isolation:
//   --isolation / HostConfig.Isolation  >  $CAPSA_ISOLATION  >  engine config  >  "container".
// The engine config (src/runtime/engine-config.ts): { "isolation": "vm" }.
import { invalid } from "../util/errors.ts";
import { engineConfigPath, loadEngineConfig } from "../runtime/engine-config.ts";
import { ISOLATION_LEVELS, type IsolationLevel } from "../runtime/handler.ts";

function check(value: string, from: string): IsolationLevel {
  const v = value.trim().toLowerCase();
  if ((ISOLATION_LEVELS as readonly string[]).includes(v)) return v as IsolationLevel;
  throw invalid(`invalid isolation '${value}' (${from}): choose one of ${ISOLATION_LEVELS.join(", ")}`);
}

/** The level for a new container. docker's "default" (and "") mean: whatever the engine defaults to. */
export function resolveIsolation(requested: string | undefined, env: NodeJS.ProcessEnv = process.env): IsolationLevel {
  if (requested && requested !== "default") return check(requested, "--isolation");
  if (env.CAPSA_ISOLATION) return check(env.CAPSA_ISOLATION, "CAPSA_ISOLATION");
  const cfg = loadEngineConfig(env);
  if (cfg.isolation) return check(cfg.isolation, engineConfigPath(env));
  return "container";
}

/** The level of an existing container (records made before levels existed are containers). */
export function isolationOf(hostConfig: { Isolation?: string }): IsolationLevel {
  const v = hostConfig.Isolation;
  return v === "sandbox" || v === "vm" ? v : "container";
}

/**
 * cp, diff, export and commit work on the container's overlay on the host;
 * a VM writes to its own disk instead. Until they can read that disk, they
 * refuse clearly rather than show a stale or empty file system.
 */
export function refuseForVm(hostConfig: { Isolation?: string }, verb: string, name: string): void {
  if (isolationOf(hostConfig) === "vm") throw invalid(`${verb} is not supported for ${name}: it runs as a VM (--isolation vm) and its files live on the VM's own disk; use exec (e.g. exec -i ${name} tar) instead`);
}
