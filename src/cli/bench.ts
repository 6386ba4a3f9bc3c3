// `capsa bench isolation [IMAGE]`: the same workload at each isolation level,
// side by side, through the real CLI a user would run. It measures what the
// levels trade against each other: time to start and exit, time to first
// output, host memory per running instance (PSS of the monitor and everything
// under it), and what the workload sees (kernel, processes). The project's
// own harness (npm run bench) compares capsa with its peers; this is the
// user's quick look at one host.
import { spawn } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { newCommand } from "./command.ts";
import type { CliContext, VerbTable } from "./verb.ts";

const LEVELS = ["container", "sandbox", "vm"] as const;
type Level = (typeof LEVELS)[number];

interface Row {
  level: Level;
  startExitMs?: number;
  firstOutputMs?: number;
  pssMiB?: number;
  kernel?: string;
  processes?: string;
  error?: string;
}

const cliPath = (): string => process.argv[1] ?? fileURLToPath(import.meta.url);

/** Runs the capsa CLI; resolves with its output and the times to first stdout byte and to exit. */
function capsa(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; stdout: string; stderr: string; firstByteMs: number; totalMs: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath(), ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let firstByteMs = -1;
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      if (firstByteMs < 0) firstByteMs = performance.now() - t0;
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 255, stdout, stderr, firstByteMs, totalMs: performance.now() - t0 }));
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Proportional set size of a process tree, in KiB (smaps_rollup; 0 for processes that went away). */
function treePssKiB(root: number): number {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      /* gone */
    }
  }
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
      total += Number(m?.[1] ?? 0);
    } catch {
      /* gone */
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

async function measure(env: NodeJS.ProcessEnv, level: Level, image: string, rounds: number): Promise<Row> {
  const base = ["run", "--rm", "--pull", "never", "--isolation", level, image];
  const row: Row = { level };
  // What the workload sees: its kernel, and how many processes it can see.
  const look = await capsa(env, [...base, "sh", "-c", "uname -r; ls -d /proc/[0-9]* | wc -l"]);
  if (look.code !== 0) return { level, error: (look.stderr.trim().split("\n").pop() ?? `exit ${look.code}`).replace(/^capsa: /, "") };
  const [kernel, procs] = look.stdout.trim().split("\n");
  row.kernel = kernel;
  row.processes = `${procs?.trim()} visible`;
  const starts: number[] = [];
  const firsts: number[] = [];
  for (let i = 0; i < rounds; i++) {
    starts.push((await capsa(env, [...base, "true"])).totalMs);
    firsts.push((await capsa(env, [...base, "echo", "x"])).firstByteMs);
  }
  row.startExitMs = median(starts);
  row.firstOutputMs = median(firsts);
  // Memory: one detached instance, measured once it runs.
  const name = `capsa-bench-${level}-${process.pid}`;
  const started = await capsa(env, ["run", "-d", "--pull", "never", "--isolation", level, "--name", name, image, "sleep", "120"]);
  if (started.code === 0) {
    await new Promise((r) => setTimeout(r, 1000));
    const insp = await capsa(env, ["inspect", "-f", "{{.Capsa.MonitorPid}}", name]);
    const monitor = Number(insp.stdout.trim());
    if (monitor) row.pssMiB = treePssKiB(monitor) / 1024;
  }
  await capsa(env, ["rm", "-f", name]);
  return row;
}

function table(rows: Row[]): string {
  const head = ["LEVEL", "START+EXIT", "FIRST OUTPUT", "HOST PSS", "KERNEL SEEN", "PROCESSES"];
  const fmtMs = (v?: number): string => (v === undefined ? "-" : `${Math.round(v)} ms`);
  const body = rows.map((r) =>
    r.error ? [r.level, `unavailable: ${r.error}`, "", "", "", ""] : [r.level, fmtMs(r.startExitMs), fmtMs(r.firstOutputMs), r.pssMiB === undefined ? "-" : `${r.pssMiB.toFixed(1)} MiB`, r.kernel ?? "-", r.processes ?? "-"],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  return [head, ...body].map((cols) => cols.map((c, i) => (c ?? "").padEnd(widths[i]!)).join("   ").trimEnd()).join("\n") + "\n";
}

export const verbs: VerbTable = {
  "bench isolation": {
    command: (v) =>
      newCommand(v, "[OPTIONS] [IMAGE]", "Run the same workload as a container, a gVisor sandbox and a micro-VM, and compare them")
        .option("--rounds <n>", "Runs per measurement (the median is shown)", "3")
        .option("--levels <list>", "Levels to compare, comma-separated", LEVELS.join(",")),
    args: [0, 1],
    async run(ctx: CliContext, opts, args) {
      const image = args[0] ?? "busybox";
      const rounds = Math.max(1, Number(opts.rounds) || 3);
      const levels = String(opts.levels).split(",").map((s) => s.trim()).filter((s): s is Level => (LEVELS as readonly string[]).includes(s));
      const rows: Row[] = [];
      for (const level of levels) {
        ctx.err(`measuring ${level}…\n`);
        rows.push(await measure(ctx.env, level, image, rounds));
      }
      ctx.out(table(rows));
      ctx.out(`host kernel: ${fs.readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}; image ${image}; median of ${rounds} runs; PSS = the monitor and all its descendants (runtime, QEMU, virtiofsd)\n`);
      return rows.some((r) => r.error) ? 1 : 0;
    },
  },
};
