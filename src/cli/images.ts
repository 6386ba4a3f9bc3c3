// images, rmi, tag, history, import, load, save, image prune.
import fs from "node:fs";
import type { Readable } from "node:stream";
import { collect, newCommand, repeatable, UsageError } from "./command.ts";
import { validReference } from "./container-flags.ts";
import { HISTORY_DEFAULT, HISTORY_HEADERS, historyContext, IMAGES_DEFAULT, IMAGES_DIGESTS, IMAGES_HEADERS, imageRows, renderRows } from "./format.ts";
import { writeOut } from "./observe.ts";
import { humanSize } from "./units.ts";
import { confirm, eachTarget, parseFilters, type CliContext, type VerbTable } from "./verb.ts";

function untagLines(items: { Untagged?: string; Deleted?: string }[], lower = false): string {
  return items.map((i) => (i.Untagged !== undefined ? `${lower ? "untagged" : "Untagged"}: ${i.Untagged}\n` : `${lower ? "deleted" : "Deleted"}: ${i.Deleted ?? ""}\n`)).join("");
}

function inputStream(ctx: CliContext, file: string | undefined, what: string): Readable {
  if (file !== undefined && file !== "-") return fs.createReadStream(file);
  if (ctx.stdin.isTTY) throw new UsageError(ctx.verb, `requested ${what} from stdin, but stdin is empty`, 1);
  return ctx.stdin;
}

export const verbs: VerbTable = {
  images: {
    command: (v) => {
      const c = newCommand(v, "[OPTIONS] [REPOSITORY[:TAG]]", "List images")
        .option("-a, --all", "Show all images (default hides intermediate images)")
        .option("-q, --quiet", "Only show image IDs")
        .option("--no-trunc", "Don't truncate output")
        .option("--digests", "Show digests")
        .option("--format <string>", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template");
      repeatable(c, "-f, --filter <filter>", "Filter output based on conditions provided");
      return c;
    },
    args: [0, 1],
    async run(ctx, opts, args) {
      const o = opts as { all?: boolean; quiet?: boolean; trunc?: boolean; digests?: boolean; format?: string; filter?: string[] };
      const filters = parseFilters(o.filter, (m) => new UsageError(ctx.verb, m)) ?? {};
      if (args[0] !== undefined) (filters.reference ??= []).push(args[0]);
      const engine = await ctx.engine();
      const listOpts: { all?: boolean; filters?: Record<string, string[]> } = { all: !!o.all };
      if (Object.keys(filters).length > 0) listOpts.filters = filters;
      const rows = imageRows(engine.images.list(listOpts), { trunc: o.trunc !== false });
      if (o.quiet) {
        const ids = [...new Set(rows.map((r) => r.ID))];
        ctx.out(ids.map((i) => i + "\n").join(""));
        return 0;
      }
      ctx.out(renderRows(rows, o.format, o.digests ? IMAGES_DIGESTS : IMAGES_DEFAULT, IMAGES_HEADERS));
      return 0;
    },
  },

  rmi: {
    command: (v) =>
      newCommand(v, "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images")
        .option("-f, --force", "Force removal of the image")
        .option("--no-prune", "Do not delete untagged parents"),
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const o = opts as { force?: boolean; prune?: boolean };
      const engine = await ctx.engine();
      return eachTarget(
        ctx,
        args,
        async (n) => ctx.out(untagLines(engine.images.remove(n, { force: !!o.force, noPrune: o.prune === false }))),
        false,
      );
    },
  },

  tag: {
    command: (v) => newCommand(v, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    args: [2, 2],
    async run(ctx, _opts, args) {
      const [src, dst] = args as [string, string];
      if (!validReference(dst) || /^(sha256:)?[0-9a-f]{64}$/.test(dst)) throw new UsageError(ctx.verb, "invalid reference format", 1);
      const engine = await ctx.engine();
      engine.images.tag(src, dst);
      return 0;
    },
  },

  history: {
    command: (v) =>
      newCommand(v, "[OPTIONS] IMAGE", "Show the history of an image")
        .option("-H, --human", "Print sizes and dates in human readable format (default true)")
        .option("--no-human", "Print sizes in bytes and dates as RFC 3339")
        .option("--no-trunc", "Don't truncate output")
        .option("-q, --quiet", "Only show image IDs")
        .option("--format <string>", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template"),
    args: [1, 1],
    async run(ctx, opts, args) {
      const o = opts as { human?: boolean; trunc?: boolean; quiet?: boolean; format?: string };
      const engine = await ctx.engine();
      const now = Date.now();
      const rows = engine.images.history(args[0] as string).map((h) => historyContext(h, { trunc: o.trunc !== false, human: o.human !== false, now }));
      ctx.out(renderRows(rows, o.quiet ? "{{.ID}}" : o.format, HISTORY_DEFAULT, HISTORY_HEADERS));
      return 0;
    },
  },

  import: {
    command: (v) =>
      newCommand(v, "[OPTIONS] file|-  [REPOSITORY[:TAG]]", "Import the contents from a tarball to create a filesystem image")
        .option("-c, --change <list>", "Apply Dockerfile instruction to the created image", collect)
        .option("-m, --message <string>", "Set commit message for imported image")
        .option("--platform <string>", "Set platform if server is multi-platform capable"),
    args: [1, 2],
    async run(ctx, opts, args) {
      const o = opts as { change?: string[]; message?: string };
      const [src, ref] = args as [string, string | undefined];
      if (ref !== undefined && !validReference(ref)) throw new UsageError(ctx.verb, "invalid reference format", 1);
      if (/^https?:\/\//.test(src)) throw new UsageError(ctx.verb, "importing from a URL is not supported: download the file and import it", 1);
      const stream = inputStream(ctx, src, "import");
      const engine = await ctx.engine();
      const io: { ref?: string; changes?: string[]; message?: string } = {};
      if (ref !== undefined) io.ref = ref;
      if (o.change) io.changes = o.change;
      if (o.message !== undefined) io.message = o.message;
      const img = await engine.images.importRootfs(stream, io);
      ctx.out(img.id + "\n");
      return 0;
    },
  },

  load: {
    command: (v) =>
      newCommand(v, "[OPTIONS]", "Load an image from a tar archive or STDIN")
        .option("-i, --input <string>", "Read from tar archive file, instead of STDIN")
        .option("-q, --quiet", "Suppress the load output"),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { input?: string };
      const stream = inputStream(ctx, o.input, "load");
      const engine = await ctx.engine();
      const lines = await engine.images.load(stream);
      ctx.out(lines.map((l) => l + "\n").join(""));
      return 0;
    },
  },

  save: {
    command: (v) =>
      newCommand(v, "[OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive (streamed to STDOUT by default)")
        .option("-o, --output <string>", "Write to a file, instead of STDOUT")
        .option("--format <string>", "Archive format: docker-archive (default) or oci-archive", "docker-archive"),
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const o = opts as { output?: string; format: string };
      if (o.format !== "docker-archive" && o.format !== "oci-archive") throw new UsageError(ctx.verb, `unsupported archive format: ${o.format} (docker-archive or oci-archive)`, 1);
      if (o.output === undefined && ctx.stdout.isTTY) throw new UsageError(ctx.verb, "cowardly refusing to save to a terminal. Use the -o flag or redirect", 1);
      const engine = await ctx.engine();
      const { PassThrough } = await import("node:stream");
      const pt = new PassThrough();
      const saving = engine.images.save(args, pt, o.format).then(
        () => pt.end(),
        (e: unknown) => pt.destroy(e as Error),
      );
      await Promise.all([writeOut(pt, o.output, ctx.stdout), saving]);
      return 0;
    },
  },

  "image prune": {
    command: (v) =>
      newCommand(v, "[OPTIONS]", "Remove unused images")
        .option("-a, --all", "Remove all unused images, not just dangling ones")
        .option("-f, --force", "Do not prompt for confirmation")
        .option("--filter <filter>", "Provide filter values (not supported yet)", collect),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { all?: boolean; force?: boolean; filter?: string[] };
      if (o.filter?.length) throw new UsageError(ctx.verb, "image prune --filter is not supported yet", 1);
      const warning = o.all
        ? "WARNING! This will remove all images without at least one container associated to them."
        : "WARNING! This will remove all dangling images.";
      if (!o.force && !(await confirm(ctx, `${warning}\nAre you sure you want to continue?`))) return 0;
      const engine = await ctx.engine();
      const r = engine.images.prune({ all: !!o.all });
      if (r.ImagesDeleted.length > 0) ctx.out(`Deleted Images:\n${untagLines(r.ImagesDeleted, true)}\n`);
      ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
      return 0;
    },
  },
};
