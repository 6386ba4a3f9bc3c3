// Dockerfile-like changes applied to an image config, as `docker import -c`
// and `docker commit -c` accept them: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
// ONBUILD, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR.
import path from "node:path";
import type { ImageConfig } from "../types/records.ts";
import { invalid } from "../util/errors.ts";

/** Splits on unquoted whitespace, removing quotes and backslash escapes ("a b" 'c' d\ e). */
function splitWords(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let have = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      have = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      have = true;
    } else if (/\s/.test(c)) {
      if (have) out.push(cur);
      cur = "";
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (quote) throw invalid(`unterminated quote in ${JSON.stringify(s)}`);
  if (have) out.push(cur);
  return out;
}

function jsonArray(arg: string): string[] | undefined {
  if (!arg.trimStart().startsWith("[")) return undefined;
  try {
    const v: unknown = JSON.parse(arg);
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
  } catch {
    /* not JSON: shell form */
  }
  return undefined;
}

/** KEY=VALUE pairs (or the legacy "KEY VALUE" form when allowed). */
function keyValues(instr: string, arg: string, legacy: boolean): [string, string][] {
  const words = splitWords(arg);
  if (words.length === 0) throw invalid(`${instr} requires at least one argument`);
  if (!words[0]!.includes("=")) {
    if (!legacy) throw invalid(`${instr}: expected key=value, got ${JSON.stringify(arg)}`);
    const m = /^\s*(\S+)\s+(.*)$/s.exec(arg);
    if (!m) throw invalid(`${instr} requires a value: ${JSON.stringify(arg)}`);
    return [[m[1]!, m[2]!.trim()]];
  }
  return words.map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) throw invalid(`${instr}: expected key=value, got ${JSON.stringify(w)}`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

const shellForm = (config: ImageConfig, arg: string): string[] => [...(config.Shell ?? ["/bin/sh", "-c"]), arg];

/** Returns a new config with the changes applied in order. */
export function applyChanges(base: ImageConfig, changes: string[] = []): ImageConfig {
  const config: ImageConfig = structuredClone(base);
  for (const raw of changes) {
    for (const line of raw.split(/\r?\n/)) {
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith("#")) continue;
      const m = /^(\S+)\s*(.*)$/s.exec(trimmed)!;
      const instr = m[1]!.toUpperCase();
      const arg = m[2]!;
      switch (instr) {
        case "CMD":
          config.Cmd = jsonArray(arg) ?? shellForm(config, arg);
          break;
        case "ENTRYPOINT":
          config.Entrypoint = jsonArray(arg) ?? shellForm(config, arg);
          break;
        case "SHELL": {
          const a = jsonArray(arg);
          if (!a) throw invalid("SHELL requires the arguments to be in JSON form");
          config.Shell = a;
          break;
        }
        case "ENV": {
          const env = [...(config.Env ?? [])];
          for (const [k, v] of keyValues(instr, arg, true)) {
            const i = env.findIndex((e) => e.split("=")[0] === k);
            if (i >= 0) env[i] = `${k}=${v}`;
            else env.push(`${k}=${v}`);
          }
          config.Env = env;
          break;
        }
        case "LABEL": {
          const labels = { ...(config.Labels ?? {}) };
          for (const [k, v] of keyValues(instr, arg, true)) labels[k] = v;
          config.Labels = labels;
          break;
        }
        case "EXPOSE": {
          const ports = { ...(config.ExposedPorts ?? {}) };
          for (const p of splitWords(arg)) {
            if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw invalid(`EXPOSE: invalid port ${JSON.stringify(p)}`);
            ports[p.includes("/") ? p.toLowerCase() : `${p}/tcp`] = {};
          }
          config.ExposedPorts = ports;
          break;
        }
        case "VOLUME": {
          const vols = { ...(config.Volumes ?? {}) };
          for (const v of jsonArray(arg) ?? splitWords(arg)) vols[v] = {};
          config.Volumes = vols;
          break;
        }
        case "WORKDIR": {
          const w = arg.trim();
          if (!w) throw invalid("WORKDIR requires exactly one argument");
          config.WorkingDir = path.posix.resolve(config.WorkingDir || "/", w);
          break;
        }
        case "USER":
          if (!arg.trim()) throw invalid("USER requires exactly one argument");
          config.User = arg.trim();
          break;
        case "STOPSIGNAL":
          if (!arg.trim()) throw invalid("STOPSIGNAL requires exactly one argument");
          config.StopSignal = arg.trim();
          break;
        case "ONBUILD":
          config.OnBuild = [...(config.OnBuild ?? []), arg.trim()];
          break;
        default:
          throw invalid(`${instr} is not a valid change command`);
      }
    }
  }
  return config;
}
