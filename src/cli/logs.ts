// logs: -f, --tail, --since/--until (RFC 3339, unix seconds or durations), -t.
import type { LogsOptions } from "../types/engine-api.ts";
import { newCommand, UsageError } from "./command.ts";
import { parseTimestamp } from "../util/timestamp.ts";
import { rfc3339NanoUtc } from "./units.ts";
import type { VerbTable } from "./verb.ts";

interface LogsOpts {
  follow?: boolean;
  tail?: string;
  since?: string;
  until?: string;
  timestamps?: boolean;
  details?: boolean;
}

export const verbs: VerbTable = {
  logs: {
    command: (v) =>
      newCommand(v, "[OPTIONS] CONTAINER", "Fetch the logs of a container")
        .option("-f, --follow", "Follow log output")
        .option("-n, --tail <string>", 'Number of lines to show from the end of the logs (default "all")')
        .option("--since <string>", 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
        .option("--until <string>", 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
        .option("-t, --timestamps", "Show timestamps")
        .option("--details", "Show extra details provided to logs"),
    args: [1, 1],
    async run(ctx, opts, args) {
      const o = opts as LogsOpts;
      const lo: LogsOptions = { follow: !!o.follow, stdout: true, stderr: true };
      if (o.tail !== undefined && o.tail !== "all") {
        if (!/^-?\d+$/.test(o.tail)) throw new UsageError(ctx.verb, `invalid value for "tail": ${o.tail}`, 1);
        lo.tail = Number(o.tail) < 0 ? "all" : Number(o.tail);
      }
      const now = Date.now();
      const ts = (flag: string, v: string | undefined): number | undefined => {
        if (v === undefined || v === "") return undefined;
        try {
          return parseTimestamp(v, now);
        } catch (e) {
          throw new UsageError(ctx.verb, `invalid value for "${flag}": ${(e as Error).message}`, 1);
        }
      };
      const since = ts("since", o.since);
      const until = ts("until", o.until);
      if (since !== undefined) lo.since = since;
      if (until !== undefined) lo.until = until;
      const engine = await ctx.engine();
      for await (const entry of engine.containers.logs(args[0] as string, lo)) {
        const out = entry.stream === "stderr" ? ctx.stderr : ctx.stdout;
        const data = o.timestamps ? Buffer.concat([Buffer.from(rfc3339NanoUtc(entry.time) + " "), entry.data]) : entry.data;
        if (!out.write(data)) await new Promise((r) => out.once("drain", r));
      }
      return 0;
    },
  },
};
