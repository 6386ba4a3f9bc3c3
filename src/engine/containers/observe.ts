// Verbs that look at a running container from the host: top and stats.
import { execFile } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import type { ContainerRecord } from "../../types/records.ts";
import type { ContainerStats, TopResult } from "../../types/views.ts";
import { cgroupManager, containerCgroupsPath, onlineCpus, systemCpuUsage } from "../../cgroups/index.ts";
import { conflict, invalid } from "../../util/errors.ts";
import type { Ctx } from "./context.ts";
import { reconcile } from "./exit.ts";

const run = promisify(execFile);

/** docker top: the host's `ps` output (default `-ef`), keeping the container's processes. */
export async function topContainer(ctx: Ctx, c0: ContainerRecord, psArgs = "-ef"): Promise<TopResult> {
  const c = await reconcile(ctx, c0);
  if (!c?.state.Running) throw conflict(`Container ${c0.id} is not running`);
  const pids = new Set(cgroupManager().listPids(containerCgroupsPath(ctx.paths, c.id)));
  const args = psArgs.split(/\s+/).filter(Boolean);
  let out: string;
  try {
    out = (await run("ps", args, { maxBuffer: 16 << 20 })).stdout;
  } catch (e) {
    throw invalid(`Error running ps: ${(e as { stderr?: string }).stderr?.trim() ?? String(e)}`);
  }
  const lines = out.split("\n").filter(Boolean);
  const header = lines[0] ?? "";
  const titles = header.trim().split(/\s+/);
  const pidCol = titles.indexOf("PID");
  if (pidCol < 0) throw invalid(`Couldn't find PID field in ps output`);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    const pid = Number(fields[pidCol]);
    if (!pids.has(pid)) continue;
    // The last column (the command) may contain spaces: re-join it.
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(" "));
    processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}

function sample(ctx: Ctx, c: ContainerRecord, prev?: ContainerStats): ContainerStats {
  const cg = cgroupManager();
  const s = cg.readStats(containerCgroupsPath(ctx.paths, c.id));
  const empty: ContainerStats["cpu_stats"] = { cpu_usage: { total_usage: 0 } };
  return {
    read: new Date().toISOString(),
    preread: prev?.read ?? "0001-01-01T00:00:00Z",
    id: c.id,
    name: "/" + c.name,
    pids_stats: s.pids_stats,
    memory_stats: s.memory_stats,
    cpu_stats: { ...s.cpu_stats, system_cpu_usage: systemCpuUsage(), online_cpus: onlineCpus() },
    precpu_stats: prev?.cpu_stats ?? empty,
    blkio_stats: s.blkio_stats,
    ...networkStats(c),
  };
}

type NetCounters = NonNullable<ContainerStats["networks"]>[string];

/**
 * docker's `networks` key: the counters of each interface in the container's
 * network namespace but lo, read from its init process's /proc/<pid>/net/dev.
 * A container on the host's network has none (docker omits the key too).
 */
function networkStats(c: ContainerRecord): { networks?: Record<string, NetCounters> } {
  if (c.hostConfig.NetworkMode === "host" || !c.state.Pid) return {};
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${c.state.Pid}/net/dev`, "utf8");
  } catch {
    return {};
  }
  return { networks: parseNetDev(text) };
}

/** /proc/net/dev: two header lines, then `iface: rx bytes packets errs drop fifo frame compressed multicast tx bytes packets errs drop …`. */
export function parseNetDev(text: string): Record<string, NetCounters> {
  const out: Record<string, NetCounters> = {};
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === "lo" || f.length < 16 || f.some((n) => !Number.isFinite(n))) continue;
    out[name] = { rx_bytes: f[0]!, rx_packets: f[1]!, rx_errors: f[2]!, rx_dropped: f[3]!, tx_bytes: f[8]!, tx_packets: f[9]!, tx_errors: f[10]!, tx_dropped: f[11]! };
  }
  return out;
}

export async function* statsContainer(ctx: Ctx, c0: ContainerRecord, opts: { stream?: boolean } = {}): AsyncGenerator<ContainerStats> {
  let c = await reconcile(ctx, c0);
  if (!c?.state.Running) {
    // docker returns zeroed stats for a stopped container.
    yield { read: "0001-01-01T00:00:00Z", preread: "0001-01-01T00:00:00Z", id: c0.id, name: "/" + c0.name, pids_stats: {}, memory_stats: {}, cpu_stats: { cpu_usage: { total_usage: 0 } }, precpu_stats: { cpu_usage: { total_usage: 0 } }, blkio_stats: { io_service_bytes_recursive: null } };
    return;
  }
  let prev = sample(ctx, c);
  if (!opts.stream) {
    // One-shot: two samples a moment apart, so the CPU percentage means something.
    await new Promise((r) => setTimeout(r, 500));
    yield sample(ctx, c, prev);
    return;
  }
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    c = await reconcile(ctx, c);
    if (!c?.state.Running) return;
    const next = sample(ctx, c, prev);
    yield next;
    prev = next;
  }
}
