// events: the engine's event journal (src/events/journal.ts), as `docker events`
// prints it: past events with --since, then live ones until --until or ctrl-c.
import { matchesEvent } from "../engine/index.ts";
import type { EngineEvent } from "../types/events.ts";
import { errorMessage } from "../util/errors.ts";
import { parseTimestamp } from "../util/timestamp.ts";
import { newCommand, repeatable, UsageError } from "./command.ts";
import { formatted } from "./system.ts";
import { parseFilters, type CliContext, type VerbTable } from "./verb.ts";

interface EventsOpts {
  since?: string;
  until?: string;
  filter?: string[];
  format?: string;
}

/** docker's line: `<RFC 3339 nano> <type> <action> <id> (k=v, …)`, attributes sorted by key. */
export function eventLine(e: EngineEvent): string {
  const secs = Math.floor(e.timeNano / 1e9);
  const nanos = String(e.timeNano - secs * 1e9).padStart(9, "0");
  const when = new Date(secs * 1000).toISOString().replace(/\.\d{3}Z$/, `.${nanos}Z`);
  const attrs = Object.entries(e.Actor.Attributes)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  return `${when} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ""}`;
}

function printer(ctx: CliContext, format: string | undefined): (e: EngineEvent) => void {
  if (format === undefined || format === "") return (e) => ctx.out(eventLine(e) + "\n");
  const template = format === "json" ? "{{json .}}" : format;
  return (e) => formatted(ctx, template, e);
}

export const verbs: VerbTable = {
  events: {
    command: (v) => {
      const c = newCommand(v, "[OPTIONS]", "Get real time events from the engine")
        .option("--since <string>", "Show all events created since timestamp")
        .option("--until <string>", "Stream events until this timestamp")
        .option("--format <string>", "Format output using a custom template: 'json', or a Go template");
      return repeatable(c, "-f, --filter <filter>", "Filter output based on conditions provided");
    },
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as EventsOpts;
      const filters = parseFilters(o.filter, (m) => new UsageError(ctx.verb, m));
      let since: number | undefined;
      let until: number | undefined;
      try {
        const now = Date.now();
        if (o.since) since = parseTimestamp(o.since, now);
        if (o.until) until = parseTimestamp(o.until, now);
      } catch (e) {
        throw new UsageError(ctx.verb, errorMessage(e));
      }
      const engine = await ctx.engine();
      const print = printer(ctx, o.format);
      const show = (e: EngineEvent): void => {
        if (matchesEvent(e, filters) && (until === undefined || e.timeNano <= until * 1e9)) print(e);
      };
      // Follow first, so nothing appended while the history is read is missed; what both saw is shown once.
      const live: EngineEvent[] = [];
      let replaying = true;
      let last = 0;
      const stop =
        until !== undefined && until <= Date.now() / 1000
          ? undefined
          : engine.events.follow((e) => {
              if (replaying) live.push(e);
              else show(e);
            });
      if (since !== undefined) {
        for (const e of engine.events.read(since * 1e9)) {
          show(e);
          last = e.timeNano;
        }
      }
      for (const e of live) if (e.timeNano > last) show(e);
      replaying = false;
      if (!stop) return 0;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          process.off("SIGINT", done);
          process.off("SIGTERM", done);
          clearTimeout(timer);
          stop();
          resolve();
        };
        const timer = until !== undefined ? setTimeout(done, until * 1000 - Date.now()) : undefined;
        process.once("SIGINT", done);
        process.once("SIGTERM", done);
      });
      return 0;
    },
  },
};
