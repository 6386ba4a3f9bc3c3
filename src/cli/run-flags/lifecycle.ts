// The lifecycle flags of run/create: the restart policy, --rm, and the log
// driver and its options.
import type { RestartPolicy } from "../../types/records.ts";
import type { FlagParse } from "./types.ts";

export function applyLifecycleFlags(p: FlagParse): void {
  const { o, hostConfig, fail } = p;
  const restart = parseRestartPolicy(o.restart, fail);
  if (o.restart !== "no" || restart.Name !== "no") hostConfig.RestartPolicy = restart;
  if (o.rm) {
    if (restart.Name !== "no" && restart.Name !== "") throw fail("Conflicting options: --restart and --rm");
    hostConfig.AutoRemove = true;
  }
  if (o.logDriver !== undefined || o.logOpt) {
    // Drivers and options are the engine's to check (log-config.ts), for the API alike.
    const type = o.logDriver ?? "json-file";
    hostConfig.LogConfig = { Type: type, Config: p.keyValues("log-opt", o.logOpt, true) ?? {} };
  }
}

/** --restart no|always|unless-stopped|on-failure[:N]. */
export function parseRestartPolicy(s: string, fail: (m: string) => Error): RestartPolicy {
  const [name = "", count, ...extra] = s.split(":");
  if (extra.length > 0) throw fail(`invalid restart policy format: ${s}`);
  if (!["no", "always", "unless-stopped", "on-failure", ""].includes(name)) {
    throw fail(`invalid restart policy format: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (count !== undefined) {
    if (!/^\d+$/.test(count)) throw fail("invalid restart policy format: maximum retry count must be an integer");
    if (name !== "on-failure") throw fail(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
    return { Name: "on-failure", MaximumRetryCount: Number(count) };
  }
  return { Name: (name === "" ? "no" : name) as RestartPolicy["Name"] };
}
