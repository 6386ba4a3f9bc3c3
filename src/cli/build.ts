// build (and `image build`): docker's flags; the context is a directory, `-`
// for a Containerfile or a tar archive on stdin. Progress goes to stdout as
// docker's classic builder prints it; a failing step exits 1.
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { build, pruneBuildCache } from "../builder/index.ts";
import { parseEntitlements, type BuildOptions, type Entitlement } from "../types/build.ts";
import { collect, newCommand, UsageError } from "./command.ts";
import { validReference } from "./container-flags.ts";
import { humanSize } from "./units.ts";
import { confirm, passThroughTo, type VerbTable } from "./verb.ts";

async function readAll(input: NodeJS.ReadStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A tar (or compressed) stream, as opposed to a Containerfile's text. */
function looksLikeArchive(b: Buffer): boolean {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return true;
  return b.length >= 262 && b.subarray(257, 262).toString("latin1") === "ustar";
}

export const verbs: VerbTable = {
  build: {
    command: (v) =>
      newCommand(v, "[OPTIONS] PATH | -", "Build an image from a Containerfile or Dockerfile")
        .option("-t, --tag <name>", "Name and optionally a tag in the 'name:tag' format", collect)
        .option("-f, --file <string>", "Name of the Dockerfile (default: 'PATH/Containerfile' or 'PATH/Dockerfile')")
        .option("--build-arg <list>", "Set build-time variables", collect)
        .option("--target <string>", "Set the target build stage to build")
        .option("--no-cache", "Do not use cache when building the image")
        .option("--pull", "Always attempt to pull a newer version of the image")
        .option("--label <list>", "Set metadata for an image", collect)
        .option("--iidfile <string>", "Write the image ID to the file")
        .option("--network <string>", "Set the networking mode for the RUN instructions during build", "default")
        .option("--allow <entitlement>", "Allow extra privileged entitlement: network.host (RUN --network=host in the Containerfile)", collect)
        .option("--platform <string>", "Set platform (only linux/amd64)")
        .option("--progress <string>", "Set type of progress output (plain only)")
        .option("--rm", "Remove intermediate containers after a successful build (always)")
        .option("--force-rm", "Always remove intermediate containers (always)")
        .option("-q, --quiet", "Suppress the build output and print image ID on success"),
    args: [1, 1],
    async run(ctx, opts, args) {
      const o = opts as {
        tag?: string[];
        file?: string;
        buildArg?: string[];
        target?: string;
        cache?: boolean;
        pull?: boolean;
        label?: string[];
        iidfile?: string;
        network?: string;
        allow?: string[];
        platform?: string;
        quiet?: boolean;
      };
      for (const t of o.tag ?? []) {
        if (!validReference(t)) throw new UsageError(ctx.verb, `invalid argument "${t}" for "-t, --tag" flag: invalid reference format`);
      }
      if (o.platform && !/^linux\/(amd64|x86_64)$/.test(o.platform)) throw new UsageError(ctx.verb, `platform ${o.platform} is not supported here (linux/amd64 only)`);
      if (o.network && !["default", "none", "host", "bridge"].includes(o.network)) throw new UsageError(ctx.verb, `--network ${o.network}: use none, host, bridge or default`);
      let allow: Entitlement[];
      try {
        allow = parseEntitlements(o.allow ?? []);
      } catch (e) {
        throw new UsageError(ctx.verb, `invalid argument for "--allow" flag: ${(e as Error).message}`);
      }
      const buildArgs: Record<string, string> = {};
      for (const a of o.buildArg ?? []) {
        const eq = a.indexOf("=");
        if (eq === 0) throw new UsageError(ctx.verb, `invalid argument "${a}" for "--build-arg" flag`);
        if (eq < 0) {
          // docker: a bare name takes its value from the environment, or is skipped.
          const v = ctx.env[a];
          if (v !== undefined) buildArgs[a] = v;
        } else buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
      }
      const labels: Record<string, string> = {};
      for (const l of o.label ?? []) {
        const eq = l.indexOf("=");
        labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
      }
      const abort = new AbortController();
      const bopts: BuildOptions = {
        tags: o.tag ?? [],
        buildArgs,
        labels,
        noCache: o.cache === false,
        pull: !!o.pull,
        network: o.network ?? "default",
        allow,
        output: passThroughTo(ctx.stdout),
        quiet: !!o.quiet,
        signal: abort.signal,
      };
      if (o.target) bopts.target = o.target;
      const ctxArg = args[0]!;
      if (ctxArg === "-") {
        if (ctx.stdin.isTTY) throw new UsageError(ctx.verb, "requested the build context from stdin, but stdin is a terminal", 1);
        const data = await readAll(ctx.stdin);
        if (looksLikeArchive(data)) {
          bopts.contextTar = Readable.from([data]);
          if (o.file) bopts.dockerfile = o.file;
        } else bopts.dockerfileText = data.toString("utf8");
      } else {
        bopts.contextDir = path.resolve(ctx.cwd, ctxArg);
        if (o.file === "-") bopts.dockerfileText = (await readAll(ctx.stdin)).toString("utf8");
        else if (o.file) bopts.dockerfile = path.resolve(ctx.cwd, o.file);
      }
      let interrupts = 0;
      const onSigint = (): void => {
        if (++interrupts > 1) process.exit(130);
        ctx.err("capsa: build interrupted, cleaning up (Ctrl-C again to quit at once)\n");
        abort.abort();
      };
      process.on("SIGINT", onSigint);
      process.on("SIGTERM", onSigint);
      try {
        const engine = await ctx.engine();
        const r = await build(engine, bopts);
        if (o.quiet) ctx.out(r.id + "\n");
        if (o.iidfile) fs.writeFileSync(o.iidfile, r.id);
        return 0;
      } finally {
        process.off("SIGINT", onSigint);
        process.off("SIGTERM", onSigint);
      }
    },
  },

  "builder prune": {
    command: (v) =>
      newCommand(v, "[OPTIONS]", "Remove build cache")
        .option("-a, --all", "Remove all build cache (the same here)")
        .option("-f, --force", "Do not prompt for confirmation"),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { force?: boolean };
      if (!o.force && !(await confirm(ctx, "WARNING! This will remove all build cache.\nAre you sure you want to continue?"))) return 0;
      const engine = await ctx.engine();
      const r = await pruneBuildCache(engine);
      if (r.CachesDeleted.length) ctx.out(`Deleted build cache objects:\n${r.CachesDeleted.map((c) => c + "\n").join("")}\n`);
      ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
      return 0;
    },
  },
};
