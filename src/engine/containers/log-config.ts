// HostConfig.LogConfig as dockerd checks it at create: which drivers exist here
// and which options each takes. capsa's monitor (conmon) keeps one log file in
// the CRI format, so "json-file", "local" and "k8s-file" all mean that file;
// "none" keeps nothing.
import type { HostConfig } from "../../types/records.ts";
import { invalid } from "../../util/errors.ts";

const FILE_DRIVERS = new Set(["", "json-file", "local", "k8s-file"]);
/** Options of docker's json-file and local drivers that capsa accepts (tags and labels only shape docker's own records). */
const FILE_OPTS = new Set(["max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag", "mode", "max-buffer-size"]);

/** docker's size syntax (units.RAMInBytes): 1024-based, an optional b. */
export function parseLogSize(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(v.trim());
  if (!m) return undefined;
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.floor(Number(m[1]) * mult);
}

/** Throws docker's errors for a driver or option capsa cannot honour; returns warnings for what it honours differently. */
export function checkLogConfig(lc: HostConfig["LogConfig"]): string[] {
  if (!lc) return [];
  const type = lc.Type ?? "";
  const opts = lc.Config ?? {};
  if (type === "none") {
    const k = Object.keys(opts)[0];
    if (k !== undefined) throw invalid(`unknown log opt '${k}' for none log driver`);
    return [];
  }
  if (!FILE_DRIVERS.has(type)) throw invalid(`logger: no log driver named '${type}' is registered (capsa has json-file, local, k8s-file and none)`);
  const name = type || "json-file";
  for (const k of Object.keys(opts)) if (!FILE_OPTS.has(k)) throw invalid(`unknown log opt '${k}' for ${name} log driver`);
  const warnings: string[] = [];
  const size = opts["max-size"];
  if (size !== undefined && size !== "-1" && (parseLogSize(size) ?? 0) <= 0) throw invalid(`invalid value for log opt max-size: ${JSON.stringify(size)} (a size such as 10m)`);
  const files = opts["max-file"];
  if (files !== undefined) {
    if (!/^\d+$/.test(files) || Number(files) < 1) throw invalid("max-file cannot be less than 1");
    if (Number(files) > 1) warnings.push(`log opt max-file=${files} is not applied: capsa keeps one log file, started over when it reaches max-size`);
  }
  return warnings;
}
