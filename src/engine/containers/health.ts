// Health checks without a daemon: while a container with a health check
// runs, a small shell loop (a ~1 MiB /bin/sh, not a Node process) wakes every
// interval and runs `capsa container healthcheck <id>`, which execs the test in
// the container and records the result. The loop ends when the container's
// monitor does, so stop/kill/rm need nothing extra.
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import type { ContainerRecord, HealthConfig, HealthState } from "../../types/records.ts";
import { conflict, invalid } from "../../util/errors.ts";
import { type Ctx, containerEvent, nowIso } from "./context.ts";
import { execInContainer } from "./exec.ts";
import { capsaCliPath, monitorEnv } from "./exit-command.ts";

const NS = 1_000_000_000;
/** docker's defaults: 30 s interval and timeout, 3 retries, no start period. */
const DEFAULT_INTERVAL = 30 * NS;
const DEFAULT_TIMEOUT = 30 * NS;
const DEFAULT_RETRIES = 3;
const MAX_LOG = 5;
const MAX_OUTPUT = 4096;

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
  const script = `sleep ${interval} || exit; while kill -0 ${c.monitorPid} 2>/dev/null; do "$0" "$1" container healthcheck "$2" >/dev/null 2>&1; sleep ${interval} || exit; done`;
  const child = spawn("/bin/sh", ["-c", script, process.execPath, capsaCliPath(), c.id], {
    detached: true,
    stdio: "ignore",
    env: { ...process.env, ...monitorEnv(ctx) },
  });
  child.unref();
}

/** Runs the container's health check once and records the result (podman's `healthcheck run`). */
export async function runHealthcheck(ctx: Ctx, c: ContainerRecord): Promise<HealthState> {
  const h = c.config.Healthcheck;
  if (!healthEnabled(h)) throw conflict(`container ${c.name} has no defined healthcheck`);
  if (!c.state.Running) throw conflict(`container ${c.name} is not running`);
  const cmd = h.Test[0] === "CMD-SHELL" ? ["/bin/sh", "-c", h.Test.slice(1).join(" ")] : h.Test[0] === "CMD" ? h.Test.slice(1) : h.Test;
  const timeoutMs = Math.round((h.Timeout || DEFAULT_TIMEOUT) / 1e6);
  const start = nowIso();
  let output = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      output = (output + chunk.toString()).slice(-MAX_OUTPUT);
      cb();
    },
  });
  let exitCode: number;
  try {
    const r = await Promise.race([
      execInContainer(ctx, c, { Cmd: cmd }, { stdout: sink, stderr: sink }),
      new Promise<{ exitCode: number }>((resolve) => setTimeout(() => resolve({ exitCode: -1 }), timeoutMs).unref()),
    ]);
    exitCode = r.exitCode;
    if (exitCode === -1) output = `Health check exceeded timeout (${timeoutMs / 1000}s)`;
  } catch (e) {
    exitCode = 1;
    output = e instanceof Error ? e.message : String(e);
  }
  const end = nowIso();
  const inStartPeriod = Date.now() - Date.parse(c.state.StartedAt) < Math.round((h.StartPeriod ?? 0) / 1e6);
  let changed = false;
  const health = ctx.store.mutate(c.id, (r) => {
    const prev: HealthState = r.state.Health ?? { Status: "starting", FailingStreak: 0, Log: [] };
    const ok = exitCode === 0;
    const streak = ok ? 0 : inStartPeriod ? prev.FailingStreak : prev.FailingStreak + 1;
    const retries = h.Retries || DEFAULT_RETRIES;
    const status: HealthState["Status"] = ok ? "healthy" : streak >= retries ? "unhealthy" : prev.Status;
    const log = [...prev.Log, { Start: start, End: end, ExitCode: exitCode, Output: output }].slice(-MAX_LOG);
    r.state = { ...r.state, Health: { Status: status, FailingStreak: streak, Log: log } };
    changed = status !== prev.Status;
    return r.state.Health!;
  });
  // As docker: an event when the status changes, not for every check.
  if (changed) containerEvent(ctx, c, `health_status: ${health.Status}`);
  return health;
}
