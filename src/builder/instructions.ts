// One instruction of a stage. RUN and COPY/ADD have their own modules; every
// other instruction changes only the image config and becomes a config-only
// image (cached by parent, resulting config and instruction).
import path from "node:path";
import type { HealthConfig, ImageConfig } from "../types/records.ts";
import { BuildCache } from "./cache.ts";
import { copyStep } from "./copy-step.ts";
import { flagValue, type Instruction } from "./parse.ts";
import { runStep } from "./run-step.ts";
import { DEFAULT_SHELL, PLATFORM_ARGS, short, type BuildSession, type StageState } from "./session.ts";
import { argPairs } from "./stages.ts";
import { parseGoDuration } from "../util/duration.ts";

export async function instruction(s: BuildSession, state: StageState, ins: Instruction): Promise<void> {
  const cfg = structuredClone(state.config);
  const shell = cfg.Shell ?? DEFAULT_SHELL;
  const err = s.errAt(ins.line);
  let shown = ins.text;
  switch (ins.keyword) {
    case "ARG": {
      for (const [k, v] of argPairs(s, ins, s.lookup(state))) {
        const given = s.buildArgs.get(k);
        if (given !== undefined) s.usedArgs.add(k);
        state.args.set(k, given ?? v ?? s.metaArgs.get(k) ?? PLATFORM_ARGS[k]);
      }
      s.say(` ---> ${state.imageId ? short(state.imageId) : "scratch"}`);
      return;
    }
    case "RUN":
      return runStep(s, state, ins);
    case "COPY":
    case "ADD":
      return copyStep(s, state, ins);
    case "ENV": {
      const env = [...(cfg.Env ?? [])];
      const pairs = keyValues(s, state, ins);
      for (const [k, v] of pairs) {
        const i = env.findIndex((e) => e.split("=")[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      cfg.Env = env;
      shown = `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`;
      break;
    }
    case "LABEL": {
      const pairs = keyValues(s, state, ins);
      cfg.Labels = { ...(cfg.Labels ?? {}) };
      for (const [k, v] of pairs) cfg.Labels[k] = v;
      shown = `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`;
      break;
    }
    case "WORKDIR": {
      const w = s.expandOne(state, ins, ins.args.trim());
      if (!w) throw err("WORKDIR requires exactly one argument");
      cfg.WorkingDir = path.posix.resolve(cfg.WorkingDir || "/", w);
      shown = `WORKDIR ${cfg.WorkingDir}`;
      break;
    }
    case "USER": {
      const u = s.expandOne(state, ins, ins.args.trim());
      if (!u) throw err("USER requires exactly one argument");
      cfg.User = u;
      shown = `USER ${u}`;
      break;
    }
    case "CMD":
      cfg.Cmd = ins.json ?? [...shell, ins.args];
      state.cmdSet = true;
      break;
    case "ENTRYPOINT":
      cfg.Entrypoint = ins.json ?? (ins.args ? [...shell, ins.args] : null);
      if (!state.cmdSet) cfg.Cmd = null;
      break;
    case "SHELL":
      if (!ins.json || ins.json.length === 0) throw err("SHELL requires the arguments to be in JSON form");
      cfg.Shell = ins.json;
      break;
    case "EXPOSE": {
      const ports = { ...(cfg.ExposedPorts ?? {}) };
      for (const p of s.expandAll(state, ins, ins.args)) {
        if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw err(`invalid containerPort: ${p}`);
        ports[p.includes("/") ? p.toLowerCase() : `${p}/tcp`] = {};
      }
      cfg.ExposedPorts = ports;
      break;
    }
    case "VOLUME": {
      const vols = { ...(cfg.Volumes ?? {}) };
      const list = ins.json ? ins.json.map((v) => s.expandOne(state, ins, v)) : s.expandAll(state, ins, ins.args);
      if (list.length === 0 || list.some((v) => !v.trim())) throw err("VOLUME specified can not be an empty string");
      for (const v of list) vols[v] = {};
      cfg.Volumes = vols;
      break;
    }
    case "STOPSIGNAL": {
      const sig = s.expandOne(state, ins, ins.args.trim());
      if (!sig) throw err("STOPSIGNAL requires exactly one argument");
      cfg.StopSignal = sig;
      break;
    }
    case "ONBUILD": {
      const t = ins.args.trim();
      const kw = t.split(/\s+/)[0]?.toUpperCase() ?? "";
      if (!t) throw err("ONBUILD requires at least one argument");
      if (["ONBUILD", "FROM", "MAINTAINER"].includes(kw)) throw err(`${kw} isn't allowed as an ONBUILD trigger`);
      cfg.OnBuild = [...(cfg.OnBuild ?? []), t];
      break;
    }
    case "HEALTHCHECK":
      cfg.Healthcheck = healthcheck(s, ins);
      break;
    case "MAINTAINER":
      break;
    default:
      throw err(`unknown instruction: ${ins.keyword}`);
  }
  state.config = cfg;
  state.imageId = await configStep(s, state.imageId, cfg, shown, true);
}

/** A config-only step: cached by parent + resulting config + instruction. */
export async function configStep(s: BuildSession, parent: string | null, config: ImageConfig, shown: string, print: boolean): Promise<string> {
  const createdBy = `/bin/sh -c #(nop)  ${shown}`;
  const key = BuildCache.key(["config", parent ?? "scratch", config, createdBy]);
  const hit = s.lookupCache(key);
  if (hit) {
    if (print) s.say(` ---> Using cache\n ---> ${short(hit)}`);
    return hit;
  }
  const img = await s.engine.images.commitConfig({ parentImageId: parent, config, createdBy });
  s.cache.put(key, img.id);
  if (print) s.say(` ---> ${short(img.id)}`);
  return img.id;
}

/** ENV/LABEL pairs: KEY=VALUE words, or the legacy "KEY VALUE" form. */
function keyValues(s: BuildSession, state: StageState, ins: Instruction): [string, string][] {
  const err = s.errAt(ins.line);
  const words = s.expandAll(state, ins, ins.args);
  if (words.length === 0) throw err(`${ins.keyword} requires at least one argument`);
  if (!words[0]!.includes("=")) {
    const m = /^\s*(\S+)\s+([\s\S]*)$/.exec(ins.args);
    if (!m) throw err(`${ins.keyword} requires at least two arguments`);
    return [[m[1]!, s.expandOne(state, ins, m[2]!.trim())]];
  }
  return words.map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) throw err(`${ins.keyword} names can not be blank`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

function healthcheck(s: BuildSession, ins: Instruction): HealthConfig {
  const err = s.errAt(ins.line);
  const m = /^(\S+)\s*([\s\S]*)$/.exec(ins.args.trim());
  const kind = m?.[1]?.toUpperCase();
  if (kind === "NONE") {
    if (m![2]!.trim()) throw err("HEALTHCHECK NONE takes no arguments");
    return { Test: ["NONE"] };
  }
  if (kind !== "CMD") throw err(`Unknown type "${m?.[1] ?? ""}" in HEALTHCHECK (try CMD)`);
  const rest = m![2]!.trim();
  if (!rest) throw err("Missing command after HEALTHCHECK CMD");
  let test: string[];
  try {
    const v: unknown = rest.startsWith("[") ? JSON.parse(rest) : undefined;
    test = Array.isArray(v) ? ["CMD", ...(v as string[])] : ["CMD-SHELL", rest];
  } catch {
    test = ["CMD-SHELL", rest];
  }
  const hc: HealthConfig = { Test: test };
  const dur = (name: string): number | undefined => {
    const v = flagValue(ins, name);
    if (v === undefined) return undefined;
    let ns = -1;
    try {
      ns = parseGoDuration(v);
    } catch {
      // reported below
    }
    if (ns < 0) throw err(`invalid duration for --${name}: ${v}`);
    return ns;
  };
  const interval = dur("interval");
  const timeout = dur("timeout");
  const start = dur("start-period");
  if (interval !== undefined) hc.Interval = interval;
  if (timeout !== undefined) hc.Timeout = timeout;
  if (start !== undefined) hc.StartPeriod = start;
  const retries = flagValue(ins, "retries");
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw err(`invalid --retries: ${retries}`);
    hc.Retries = Number(retries);
  }
  return hc;
}
