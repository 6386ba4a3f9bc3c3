// info, version, system df|prune|check|reset.
import pkg from "../../package.json" with { type: "json" };
import { collect, newCommand, UsageError } from "./command.ts";
import { shortId } from "../util/ids.ts";
import { DamagedStateError } from "../util/errors.ts";
import { renderRows } from "./format.ts";
import { renderTemplate, TemplateError } from "./template.ts";
import { humanSize } from "./units.ts";
import { confirm, type CliContext, type VerbTable } from "./verb.ts";

type Rec = Record<string, unknown>;

const scalar = (v: unknown): string =>
  typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" || typeof v === "bigint" ? String(v) : v === undefined || v === null ? "" : JSON.stringify(v);

/** One value through a --format template, a line on stdout; a bad template is a usage error (exit 1). */
export function formatted(ctx: CliContext, format: string, data: unknown): void {
  try {
    ctx.out(renderTemplate(format.replace(/\\t/g, "\t").replace(/\\n/g, "\n"), data) + "\n");
  } catch (e) {
    if (e instanceof TemplateError) throw new UsageError(ctx.verb, `template parsing error: ${e.message}`, 1);
    throw e;
  }
}

/** docker info's indented "Key: value" layout for whatever the engine reports. */
export function infoText(info: Rec, clientVersion: string): string {
  const lines = ["Client:", ` Version:    ${clientVersion}`, " Context:    default", "", "Server:"];
  const emit = (label: string, v: unknown, indent: string): void => {
    if (v === undefined || v === null) return;
    if (Array.isArray(v)) {
      lines.push(`${indent}${label}:`);
      for (const x of v) lines.push(`${indent}  ${typeof x === "object" ? JSON.stringify(x) : String(x)}`);
    } else if (typeof v === "object") {
      lines.push(`${indent}${label}:`);
      for (const [k, x] of Object.entries(v as Rec)) emit(k, x, indent + " ");
    } else lines.push(`${indent}${label}: ${scalar(v)}`);
  };
  emit("Containers", info.Containers, " ");
  emit("Running", info.ContainersRunning, "  ");
  emit("Paused", info.ContainersPaused, "  ");
  emit("Stopped", info.ContainersStopped, "  ");
  const shown = new Set(["Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped"]);
  const labels: Record<string, string> = {
    ServerVersion: "Server Version",
    Driver: "Storage Driver",
    DockerRootDir: "Capsa Root Dir",
    CgroupDriver: "Cgroup Driver",
    CgroupVersion: "Cgroup Version",
    KernelVersion: "Kernel Version",
    OperatingSystem: "Operating System",
    OSType: "OSType",
    NCPU: "CPUs",
    MemTotal: "Total Memory",
    DefaultRuntime: "Default Runtime",
    SecurityOptions: "Security Options",
    LoggingDriver: "Logging Driver",
    RunRoot: "Run Root",
  };
  for (const [k, v] of Object.entries(info)) {
    if (shown.has(k)) continue;
    if (k === "MemTotal" && typeof v === "number") emit(labels[k] ?? k, humanSize(v), " ");
    else emit(labels[k] ?? k, v, " ");
  }
  return lines.join("\n") + "\n";
}

interface DfImage {
  Id: string;
  RepoTags?: string[];
  Size: number;
  Created?: number;
  Containers?: number;
}
interface DfContainer {
  Id: string;
  Names?: string[];
  Image?: string;
  State?: string;
  SizeRw?: number;
}
interface DfVolume {
  Name: string;
  UsageData?: { Size: number; RefCount: number };
}

/** docker system df's summary rows from the engine's /system/df shaped record. */
export function dfRows(df: Rec): Record<string, string>[] {
  const images = (df.Images as DfImage[] | undefined) ?? [];
  const containers = (df.Containers as DfContainer[] | undefined) ?? [];
  const volumes = (df.Volumes as DfVolume[] | undefined) ?? [];
  const pct = (reclaim: number, total: number): string => (total > 0 ? `${humanSize(reclaim)} (${Math.trunc((reclaim * 100) / total)}%)` : humanSize(reclaim));
  const layers = typeof df.LayersSize === "number" ? df.LayersSize : images.reduce((s, i) => s + i.Size, 0);
  const usedImages = images.filter((i) => (i.Containers ?? 0) > 0);
  const imgReclaim = Math.max(0, layers - usedImages.reduce((s, i) => s + i.Size, 0));
  const ctrSize = containers.reduce((s, c) => s + (c.SizeRw ?? 0), 0);
  const ctrReclaim = containers.filter((c) => c.State !== "running" && c.State !== "paused").reduce((s, c) => s + (c.SizeRw ?? 0), 0);
  const volSize = volumes.reduce((s, v) => s + Math.max(0, v.UsageData?.Size ?? 0), 0);
  const volReclaim = volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((s, v) => s + Math.max(0, v.UsageData?.Size ?? 0), 0);
  return [
    { Type: "Images", TotalCount: String(images.length), Active: String(usedImages.length), Size: humanSize(layers), Reclaimable: pct(imgReclaim, layers) },
    {
      Type: "Containers",
      TotalCount: String(containers.length),
      Active: String(containers.filter((c) => c.State === "running").length),
      Size: humanSize(ctrSize),
      Reclaimable: pct(ctrReclaim, ctrSize),
    },
    {
      Type: "Local Volumes",
      TotalCount: String(volumes.length),
      Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length),
      Size: humanSize(volSize),
      Reclaimable: pct(volReclaim, volSize),
    },
    { Type: "Build Cache", TotalCount: "0", Active: "0", Size: "0B", Reclaimable: "0B" },
  ];
}

function dfVerbose(df: Rec): string {
  const images = (df.Images as DfImage[] | undefined) ?? [];
  const containers = (df.Containers as DfContainer[] | undefined) ?? [];
  const volumes = (df.Volumes as DfVolume[] | undefined) ?? [];
  const imgRows = images.flatMap((i) =>
    (i.RepoTags?.length ? i.RepoTags : ["<none>:<none>"]).map((t) => {
      const colon = t.lastIndexOf(":");
      return { Repository: t.slice(0, colon), Tag: t.slice(colon + 1), ID: shortId(i.Id), Size: humanSize(i.Size), Containers: String(i.Containers ?? 0) };
    }),
  );
  const ctrRows = containers.map((c) => ({ ID: shortId(c.Id), Image: c.Image ?? "", Size: humanSize(c.SizeRw ?? 0), Status: c.State ?? "", Names: (c.Names ?? []).map((n) => n.replace(/^\//, "")).join(",") }));
  const volRows = volumes.map((v) => ({ Name: v.Name, Links: String(v.UsageData?.RefCount ?? 0), Size: humanSize(v.UsageData?.Size ?? 0) }));
  return [
    "Images space usage:\n",
    renderRows(imgRows, undefined, "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}\t{{.Containers}}", { Repository: "REPOSITORY", Tag: "TAG", ID: "IMAGE ID", Size: "SIZE", Containers: "CONTAINERS" }),
    "\nContainers space usage:\n\n",
    renderRows(ctrRows, undefined, "{{.ID}}\t{{.Image}}\t{{.Size}}\t{{.Status}}\t{{.Names}}", { ID: "CONTAINER ID", Image: "IMAGE", Size: "SIZE", Status: "STATUS", Names: "NAMES" }),
    "\nLocal Volumes space usage:\n\n",
    renderRows(volRows, undefined, "{{.Name}}\t{{.Links}}\t{{.Size}}", { Name: "VOLUME NAME", Links: "LINKS", Size: "SIZE" }),
  ].join("");
}

export const verbs: VerbTable = {
  info: {
    command: (v) => newCommand(v, "[OPTIONS]", "Display system-wide information").option("-f, --format <string>", "Format output using a custom template: 'json', or a Go template"),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { format?: string };
      const engine = await ctx.engine();
      // The first info on a state root boots a test VM (seconds): said on a terminal, so it does not look stuck.
      const info = await engine.system.info({ onSlowProbe: (what) => process.stderr.isTTY && ctx.err(`probing ${what}…\n`) });
      if (o.format !== undefined) formatted(ctx, o.format === "json" ? "{{json .}}" : o.format, info);
      else ctx.out(infoText(info, pkg.version));
      return 0;
    },
  },

  version: {
    command: (v) => newCommand(v, "[OPTIONS]", "Show the capsa version information").option("-f, --format <string>", "Format output using a custom template: 'json', or a Go template"),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { format?: string };
      const client = { Version: pkg.version, ApiVersion: "1.43", NodeVersion: process.version, Os: "linux", Arch: process.arch === "x64" ? "amd64" : process.arch };
      const engine = await ctx.engine();
      const server = engine.system.version();
      const data = { Client: client, Server: server };
      if (o.format !== undefined) {
        formatted(ctx, o.format === "json" ? "{{json .}}" : o.format, data);
        return 0;
      }
      const row = (k: string, v: unknown, indent = " "): string => `${indent}${(k + ":").padEnd(indent.length > 1 ? 17 : 18)} ${scalar(v)}\n`;
      ctx.out(
        "Client:\n" +
          row("Version", client.Version) +
          row("API version", client.ApiVersion) +
          row("Node version", client.NodeVersion) +
          row("OS/Arch", `${client.Os}/${client.Arch}`) +
          "\nServer:\n Engine:\n" +
          row("Version", server.Version, "  ") +
          row("API version", `${scalar(server.ApiVersion)}${server.MinAPIVersion ? ` (minimum version ${scalar(server.MinAPIVersion)})` : ""}`, "  ") +
          row("OS/Arch", `${scalar(server.Os)}/${scalar(server.Arch)}`, "  ") +
          row("Kernel version", server.KernelVersion, "  "),
      );
      return 0;
    },
  },

  "system df": {
    command: (v) =>
      newCommand(v, "[OPTIONS]", "Show capsa disk usage")
        .option("-v, --verbose", "Show detailed information on space usage")
        .option("--format <string>", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template"),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { verbose?: boolean; format?: string };
      const engine = await ctx.engine();
      const df = await engine.system.df();
      if (o.verbose && o.format === undefined) {
        ctx.out(dfVerbose(df));
        return 0;
      }
      ctx.out(renderRows(dfRows(df), o.format, "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", { Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE" }));
      return 0;
    },
  },

  "system prune": {
    command: (v) =>
      newCommand(v, "[OPTIONS]", "Remove unused data")
        .option("-a, --all", "Remove all unused images not just dangling ones")
        .option("-f, --force", "Do not prompt for confirmation")
        .option("--volumes", "Prune anonymous volumes")
        .option("--filter <filter>", "Provide filter values (not supported yet)", collect),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { all?: boolean; force?: boolean; volumes?: boolean; filter?: string[] };
      if (o.filter?.length) throw new UsageError(ctx.verb, "system prune --filter is not supported yet", 1);
      const items = [
        "all stopped containers",
        ...(o.volumes ? ["all anonymous volumes not used by at least one container"] : []),
        o.all ? "all images without at least one container associated to them" : "all dangling images",
      ];
      const warning = `WARNING! This will remove:\n${items.map((i) => `  - ${i}\n`).join("")}\nAre you sure you want to continue?`;
      if (!o.force && !(await confirm(ctx, warning))) return 0;
      const engine = await ctx.engine();
      const r = await engine.system.prune({ all: !!o.all, volumes: !!o.volumes });
      const list = (k: string): unknown[] => (Array.isArray(r[k]) ? (r[k] as unknown[]) : []);
      const ctrs = list("ContainersDeleted");
      if (ctrs.length > 0) ctx.out(`Deleted Containers:\n${ctrs.map((c) => `${String(c)}\n`).join("")}\n`);
      const vols = list("VolumesDeleted");
      if (vols.length > 0) ctx.out(`Deleted Volumes:\n${vols.map((c) => `${String(c)}\n`).join("")}\n`);
      const imgs = list("ImagesDeleted") as { Untagged?: string; Deleted?: string }[];
      if (imgs.length > 0) {
        ctx.out(`Deleted Images:\n${imgs.map((i) => (i.Untagged !== undefined ? `untagged: ${i.Untagged}\n` : `deleted: ${i.Deleted ?? ""}\n`)).join("")}\n`);
      }
      ctx.out(`Total reclaimed space: ${humanSize(typeof r.SpaceReclaimed === "number" ? r.SpaceReclaimed : 0)}\n`);
      return 0;
    },
  },

  "system check": {
    command: (v) =>
      newCommand(v, "[OPTIONS]", "Check this state root: the database, records against files, monitors of running containers")
        .option("-r, --repair", "Fix what can be fixed (rebuild a damaged database, remove orphans, record exits of containers whose monitor died)"),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { repair?: boolean };
      // Not through ctx.engine(): a damaged database must not stop the check.
      const { checkState } = await import("../engine/index.ts");
      const findings = await checkState({ repair: !!o.repair });
      for (const f of findings) {
        ctx.out(`${f.problem}\n`);
        if (f.repaired) ctx.out(`  repaired: ${f.repaired}\n`);
        if (f.unrepaired) ctx.out(`  not repaired: ${f.unrepaired}\n`);
      }
      if (findings.length === 0) ctx.out("No problems found\n");
      // As podman: 1 while problems remain (all of them for a check, the unrepaired ones after --repair).
      return findings.some((f) => !f.repaired) ? 1 : 0;
    },
  },

  "system reset": {
    command: (v) => newCommand(v, "[OPTIONS]", "Remove all containers, images and volumes of this state root (capsa's own)").option("-f, --force", "Do not prompt for confirmation"),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as { force?: boolean };
      const root = ctx.env.CAPSA_ROOT ?? "/var/lib/capsa";
      if (!o.force && !(await confirm(ctx, `WARNING! This will remove all containers, images and volumes under ${root}.\nAre you sure you want to continue?`))) return 0;
      let engine;
      try {
        engine = await ctx.engine();
      } catch (e) {
        if (!(e instanceof DamagedStateError)) throw e;
        // No records to go by: what runs is found from the runtimes' own state, stopped, then all is deleted.
        const { resetWithoutDatabase, resolvePaths } = await import("../engine/index.ts");
        const r = await resetWithoutDatabase(resolvePaths());
        ctx.err(`capsa: the database was damaged; reset from the runtime's state: ${r.stopped.length} running container(s) stopped, everything under ${root} deleted\n`);
        for (const k of r.kept) ctx.err(`capsa: kept ${k}: something is still mounted below it\n`);
        return r.kept.length ? 125 : 0;
      }
      await engine.system.reset();
      // reset() removes containers and mounts; images and volumes go through their APIs.
      for (const v of engine.volumes.list()) {
        try {
          engine.volumes.remove(v.Name, { force: true });
        } catch {
          /* best effort: the state root is being wiped */
        }
      }
      for (const img of engine.images.list({ all: true })) {
        try {
          engine.images.remove(img.id, { force: true });
        } catch {
          /* best effort */
        }
      }
      return 0;
    },
  },
};
