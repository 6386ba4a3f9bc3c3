// volume create, ls, rm, prune (inspect lives in inspect.ts).
import { collect, newCommand, repeatable, UsageError } from "./command.ts";
import { renderRows, volumeContext, VOLUMES_DEFAULT, VOLUMES_HEADERS } from "./format.ts";
import { humanSize } from "./units.ts";
import { confirm, eachTarget, parseFilters, type VerbTable } from "./verb.ts";

function keyValues(verb: string, flag: string, list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0 && flag === "opt") throw new UsageError(verb, `invalid argument "${kv}" for "-o, --opt" flag: invalid key value pair format in driver options`);
    if (eq < 0) out[kv] = "";
    else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

export const verbs: VerbTable = {
  "volume create": {
    command: (v) => {
      const c = newCommand(v, "[OPTIONS] [VOLUME]", "Create a volume")
        .option("--name <string>", "Specify volume name")
        .option("-d, --driver <string>", "Specify volume driver name", "local");
      repeatable(c, "-o, --opt <map>", "Set driver specific options");
      repeatable(c, "--label <list>", "Set metadata for a volume");
      return c;
    },
    args: [0, 1],
    async run(ctx, opts, args) {
      const o = opts as { name?: string; driver: string; opt?: string[]; label?: string[] };
      if (o.name !== undefined && args[0] !== undefined && o.name !== args[0]) {
        throw new UsageError(ctx.verb, `conflicting options: either specify --name or provide positional arg, not both`, 1);
      }
      if (o.driver !== "local") throw new UsageError(ctx.verb, `volume driver "${o.driver}" is not supported (only "local")`, 1);
      const name = o.name ?? args[0];
      const engine = await ctx.engine();
      const create: { name?: string; labels?: Record<string, string>; options?: Record<string, string> } = {
        labels: keyValues(ctx.verb, "label", o.label),
        options: keyValues(ctx.verb, "opt", o.opt),
      };
      if (name !== undefined) create.name = name;
      const vol = engine.volumes.create(create);
      ctx.out(vol.Name + "\n");
      return 0;
    },
  },

  "volume ls": {
    command: (v) => {
      const c = newCommand(v, "[OPTIONS]", "List volumes")
        .option("-q, --quiet", "Only display volume names")
        .option("--format <string>", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template");
      repeatable(c, "-f, --filter <filter>", "Provide filter values (e.g. 'dangling=true')");
      return c;
    },
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { quiet?: boolean; format?: string; filter?: string[] };
      const filters = parseFilters(o.filter, (m) => new UsageError(ctx.verb, m));
      const engine = await ctx.engine();
      const vols = engine.volumes.list(filters ? { filters } : {}).sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
      ctx.out(renderRows(vols.map(volumeContext), o.quiet ? "{{.Name}}" : o.format, VOLUMES_DEFAULT, VOLUMES_HEADERS));
      return 0;
    },
  },

  "volume rm": {
    command: (v) => newCommand(v, "[OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes").option("-f, --force", "Force the removal of one or more volumes"),
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const o = opts as { force?: boolean };
      const engine = await ctx.engine();
      return eachTarget(ctx, args, async (n) => engine.volumes.remove(n, { force: !!o.force }));
    },
  },

  "volume prune": {
    command: (v) =>
      newCommand(v, "[OPTIONS]", "Remove unused local volumes")
        .option("-a, --all", "Remove all unused volumes, not just anonymous ones")
        .option("-f, --force", "Do not prompt for confirmation")
        .option("--filter <filter>", "Provide filter values (not supported yet)", collect),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { all?: boolean; force?: boolean; filter?: string[] };
      if (o.filter?.length) throw new UsageError(ctx.verb, "volume prune --filter is not supported yet", 1);
      const warning = o.all
        ? "WARNING! This will remove all local volumes not used by at least one container."
        : "WARNING! This will remove anonymous local volumes not used by at least one container.";
      if (!o.force && !(await confirm(ctx, `${warning}\nAre you sure you want to continue?`))) return 0;
      const engine = await ctx.engine();
      const r = engine.volumes.prune({ all: !!o.all });
      if (r.VolumesDeleted.length > 0) ctx.out(`Deleted Volumes:\n${r.VolumesDeleted.map((n) => n + "\n").join("")}\n`);
      ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
      return 0;
    },
  },
};
