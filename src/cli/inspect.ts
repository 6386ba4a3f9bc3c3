// inspect: a JSON array as docker prints it, or -f/--format per object.
// Containers, images and volumes are found by name (or id) in that order.
import type { EngineApi } from "../types/engine-api.ts";
import type { ImageRecord } from "../types/records.ts";
import { CapsaError } from "../util/errors.ts";
import { newCommand, UsageError } from "./command.ts";
import { familiarRef } from "./format.ts";
import { parseTemplate, execute, TemplateError } from "./template.ts";
import type { CliContext, Verb, VerbTable } from "./verb.ts";

type Kind = "container" | "image" | "volume" | "network";

/** docker's image inspect shape from the engine's image record. */
export function imageInspect(img: ImageRecord): Record<string, unknown> {
  const c = img.config;
  return {
    Id: img.id,
    RepoTags: img.repoTags.map(familiarRef),
    RepoDigests: img.repoDigests.map(familiarRef),
    Parent: "",
    Comment: c.history?.[c.history.length - 1]?.comment ?? "",
    Created: img.created,
    DockerVersion: "",
    Author: c.author ?? "",
    Config: c.config ?? {},
    Architecture: c.architecture,
    ...(c.variant ? { Variant: c.variant } : {}),
    Os: c.os,
    Size: img.size,
    GraphDriver: { Name: "overlay2", Data: null },
    RootFS: { Type: "layers", Layers: c.rootfs.diff_ids },
    Metadata: { LastTagTime: "0001-01-01T00:00:00Z" },
  };
}

async function find(engine: EngineApi, kind: Kind | undefined, name: string): Promise<unknown> {
  const tries: [Kind, () => unknown][] = [
    ["container", () => engine.containers.inspect(name)],
    ["image", () => imageInspect(engine.images.inspect(name))],
    ["volume", () => engine.volumes.inspect(name)],
    ["network", () => engine.networks.inspect(name)],
  ];
  for (const [k, f] of tries) {
    if (kind && k !== kind) continue;
    try {
      return await f();
    } catch (e) {
      if (!(e instanceof CapsaError) || e.kind !== "not-found") throw e;
    }
  }
  const what = kind ?? "object";
  throw new CapsaError("not-found", `No such ${what}: ${name}`);
}

/** Prints the objects as docker does: a JSON array, or one template result per object. */
export async function inspectRun(ctx: CliContext, kind: Kind | undefined, format: string | undefined, names: string[]): Promise<number> {
  const engine = await ctx.engine();
  let tmpl;
  if (format !== undefined && format !== "" && format !== "json") {
    try {
      tmpl = parseTemplate(format.replace(/\\t/g, "\t").replace(/\\n/g, "\n"));
    } catch (e) {
      throw new UsageError(ctx.verb, `template parsing error: ${(e as Error).message}`, 1);
    }
  }
  const found: unknown[] = [];
  let code = 0;
  for (const n of names) {
    try {
      const obj = await find(engine, kind, n);
      if (tmpl) ctx.out(execute(tmpl, obj) + "\n");
      else found.push(obj);
    } catch (e) {
      if (e instanceof TemplateError) throw new CapsaError("invalid", `template: ${e.message}`);
      ctx.err(`capsa: ${(e as Error).message}\n`);
      code = 1;
    }
  }
  if (!tmpl) ctx.out(JSON.stringify(found, null, 4) + "\n");
  return code;
}

function inspectVerb(kind: Kind | undefined): Verb {
  const what = kind ?? "object";
  return {
    command: (v) => {
      const c = newCommand(v, `[OPTIONS] ${what.toUpperCase()} [${what.toUpperCase()}...]`, `Display detailed information on one or more ${what}s`).option(
        "-f, --format <string>",
        "Format output using a custom template: 'json', or a Go template",
      );
      if (!kind) c.option("--type <string>", "Only inspect objects of the given type (container, image, volume)").option("-s, --size", "Display total file sizes if the type is container");
      else if (kind === "container") c.option("-s, --size", "Display total file sizes");
      return c;
    },
    args: [1, Infinity],
    async run(ctx, opts, args) {
      const o = opts as { format?: string; type?: string };
      let k = kind;
      if (!k && o.type !== undefined) {
        if (o.type !== "container" && o.type !== "image" && o.type !== "volume") throw new UsageError(ctx.verb, `"${o.type}" is not a valid value for --type`, 1);
        k = o.type;
      }
      return inspectRun(ctx, k, o.format, args);
    },
  };
}

export const verbs: VerbTable = {
  inspect: inspectVerb(undefined),
  "container inspect": inspectVerb("container"),
  "image inspect": inspectVerb("image"),
  "volume inspect": inspectVerb("volume"),
};
