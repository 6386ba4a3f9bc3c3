// The health-check flags of run/create: --health-* build a check over the
// image's, --no-healthcheck disables it (and excludes the others).
import type { HealthConfig } from "../../types/records.ts";
import type { FlagParse } from "./types.ts";

export function applyHealthFlags(p: FlagParse): void {
  const { o, config, fail } = p;
  const health: HealthConfig = {};
  const anyHealth = [o.healthCmd, o.healthInterval, o.healthTimeout, o.healthStartPeriod, o.healthRetries].some((x) => x !== undefined);
  if (o.healthcheck === false) {
    if (anyHealth) throw fail("--no-healthcheck conflicts with --health-* options");
    config.Healthcheck = { Test: ["NONE"] };
  } else if (anyHealth) {
    if (o.healthCmd !== undefined) health.Test = o.healthCmd === "" ? [] : ["CMD-SHELL", o.healthCmd];
    const iv = p.duration("health-interval", o.healthInterval);
    const to = p.duration("health-timeout", o.healthTimeout);
    const sp = p.duration("health-start-period", o.healthStartPeriod);
    if (iv !== undefined) health.Interval = iv;
    if (to !== undefined) health.Timeout = to;
    if (sp !== undefined) health.StartPeriod = sp;
    const retries = p.int("health-retries", o.healthRetries);
    if (retries !== undefined) {
      if (retries < 0) throw fail("--health-retries cannot be negative");
      health.Retries = retries;
    }
    config.Healthcheck = health;
  }
}
