// Health checks without a daemon: while a container with a health check
// runs, a small shell loop (a ~1 MiB /bin/sh, not a Node process) wakes every
// interval and runs `capsa container healthcheck <id>`, which execs the test in
// the container and records the result (healthcheck.ts). The loop ends when
// the container's monitor does, so stop/kill/rm need nothing extra. This
// module is what create and start need: the checks of the settings and the loop.
import { spawn } from "node:child_process";
import type { ContainerRecord, HealthConfig } from "../../types/records.ts";
import { invalid } from "../../util/errors.ts";
import type { Ctx } from "./context.ts";
import { capsaCommand, monitorEnv } from "./exit-command.ts";

const NS = 1_000_000_000;
/** docker's defaults: 30 s interval and timeout, 3 retries, no start period. */
const DEFAULT_INTERVAL = 30 * NS;
export const DEFAULT_TIMEOUT = 30 * NS;
export const DEFAULT_RETRIES = 3;

export function healthEnabled(h: HealthConfig | undefined): h is HealthConfig & { Test: string[] } {
  return !!h?.Test?.length && h.Test[0] !== "NONE";
}

const MIN_DURATION = 1_000_000; // 1 ms, dockerd's floor for every health check duration

/**
 * dockerd's checks of a health check (daemon validateHealthCheck), applied to the
 * merged config at create, so a value from an image's config (untrusted input) is
 * checked too. A duration that is not a whole number of nanoseconds used to make
 * the health loop's `sleep` fail at once: a loop that started a Node process after
 * another without pause.
 */
export function validateHealthcheck(h: HealthConfig | undefined): void {
  if (h === undefined || h === null) return;
  if (typeof h !== "object") throw invalid("Healthcheck must be an object");
  if (h.Test !== undefined && h.Test !== null && (!Array.isArray(h.Test) || h.Test.some((w) => typeof w !== "string"))) {
    throw invalid("Healthcheck.Test must be a list of strings");
  }
  for (const key of ["Interval", "Timeout", "StartPeriod"] as const) {
    const v: unknown = h[key];
    if (v === undefined || v === null || v === 0) continue;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw invalid(`${key} in Healthcheck must be a whole number of nanoseconds, got ${JSON.stringify(v)}`);
    if (v < MIN_DURATION) throw invalid(`${key} in Healthcheck cannot be less than 1ms`);
  }
  const retries: unknown = h.Retries;
  if (retries !== undefined && retries !== null && (typeof retries !== "number" || !Number.isSafeInteger(retries))) {
    throw invalid(`Retries in Healthcheck must be a whole number, got ${JSON.stringify(retries)}`);
  }
  if (typeof retries === "number" && retries < 0) throw invalid("Retries in Healthcheck cannot be negative");
}

/** Whole seconds between checks: at least 1, the default when unset (never NaN, whatever the record holds). */
export function healthIntervalSeconds(h: HealthConfig): number {
  const ns = typeof h.Interval === "number" && Number.isFinite(h.Interval) && h.Interval > 0 ? h.Interval : DEFAULT_INTERVAL;
  return Math.max(1, Math.round(ns / NS));
}

/** Starts the periodic loop for a container that just started. */
export function startHealthLoop(ctx: Ctx, c: ContainerRecord): void {
  const h = c.config.Healthcheck;
  if (!healthEnabled(h) || !c.monitorPid) return;
  const interval = healthIntervalSeconds(h);
  // The first check runs after one interval (docker's behaviour); the loop
  // stops once the monitor is gone, i.e. the container has stopped, or when
  // sleep fails (it must never turn into a loop without pause).
  const script = `sleep ${interval} || exit; while kill -0 ${c.monitorPid} 2>/dev/null; do "$@" >/dev/null 2>&1; sleep ${interval} || exit; done`;
  const child = spawn("/bin/sh", ["-c", script, "capsa-health", ...capsaCommand(), "container", "healthcheck", c.id], {
    detached: true,
    stdio: "ignore",
    env: { ...process.env, ...monitorEnv(ctx) },
  });
  child.unref();
}
