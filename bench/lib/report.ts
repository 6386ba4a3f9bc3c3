// The results as JSON (complete, for tools) and Markdown (for people).
import type { Machine } from "./machine.ts";
import type { Metric } from "./results.ts";
import type { Summary } from "./stats.ts";
import type { SystemInfo } from "../systems/system.ts";

export interface SystemEntry extends Partial<SystemInfo> {
  name: string;
  /** Why it was left out, when it was. */
  unavailable?: string;
}

export interface Report {
  schema: "capsa-bench/1";
  date: string;
  mode: "full" | "short";
  subject: string;
  /** The capsa source tree measured (git describe --always --dirty). */
  revision: string;
  network: string;
  machine: Machine;
  systems: SystemEntry[];
  scenarios: { id: string; title: string; describe: string; metrics: Metric[] }[];
  durationSeconds: number;
  /** 1, 5 and 15 minute load averages at the start and the end: other work on the machine skews results. */
  load: { start: number[]; end: number[] };
}

const fmt = (x: number, unit: Metric["unit"]) => {
  if (!Number.isFinite(x)) return "–";
  if (unit === "KiB") return x >= 10240 ? `${(x / 1024).toFixed(1)} MiB` : `${Math.round(x)} KiB`;
  return x >= 100 ? `${Math.round(x)}` : x.toFixed(1);
};

const spread = (s: Summary, unit: Metric["unit"]) => (s.n > 1 ? `${fmt(s.p10, unit)} – ${fmt(s.p90, unit)}` : "");

const ratio = (s: Summary | undefined) => {
  if (!s) return "";
  return s.n > 1 ? `${s.median.toFixed(2)} (${s.p10.toFixed(2)}–${s.p90.toFixed(2)})` : s.median.toFixed(2);
};

export function markdown(r: Report): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`# capsa benchmark${r.mode === "short" ? " (short mode: a quick check, not a measurement)" : ""}`, "");
  out.push(`${r.date}, capsa at \`${r.revision}\`, ${Math.round(r.durationSeconds)} s. Produced by \`npm run bench\`; bench/README.md explains the method.`, "");
  out.push("## Machine", "");
  out.push(`- ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB memory`);
  out.push(`- ${m.os}, kernel ${m.kernel}, cgroup ${m.cgroup}, /dev/kvm ${m.kvm ? "present" : "absent"}`);
  out.push(`- Node ${m.node}; container network for every run: \`${r.network}\``);
  const la = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(" / ");
  out.push(`- load average (1/5/15 min): ${la(r.load.start)} at the start, ${la(r.load.end)} at the end${r.load.start[0]! > m.cores || r.load.end[0]! > m.cores ? " — **the machine was busy with other work; expect noise**" : ""}`, "");
  out.push("## Systems", "", "| system | version | OCI runtime | notes |", "|---|---|---|---|");
  for (const s of r.systems) {
    out.push(`| ${s.name} | ${s.unavailable ? "–" : (s.version ?? "?")} | ${s.runtime ?? "–"} | ${s.unavailable ? `**left out:** ${s.unavailable}` : (s.notes ?? []).join("; ")} |`);
  }
  out.push("");
  for (const sc of r.scenarios) {
    out.push(`## ${sc.title}`, "", sc.describe, "");
    for (const metric of sc.metrics) {
      const order = r.systems.map((s) => s.name);
      const systems = Object.keys(metric.summary).sort((a, b) => order.indexOf(a) - order.indexOf(b));
      if (systems.length === 0 && Object.keys(metric.errors).length === 0) continue;
      const how = `${metric.ratioMethod === "paired" ? "per-round ratios: median (p10–p90)" : "ratio of medians"}${metric.unit === "Mbit/s" ? "; higher is better" : ""}`;
      out.push(`### ${metric.title}`, "");
      const withRatio = metric.ratioMethod !== "none";
      const subject = metric.subject ?? r.subject;
      out.push(`| system | median | p10 – p90 | n |${withRatio ? ` ${subject}/system (${how}) |` : ""}`);
      out.push(`|---|---:|---:|---:|${withRatio ? "---:|" : ""}`);
      for (const sys of systems) {
        const s = metric.summary[sys]!;
        const unit = metric.unit === "KiB" ? "" : ` ${metric.unit}`;
        out.push(
          `| ${sys} | ${fmt(s.median, metric.unit)}${unit} | ${spread(s, metric.unit)} | ${s.n} |${withRatio ? ` ${sys === subject ? "" : ratio(metric.ratios[sys])} |` : ""}`,
        );
      }
      out.push("");
      for (const [sys, errs] of Object.entries(metric.errors)) for (const e of errs) out.push(`- ${sys} failed: \`${e.replace(/`/g, "'")}\``);
      if (Object.keys(metric.errors).length) out.push("");
    }
  }
  return out.join("\n");
}
