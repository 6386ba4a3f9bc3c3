// top, stats, port, diff, export, commit: looking at (and snapshotting) a container.
import fs from "node:fs";
import { pipeline } from "node:stream/promises";
import type { ContainerStats } from "../types/views.ts";
import type { CommitOptions } from "../types/engine-api.ts";
import { collect, newCommand, UsageError } from "./command.ts";
import { validReference } from "./container-flags.ts";
import { shortId } from "../util/ids.ts";
import { renderRows, tabwrite } from "./format.ts";
import { binarySize, humanSize } from "./units.ts";
import { passThroughTo, type VerbTable } from "./verb.ts";

export const STATS_DEFAULT = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
export const STATS_HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Container: "CONTAINER",
  Name: "NAME",
  CPUPerc: "CPU %",
  MemUsage: "MEM USAGE / LIMIT",
  MemPerc: "MEM %",
  NetIO: "NET I/O",
  BlockIO: "BLOCK I/O",
  PIDs: "PIDS",
};

/** docker's stats row from one sample (CPU % from the pre-sample delta, cache excluded from memory). */
export function statsContext(s: ContainerStats, container: string): Record<string, string> {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const sysDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus ?? s.cpu_stats.cpu_usage.percpu_usage?.length ?? 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const st = s.memory_stats.stats ?? {};
  const cache = st.total_inactive_file ?? st.inactive_file ?? 0;
  const mem = Math.max(0, (s.memory_stats.usage ?? 0) - (cache < (s.memory_stats.usage ?? 0) ? cache : 0));
  const limit = s.memory_stats.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let write = 0;
  for (const b of s.blkio_stats.io_service_bytes_recursive ?? []) {
    if (b.op.toLowerCase() === "read") read += b.value;
    if (b.op.toLowerCase() === "write") write += b.value;
  }
  return {
    ID: shortId(s.id),
    Container: container,
    Name: s.name.replace(/^\//, ""),
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${binarySize(mem)} / ${binarySize(limit)}`,
    MemPerc: `${(limit > 0 ? (mem / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSize(rx)} / ${humanSize(tx)}`,
    BlockIO: `${humanSize(read)} / ${humanSize(write)}`,
    PIDs: String(s.pids_stats.current ?? 0),
  };
}

/** docker port's lines: "80/tcp -> 0.0.0.0:8080", IPv6 hosts in brackets. */
export function portLines(ports: Record<string, { HostIp: string; HostPort: string }[] | null>, filter?: string): string[] {
  const hostPort = (b: { HostIp: string; HostPort: string }): string => `${b.HostIp.includes(":") ? `[${b.HostIp}]` : b.HostIp || "0.0.0.0"}:${b.HostPort}`;
  const keys = Object.keys(ports).sort((a, b) => Number.parseInt(a) - Number.parseInt(b) || a.localeCompare(b));
  if (filter !== undefined) {
    const key = filter.includes("/") ? filter : `${filter}/tcp`;
    return (ports[key] ?? []).map(hostPort);
  }
  return keys.flatMap((k) => (ports[k] ?? []).map((b) => `${k} -> ${hostPort(b)}`));
}

export const verbs: VerbTable = {
  top: {
    command: (v) => newCommand(v, "CONTAINER [ps OPTIONS]", "Display the running processes of a container"),
    passThrough: true,
    args: [1, Infinity],
    async run(ctx, _opts, args) {
      const [name, ...ps] = args as [string, ...string[]];
      const engine = await ctx.engine();
      const r = await engine.containers.top(name, ps.length > 0 ? ps.join(" ") : undefined);
      const lines = [r.Titles, ...r.Processes].map((row) => row.join("\t") + "\n").join("");
      ctx.out(tabwrite(lines, 20, 3));
      return 0;
    },
  },

  stats: {
    command: (v) =>
      newCommand(v, "[OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics")
        .option("-a, --all", "Show all containers (default shows just running)")
        .option("--no-stream", "Disable streaming stats and only pull the first result")
        .option("--no-trunc", "Do not truncate output")
        .option("--format <string>", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template"),
    async run(ctx, opts, args) {
      const o = opts as { all?: boolean; stream?: boolean; format?: string; trunc?: boolean };
      const engine = await ctx.engine();
      const names = args.length > 0 ? args : (await engine.containers.list({ all: !!o.all })).map((c) => c.Id);
      const sample = async (): Promise<Record<string, string>[]> => {
        const rows: Record<string, string>[] = [];
        for (const n of names) {
          for await (const s of engine.containers.stats(n, { stream: false })) {
            const row = statsContext(s, n);
            if (o.trunc === false) row.ID = s.id;
            rows.push(row);
            break;
          }
        }
        return rows;
      };
      if (o.stream === false) {
        ctx.out(renderRows(await sample(), o.format, STATS_DEFAULT, STATS_HEADERS));
        return 0;
      }
      // Streaming: redraw the table once a second until interrupted, as docker does.
      for (;;) {
        const text = renderRows(await sample(), o.format, STATS_DEFAULT, STATS_HEADERS);
        ctx.out((ctx.stdout.isTTY ? "\x1b[2J\x1b[H" : "") + text);
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
  },

  port: {
    command: (v) => newCommand(v, "CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container"),
    args: [1, 2],
    async run(ctx, _opts, args) {
      const [name, filter] = args as [string, string | undefined];
      const engine = await ctx.engine();
      const lines = portLines(await engine.containers.port(name), filter);
      if (filter !== undefined && lines.length === 0) {
        ctx.err(`capsa: No public port '${filter.includes("/") ? filter : filter + "/tcp"}' published for ${name}\n`);
        return 1;
      }
      ctx.out(lines.map((l) => l + "\n").join(""));
      return 0;
    },
  },

  diff: {
    command: (v) => newCommand(v, "CONTAINER", "Inspect changes to files or directories on a container's filesystem"),
    args: [1, 1],
    async run(ctx, _opts, args) {
      const engine = await ctx.engine();
      const changes = await engine.containers.changes(args[0] as string);
      ctx.out(changes.map((c) => `${"CAD"[c.Kind]} ${c.Path}\n`).join(""));
      return 0;
    },
  },

  export: {
    command: (v) => newCommand(v, "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive").option("-o, --output <string>", "Write to a file, instead of STDOUT"),
    args: [1, 1],
    async run(ctx, opts, args) {
      const o = opts as { output?: string };
      if (o.output === undefined && ctx.stdout.isTTY) {
        throw new UsageError(ctx.verb, "cowardly refusing to save to a terminal. Use the -o flag or redirect", 1);
      }
      const engine = await ctx.engine();
      const tar = await engine.containers.export(args[0] as string);
      await writeOut(tar, o.output, ctx.stdout);
      return 0;
    },
  },

  commit: {
    command: (v) =>
      newCommand(v, "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes")
        .option("-a, --author <string>", 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
        .option("-m, --message <string>", "Commit message")
        .option("-c, --change <list>", "Apply Dockerfile instruction to the created image", collect)
        .option("-p, --pause", "Pause container during commit (default true)")
        .option("--no-pause", "Do not pause the container during commit"),
    args: [1, 2],
    async run(ctx, opts, args) {
      const o = opts as { author?: string; message?: string; change?: string[]; pause?: boolean };
      const [name, ref] = args as [string, string | undefined];
      if (ref !== undefined && !validReference(ref)) throw new UsageError(ctx.verb, "invalid reference format", 1);
      const co: CommitOptions = { pause: o.pause !== false };
      if (ref !== undefined) co.ref = ref;
      if (o.author !== undefined) co.author = o.author;
      if (o.message !== undefined) co.comment = o.message;
      if (o.change) co.changes = o.change;
      const engine = await ctx.engine();
      const img = await engine.containers.commit(name, co);
      ctx.out(img.id + "\n");
      return 0;
    },
  },
};

/** Streams a tar to a file (written beside it, then renamed) or to stdout. */
export async function writeOut(src: NodeJS.ReadableStream, file: string | undefined, stdout: NodeJS.WriteStream): Promise<void> {
  if (file === undefined) {
    await pipeline(src, passThroughTo(stdout));
    return;
  }
  const tmp = `${file}.capsa-tmp-${process.pid}`;
  try {
    await pipeline(src, fs.createWriteStream(tmp));
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
