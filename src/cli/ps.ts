// ps: docker's columns, widths, truncation, filters and --format.
import { newCommand, repeatable, UsageError, intFlag } from "./command.ts";
import { PS_DEFAULT, PS_HEADERS, psContext, renderRows } from "./format.ts";
import { parseFilters, type VerbTable } from "./verb.ts";
import type { ListContainersOptions } from "../types/engine-api.ts";

interface PsOpts {
  all?: boolean;
  quiet?: boolean;
  last?: string;
  latest?: boolean;
  size?: boolean;
  trunc?: boolean;
  filter?: string[];
  format?: string;
}

export const verbs: VerbTable = {
  ps: {
    command: (v) => {
      const c = newCommand(v, "[OPTIONS]", "List containers")
        .option("-a, --all", "Show all containers (default shows just running)")
        .option("-q, --quiet", "Only display container IDs")
        .option("-n, --last <int>", "Show n last created containers (includes all states)")
        .option("-l, --latest", "Show the latest created container (includes all states)")
        .option("-s, --size", "Display total file sizes")
        .option("--no-trunc", "Don't truncate output")
        .option("--format <string>", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template");
      repeatable(c, "-f, --filter <filter>", "Filter output based on conditions provided");
      return c;
    },
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as PsOpts;
      const cmd = verbs.ps?.command(ctx.verb);
      let last = cmd ? intFlag(cmd, ctx.verb, "last", o.last) : undefined;
      if (o.latest) last = 1;
      const list: ListContainersOptions = { all: !!o.all || (last !== undefined && last > 0) };
      const filters = parseFilters(o.filter, (m) => new UsageError(ctx.verb, m));
      if (filters) list.filters = filters;
      if (last !== undefined && last > 0) list.limit = last;
      const custom = o.format !== undefined && o.format !== "" && o.format !== "table";
      const wantsSize = !!o.size || (custom && /\.Size\b|json \./.test(o.format ?? ""));
      if (wantsSize) list.size = true;
      const engine = await ctx.engine();
      const rows = await engine.containers.list(list);
      const trunc = o.trunc !== false;
      let format = o.format;
      if (o.quiet) format = "{{.ID}}";
      const def = o.size ? PS_DEFAULT + "\t{{.Size}}" : PS_DEFAULT;
      const now = Date.now();
      ctx.out(renderRows(rows.map((r) => psContext(r, { trunc, now })), format, def, PS_HEADERS));
      return 0;
    },
  },
};
