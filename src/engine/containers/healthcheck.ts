// One run of a container's health check (`capsa container healthcheck <id>`,
// which the loop of health.ts runs every interval): exec the test, record the result.
import { Writable } from "node:stream";
import type { ContainerRecord, HealthState } from "../../types/records.ts";
import { conflict } from "../../util/errors.ts";
import { type Ctx, containerEvent, nowIso } from "./context.ts";
import { execInContainer } from "./exec.ts";
import { DEFAULT_RETRIES, DEFAULT_TIMEOUT, healthEnabled } from "./health.ts";

const MAX_LOG = 5;
const MAX_OUTPUT = 4096;

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
