// `capsa build`: runs a parsed Containerfile stage by stage. Every step that
// changes the image produces an (untagged) image: RUN in a capsa container
// whose writable layer is committed, COPY/ADD into a scratch overlay whose
// upper dir is committed, the other instructions as config-only images. Each
// step's result is cached by (parent image, instruction, inputs); a cached
// step costs a file read. Only the final stage's image is tagged, at the end.
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { EngineApi } from "../types/engine-api.ts";
import type { HealthConfig, ImageConfig, MountSpec } from "../types/records.ts";
import { extractArchive } from "../archive/extract.ts";
import { resolveInRoot } from "../archive/paths.ts";
import { familiarString, normalizeReference } from "../engine/index.ts";
import { CapsaError, errorMessage } from "../util/errors.ts";
import { BuildCache } from "./cache.ts";
import { copyInto, hashSources, parseChmod, resolveOwner, resolveSources, type CopySource, type SourceTree } from "./copy.ts";
import { atLine, BuildError } from "./errors.ts";
import { IgnoreMatcher, loadIgnore } from "./ignore.ts";
import { flagValue, flagValues, parseDockerfile, parseTrigger, type Instruction, type ParsedFile, type Stage } from "./parse.ts";
import { removeStaleScratch, ScratchRootfs } from "./rootfs.ts";
import type { BuildOptions, BuildResult } from "../types/build.ts";
import { envLookup, expandRaw, expandWord, expandWords, type Lookup } from "./words.ts";
import { pidAlive } from "../util/process.ts";

/** Build args every build knows without an ARG (not recorded in history). */
const PROXY_ARGS = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"];
/** Automatic platform args (declare with ARG to use them). */
const PLATFORM_ARGS: Record<string, string> = {
  TARGETPLATFORM: "linux/amd64",
  TARGETOS: "linux",
  TARGETARCH: "amd64",
  TARGETVARIANT: "",
  BUILDPLATFORM: "linux/amd64",
  BUILDOS: "linux",
  BUILDARCH: "amd64",
  BUILDVARIANT: "",
};
const DEFAULT_SHELL = ["/bin/sh", "-c"];
/** Labels of RUN containers: which build (process) they belong to. */
const BUILD_LABEL = "io.capsa.build";
const BUILD_PID_LABEL = "io.capsa.build.pid";

interface StageState {
  imageId: string | null;
  config: ImageConfig;
  /** Declared ARGs in scope, with their values (undefined: declared without one). */
  args: Map<string, string | undefined>;
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
}

export async function runBuild(engine: EngineApi, opts: BuildOptions): Promise<BuildResult> {
  const b = new Builder(engine, opts);
  try {
    return await b.run();
  } finally {
    b.cleanup();
  }
}

class Builder {
  private readonly out: Writable;
  private readonly cache: BuildCache;
  private readonly temps: string[] = [];
  private readonly mounts: ScratchRootfs[] = [];
  private contextDir = "";
  private ignore = IgnoreMatcher.none();
  private file!: ParsedFile;
  private readonly buildArgs: Map<string, string>;
  private readonly usedArgs = new Set<string>();
  private metaArgs = new Map<string, string | undefined>();
  private readonly stageImages = new Map<number, string | null>();
  private step = 0;
  private totalSteps = 0;
  private readonly result: BuildResult = { id: "", tags: [], cached: [], executed: [], warnings: [] };
  private currentContainer: string | undefined;
  private readonly onAbort = (): void => {
    const id = this.currentContainer;
    if (id) void this.engine.containers.remove(id, { force: true, volumes: true }).catch(() => undefined);
  };

  constructor(
    private readonly engine: EngineApi,
    private readonly opts: BuildOptions,
  ) {
    this.out = opts.output && !opts.quiet ? opts.output : new Writable({ write: (_c, _e, cb) => cb() });
    this.cache = new BuildCache(path.join(engine.paths.root, "build-cache"));
    this.buildArgs = new Map(Object.entries(opts.buildArgs ?? {}));
  }

  private say(line: string): void {
    this.out.write(line + "\n");
  }

  private checkAborted(): void {
    if (this.opts.signal?.aborted) throw new BuildError("build canceled", "system");
  }

  private tmpDir(label: string): string {
    fs.mkdirSync(this.engine.paths.tmp, { recursive: true, mode: 0o700 });
    const d = fs.mkdtempSync(path.join(this.engine.paths.tmp, `build-${process.pid}-${label}-`));
    this.temps.push(d);
    return d;
  }

  cleanup(): void {
    this.opts.signal?.removeEventListener("abort", this.onAbort);
    for (const m of this.mounts.splice(0)) {
      try {
        m.release();
      } catch {
        /* best effort: the next release or `system reset` retries */
      }
    }
    for (const d of this.temps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }

  // ---- set-up ---------------------------------------------------------------

  private async prepareContext(): Promise<{ text: string; name: string }> {
    const o = this.opts;
    let dockerfilePath: string | undefined;
    if (o.contextTar) {
      this.contextDir = this.tmpDir("context");
      await extractArchive(o.contextTar, this.contextDir, { whiteouts: "keep", sameOwner: false, devices: false }).catch((e: unknown) => {
        throw new BuildError(`build context: ${errorMessage(e)}`);
      });
    } else if (o.contextDir) {
      try {
        this.contextDir = fs.realpathSync(o.contextDir);
        if (!fs.statSync(this.contextDir).isDirectory()) throw new Error("not a directory");
      } catch {
        throw new BuildError(`unable to prepare context: path "${o.contextDir}" not found`, "not-found");
      }
    } else {
      this.contextDir = this.tmpDir("context");
    }
    if (o.dockerfileText !== undefined) {
      this.ignore = loadIgnore(this.contextDir);
      return { text: o.dockerfileText, name: "Dockerfile" };
    }
    if (o.dockerfile && o.dockerfile !== "-") {
      dockerfilePath = o.contextTar ? resolveInRoot(this.contextDir, o.dockerfile) : path.resolve(o.dockerfile);
    } else {
      dockerfilePath = ["Containerfile", "Dockerfile"].map((n) => path.join(this.contextDir, n)).find((p) => fs.existsSync(p));
      if (!dockerfilePath) throw new BuildError("no Containerfile or Dockerfile specified or found in the build context", "not-found");
    }
    let text: string;
    try {
      text = fs.readFileSync(dockerfilePath, "utf8");
    } catch {
      throw new BuildError(`Cannot locate specified Dockerfile: ${o.dockerfile ?? path.basename(dockerfilePath)}`, "not-found");
    }
    this.ignore = loadIgnore(this.contextDir, dockerfilePath);
    return { text, name: path.basename(dockerfilePath) };
  }

  // ---- the build ------------------------------------------------------------

  async run(): Promise<BuildResult> {
    const tags = (this.opts.tags ?? []).map((t) => {
      try {
        return normalizeReference(t);
      } catch (e) {
        throw new BuildError(`invalid tag ${JSON.stringify(t)}: ${errorMessage(e)}`);
      }
    });
    this.opts.signal?.addEventListener("abort", this.onAbort);
    await this.removeLeftovers();
    const { text, name } = await this.prepareContext();
    this.file = parseDockerfile(text, name);
    this.evalMetaArgs();
    const target = this.targetStage();
    const needed = this.neededStages(target);
    // Refuse what the Containerfile may not do before any step runs (ONBUILD triggers are checked when they run).
    for (const s of needed) for (const ins of s.instructions) if (ins.keyword === "RUN") this.runNetwork(ins);
    this.totalSteps = needed.reduce((n, s) => n + 1 + s.instructions.length, 0);
    let last: StageState | undefined;
    for (const s of needed) {
      this.checkAborted();
      last = await this.runStage(s);
      this.stageImages.set(s.index, last.imageId);
    }
    let id = last!.imageId;
    if (this.opts.labels && Object.keys(this.opts.labels).length > 0) {
      const config = structuredClone(last!.config);
      config.Labels = { ...(config.Labels ?? {}), ...this.opts.labels };
      const labels = Object.entries(this.opts.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
      id = await this.configStep(id, config, `LABEL ${labels}`, false);
    }
    if (!id) {
      // FROM scratch and nothing else: an empty image, as docker makes it.
      id = await this.configStep(null, last!.config, "FROM scratch", false);
    }
    const unused = [...this.buildArgs.keys()].filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.includes(k));
    if (unused.length) {
      const w = `[Warning] One or more build-args [${unused.join(" ")}] were not consumed`;
      this.result.warnings.push(w);
      this.say(w);
    }
    this.checkAborted();
    for (const t of tags) this.engine.images.tag(id, t);
    this.result.id = id;
    this.result.tags = tags;
    this.say(`Successfully built ${id.replace(/^sha256:/, "").slice(0, 12)}`);
    for (const t of tags) this.say(`Successfully tagged ${familiarString(t)}`);
    return this.result;
  }

  /** What a build killed outright (SIGKILL, a crash) left: its RUN containers and scratch mounts. */
  private async removeLeftovers(): Promise<void> {
    removeStaleScratch(this.engine.paths.tmp);
    const mine = await this.engine.containers.list({ all: true, filters: { label: [BUILD_LABEL] } }).catch(() => []);
    for (const c of mine) {
      const pid = Number(c.Labels?.[BUILD_PID_LABEL] ?? 0);
      if (pid && pid !== process.pid && !pidAlive(pid)) await this.engine.containers.remove(c.Id, { force: true, volumes: true }).catch(() => undefined);
    }
  }

  private evalMetaArgs(): void {
    for (const ins of this.file.metaArgs) {
      for (const [k, v] of this.argPairs(ins, (n) => this.metaArgs.get(n) ?? undefined)) {
        const given = this.buildArgs.get(k);
        if (given !== undefined) this.usedArgs.add(k);
        this.metaArgs.set(k, given ?? v ?? PLATFORM_ARGS[k]);
      }
    }
  }

  private metaLookup: Lookup = (n) => this.metaArgs.get(n) ?? undefined;

  private fromWords(s: Stage): { image: string; platform?: string } {
    const words = s.from.args.trim().split(/\s+/);
    let image: string;
    try {
      image = expandWord(words[0]!, this.metaLookup, this.file.escape);
    } catch (e) {
      throw atLine(this.file.file, s.from.line, errorMessage(e));
    }
    if (!image) throw atLine(this.file.file, s.from.line, `base name (${words[0]}) should not be blank`);
    return { image, platform: flagValue(s.from, "platform") };
  }

  /** The stage an image reference names (by name, or index), if any, seen from stage `before`. */
  private stageRef(ref: string, before: number): Stage | undefined {
    const byName = this.file.stages.find((s) => s.name === ref.toLowerCase() && s.index < before);
    if (byName) return byName;
    if (/^\d+$/.test(ref)) {
      const i = Number(ref);
      if (i < before) return this.file.stages[i];
    }
    return undefined;
  }

  private targetStage(): Stage {
    const t = this.opts.target;
    if (t === undefined || t === "") return this.file.stages[this.file.stages.length - 1]!;
    const s = this.file.stages.find((x) => x.name === t.toLowerCase());
    if (!s) throw new BuildError(`target stage "${t}" could not be found`, "not-found");
    return s;
  }

  /** The target and the stages it depends on (FROM and COPY --from / RUN --mount from), in file order. */
  private neededStages(target: Stage): Stage[] {
    const need = new Set<number>();
    const visit = (s: Stage): void => {
      if (need.has(s.index)) return;
      need.add(s.index);
      const from = this.stageRef(this.fromWords(s).image, s.index);
      if (from) visit(from);
      for (const ins of s.instructions) {
        const refs = [...flagValues(ins, "from"), ...flagValues(ins, "mount").flatMap((m) => /(?:^|,)from=([^,]+)/.exec(m)?.[1] ?? [])];
        for (const r of refs) {
          const dep = this.stageRef(r, s.index);
          if (dep) visit(dep);
          else if (this.file.stages.some((x) => x.name === r.toLowerCase() && x.index >= s.index)) {
            throw atLine(this.file.file, ins.line, `stage "${r}" is defined after the stage that uses it`);
          }
        }
      }
    };
    visit(target);
    return this.file.stages.filter((s) => need.has(s.index));
  }

  private stepLine(ins: Instruction): void {
    this.step++;
    this.say(`Step ${this.step}/${this.totalSteps} : ${ins.text}`);
  }

  private async runStage(s: Stage): Promise<StageState> {
    this.stepLine(s.from);
    const { image } = this.fromWords(s);
    const state: StageState = { imageId: null, config: {}, args: new Map(), cmdSet: false };
    const dep = this.stageRef(image, s.index);
    if (dep) {
      if (!this.stageImages.has(dep.index)) throw atLine(this.file.file, s.from.line, `stage ${image} was not built`);
      state.imageId = this.stageImages.get(dep.index) ?? null;
    } else if (image.toLowerCase() !== "scratch") {
      state.imageId = await this.baseImage(image, s.from.line);
    }
    if (state.imageId) state.config = structuredClone(this.engine.images.inspect(state.imageId).config.config ?? {});
    this.say(` ---> ${state.imageId ? short(state.imageId) : "scratch"}`);
    const triggers = state.config.OnBuild ?? [];
    state.config.OnBuild = null;
    if (triggers.length) {
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? "s" : ""}`);
      for (const t of triggers) {
        const ins = parseTrigger(t, this.file.file, s.from.line);
        this.say(` ---> Running trigger: ${ins.text}`);
        await this.instruction(state, ins);
      }
    }
    for (const ins of s.instructions) {
      this.checkAborted();
      this.stepLine(ins);
      await this.instruction(state, ins);
    }
    return state;
  }

  private async baseImage(ref: string, line: number): Promise<string> {
    const local = this.opts.pull ? undefined : this.engine.images.tryResolve(ref);
    if (local) return local.id;
    this.say(`Pulling ${ref} ...`);
    try {
      return (await this.engine.images.pull(ref)).id;
    } catch (e) {
      throw atLine(this.file.file, line, `FROM ${ref}: ${errorMessage(e)}`);
    }
  }

  /** Variables for expansion: ENV wins over ARG. */
  private lookup(state: StageState): Lookup {
    const env = envLookup(state.config.Env);
    return (n) => env(n) ?? state.args.get(n) ?? undefined;
  }

  private expandAll(state: StageState, ins: Instruction, s: string): string[] {
    try {
      return expandWords(s, this.lookup(state), this.file.escape);
    } catch (e) {
      throw atLine(this.file.file, ins.line, errorMessage(e));
    }
  }

  private expandOne(state: StageState, ins: Instruction, s: string): string {
    try {
      return expandWord(s, this.lookup(state), this.file.escape);
    } catch (e) {
      throw atLine(this.file.file, ins.line, errorMessage(e));
    }
  }

  /** ENV/LABEL/ARG pairs: KEY=VALUE words, or the legacy "KEY VALUE" form (ENV, LABEL). */
  private keyValues(state: StageState, ins: Instruction): [string, string][] {
    const words = this.expandAll(state, ins, ins.args);
    if (words.length === 0) throw atLine(this.file.file, ins.line, `${ins.keyword} requires at least one argument`);
    if (!words[0]!.includes("=")) {
      const m = /^\s*(\S+)\s+([\s\S]*)$/.exec(ins.args);
      if (!m) throw atLine(this.file.file, ins.line, `${ins.keyword} requires at least two arguments`);
      return [[m[1]!, this.expandOne(state, ins, m[2]!.trim())]];
    }
    return words.map((w) => {
      const eq = w.indexOf("=");
      if (eq <= 0) throw atLine(this.file.file, ins.line, `${ins.keyword} names can not be blank`);
      return [w.slice(0, eq), w.slice(eq + 1)];
    });
  }

  private argPairs(ins: Instruction, lookup: Lookup): [string, string | undefined][] {
    let words: string[];
    try {
      words = expandWords(ins.args, lookup, this.file.escape);
    } catch (e) {
      throw atLine(this.file.file, ins.line, errorMessage(e));
    }
    if (words.length === 0) throw atLine(this.file.file, ins.line, "ARG requires at least one argument");
    return words.map((w) => {
      const eq = w.indexOf("=");
      return eq < 0 ? [w, undefined] : [w.slice(0, eq), w.slice(eq + 1)];
    });
  }

  private async instruction(state: StageState, ins: Instruction): Promise<void> {
    const cfg = structuredClone(state.config);
    const shell = cfg.Shell ?? DEFAULT_SHELL;
    const err = (m: string): BuildError => atLine(this.file.file, ins.line, m);
    let shown = ins.text;
    switch (ins.keyword) {
      case "ARG": {
        for (const [k, v] of this.argPairs(ins, this.lookup(state))) {
          const given = this.buildArgs.get(k);
          if (given !== undefined) this.usedArgs.add(k);
          state.args.set(k, given ?? v ?? this.metaArgs.get(k) ?? PLATFORM_ARGS[k]);
        }
        this.say(` ---> ${state.imageId ? short(state.imageId) : "scratch"}`);
        return;
      }
      case "RUN":
        return this.runStep(state, ins);
      case "COPY":
      case "ADD":
        return this.copyStep(state, ins);
      case "ENV": {
        const env = [...(cfg.Env ?? [])];
        const pairs = this.keyValues(state, ins);
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
        const pairs = this.keyValues(state, ins);
        cfg.Labels = { ...(cfg.Labels ?? {}) };
        for (const [k, v] of pairs) cfg.Labels[k] = v;
        shown = `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`;
        break;
      }
      case "WORKDIR": {
        const w = this.expandOne(state, ins, ins.args.trim());
        if (!w) throw err("WORKDIR requires exactly one argument");
        cfg.WorkingDir = path.posix.resolve(cfg.WorkingDir || "/", w);
        shown = `WORKDIR ${cfg.WorkingDir}`;
        break;
      }
      case "USER": {
        const u = this.expandOne(state, ins, ins.args.trim());
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
        for (const p of this.expandAll(state, ins, ins.args)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw err(`invalid containerPort: ${p}`);
          ports[p.includes("/") ? p.toLowerCase() : `${p}/tcp`] = {};
        }
        cfg.ExposedPorts = ports;
        break;
      }
      case "VOLUME": {
        const vols = { ...(cfg.Volumes ?? {}) };
        const list = ins.json ? ins.json.map((v) => this.expandOne(state, ins, v)) : this.expandAll(state, ins, ins.args);
        if (list.length === 0 || list.some((v) => !v.trim())) throw err("VOLUME specified can not be an empty string");
        for (const v of list) vols[v] = {};
        cfg.Volumes = vols;
        break;
      }
      case "STOPSIGNAL": {
        const s = this.expandOne(state, ins, ins.args.trim());
        if (!s) throw err("STOPSIGNAL requires exactly one argument");
        cfg.StopSignal = s;
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
        cfg.Healthcheck = this.healthcheck(ins, shell);
        break;
      case "MAINTAINER":
        break;
      default:
        throw err(`unknown instruction: ${ins.keyword}`);
    }
    state.config = cfg;
    state.imageId = await this.configStep(state.imageId, cfg, shown, true);
  }

  private healthcheck(ins: Instruction, shell: string[]): HealthConfig {
    const err = (m: string): BuildError => atLine(this.file.file, ins.line, m);
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
    void shell;
    const hc: HealthConfig = { Test: test };
    const dur = (name: string): number | undefined => {
      const v = flagValue(ins, name);
      if (v === undefined) return undefined;
      const ns = parseDuration(v);
      if (ns === undefined) throw err(`invalid duration for --${name}: ${v}`);
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

  /** A config-only step: cached by parent + resulting config + instruction. */
  private async configStep(parent: string | null, config: ImageConfig, shown: string, print: boolean): Promise<string> {
    const createdBy = `/bin/sh -c #(nop)  ${shown}`;
    const key = BuildCache.key(["config", parent ?? "scratch", config, createdBy]);
    const hit = this.lookupCache(key);
    if (hit) {
      if (print) this.say(` ---> Using cache\n ---> ${short(hit)}`);
      return hit;
    }
    const img = await this.engine.images.commitConfig({ parentImageId: parent, config, createdBy });
    this.cache.put(key, img.id);
    if (print) this.say(` ---> ${short(img.id)}`);
    return img.id;
  }

  private lookupCache(key: string): string | undefined {
    if (this.opts.noCache) return undefined;
    const hit = this.cache.get(key, (id) => this.engine.images.tryResolve(id) !== undefined);
    if (hit) this.result.cached.push(this.step);
    return hit;
  }

  // ---- RUN ------------------------------------------------------------------

  private runEnv(state: StageState): { env: string[]; argsShown: string[] } {
    const env = [...(state.config.Env ?? [])];
    const have = new Set(env.map((e) => e.split("=")[0]));
    const argsShown: string[] = [];
    for (const [k, v] of state.args) {
      if (v === undefined || have.has(k)) continue;
      env.push(`${k}=${v}`);
      if (!PROXY_ARGS.includes(k)) argsShown.push(`${k}=${v}`);
    }
    for (const k of PROXY_ARGS) {
      const v = this.buildArgs.get(k);
      if (v !== undefined && !env.some((e) => e.startsWith(k + "="))) env.push(`${k}=${v}`);
    }
    return { env, argsShown };
  }

  private async runStep(state: StageState, ins: Instruction): Promise<void> {
    const err = (m: string): BuildError => atLine(this.file.file, ins.line, m);
    if (!state.imageId) throw err("RUN needs a file system: this stage starts FROM scratch and has nothing to run");
    const shell = state.config.Shell ?? DEFAULT_SHELL;
    let argv: string[];
    if (ins.json) argv = ins.json;
    else if (ins.heredocs.length === 1 && /^\s*<<-?["']?\w+["']?\s*$/.test(ins.heredocCommand ?? "")) argv = [...shell, ins.heredocs[0]!.content];
    else argv = [...shell, ins.args];
    if (argv.length === 0) throw err("RUN requires at least one argument");
    const { env, argsShown } = this.runEnv(state);
    const createdBy = (argsShown.length ? `|${argsShown.length} ${argsShown.join(" ")} ` : "") + argv.join(" ");
    const network = this.runNetwork(ins);
    const security = flagValue(ins, "security");
    if (security !== undefined && security !== "sandbox") throw err(`RUN --security=${security} is not allowed`);
    const mountFlags = flagValues(ins, "mount");
    const { keys: mountKeys, ...hostConfig } = await this.runMounts(state, ins, mountFlags);
    // The network is part of the step (what it could reach shaped its result): host, none and the rest are cached apart.
    const netKey = network === "none" || network === "host" ? network : "default";
    const key = BuildCache.key(["run", state.imageId, createdBy, env, mountFlags, mountKeys, netKey]);
    const hit = this.lookupCache(key);
    if (hit) {
      this.say(` ---> Using cache\n ---> ${short(hit)}`);
      state.imageId = hit;
      return;
    }
    const { Id } = await this.engine.containers.create({
      config: {
        Image: state.imageId,
        Cmd: argv,
        Entrypoint: [],
        Env: env,
        WorkingDir: state.config.WorkingDir ?? "",
        User: state.config.User ?? "",
        Labels: { [BUILD_LABEL]: "true", [BUILD_PID_LABEL]: String(process.pid) },
      },
      hostConfig: { NetworkMode: network === "default" ? "" : network, ...hostConfig },
    });
    this.currentContainer = Id;
    this.say(` ---> Running in ${Id.slice(0, 12)}`);
    try {
      this.checkAborted();
      const out = passOn(this.out);
      await this.engine.containers.start(Id, { attach: { stdout: out, stderr: out } });
      const { StatusCode } = await this.engine.containers.wait(Id);
      this.checkAborted();
      if (StatusCode !== 0) {
        throw err(`The command '${argv.join(" ")}' returned a non-zero code: ${StatusCode}`);
      }
      const upper = (await this.engine.containers.inspect(Id)).GraphDriver.Data.UpperDir!;
      removeMountStubs(upper, this.engine.images.layerDirs(state.imageId));
      const img = await this.engine.images.commitLayer({ parentImageId: state.imageId, upperDir: upper, config: state.config, createdBy });
      this.cache.put(key, img.id);
      this.result.executed.push(this.step);
      state.imageId = img.id;
    } catch (e) {
      if (this.opts.signal?.aborted) throw new BuildError("build canceled", "system");
      throw e instanceof CapsaError ? e : err(errorMessage(e));
    } finally {
      this.currentContainer = undefined;
      await this.engine.containers.remove(Id, { force: true, volumes: true }).catch(() => undefined);
      this.say(`Removing intermediate container ${Id.slice(0, 12)}`);
    }
    this.say(` ---> ${short(state.imageId)}`);
  }

  /**
   * The network of a RUN step. The Containerfile may pick `none` or `default`
   * (the build's --network); `host` only when the person building allowed
   * network.host, as BuildKit; anything else (`container:<name>`, a named
   * network) would let it join networks it was never given, and is refused.
   */
  private runNetwork(ins: Instruction): string {
    const build = this.opts.network ?? "default";
    const mode = flagValue(ins, "network");
    if (mode === undefined || mode === "default") return build;
    if (mode === "none") return "none";
    const err = (m: string): BuildError => atLine(this.file.file, ins.line, m);
    if (mode === "host") {
      if (this.opts.allow?.includes("network.host")) return "host";
      throw err("RUN --network=host is not allowed: the build was not granted the network.host entitlement (capsa build --allow network.host; for the API: capsa system service --allow-insecure-entitlement network.host)");
    }
    throw err(`RUN --network=${mode} is not allowed (none, default, or host with the network.host entitlement)`);
  }

  /** RUN --mount: type=cache (a directory kept in the state root), bind (context or stage, read-only), tmpfs. */
  private async runMounts(state: StageState, ins: Instruction, flags: string[]): Promise<{ Mounts?: MountSpec[]; Tmpfs?: Record<string, string>; keys: string[] }> {
    const keys: string[] = [];
    const err = (m: string): BuildError => atLine(this.file.file, ins.line, m);
    const mounts: MountSpec[] = [];
    const tmpfs: Record<string, string> = {};
    for (const f of flags) {
      const o: Record<string, string> = {};
      for (const part of f.split(",")) {
        const eq = part.indexOf("=");
        o[(eq < 0 ? part : part.slice(0, eq)).toLowerCase()] = eq < 0 ? "true" : part.slice(eq + 1);
      }
      const type = o.type ?? "bind";
      const target = o.target ?? o.dst ?? o.destination;
      if (!target) throw err(`--mount: target is required`);
      const abs = path.posix.resolve(state.config.WorkingDir || "/", this.expandOne(state, ins, target));
      if (type === "cache") {
        const id = o.id ?? abs;
        // Checked before anything is made: a bad value is the Containerfile's error, not a NaN at chmod.
        if (o.mode !== undefined && !/^[0-7]{1,4}$/.test(o.mode)) throw err(`--mount: invalid mode ${JSON.stringify(o.mode)}: an octal number such as 0755`);
        for (const k of ["uid", "gid"] as const) if (o[k] !== undefined && !/^\d{1,10}$/.test(o[k])) throw err(`--mount: invalid ${k} ${JSON.stringify(o[k])}: a number`);
        const dir = path.join(this.engine.paths.root, "build-cache-mounts", crypto.createHash("sha256").update(id).digest("hex").slice(0, 24));
        if (!fs.existsSync(dir)) {
          fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
          fs.chmodSync(dir, o.mode ? parseInt(o.mode, 8) : 0o755);
          fs.chownSync(dir, Number(o.uid ?? 0), Number(o.gid ?? 0));
        }
        mounts.push({ Type: "bind", Source: dir, Target: abs });
      } else if (type === "bind") {
        const src = o.source ?? o.src ?? "";
        let tree: SourceTree;
        if (o.from) {
          const stage = await this.stageTree(o.from, state, ins);
          keys.push(stage.imageId ?? "scratch");
          tree = stage;
        } else tree = { dir: this.contextDir, ignore: this.ignore, context: true };
        const [s] = wrap(err, () => resolveSources(tree, src || "."));
        // What the step reads through the mount is part of its cache key, as a COPY's input is.
        if (!o.from) keys.push(hashSources(tree, [s!]));
        // rw on a stage writes into that step's throw-away view; the context on the host is never writable.
        const rw = (o.rw === "true" || o.readwrite === "true") && !tree.context;
        mounts.push({ Type: "bind", Source: s!.abs, Target: abs, ReadOnly: !rw });
      } else if (type === "tmpfs") {
        tmpfs[abs] = o.size ? `size=${o.size}` : "";
      } else {
        throw err(`--mount type=${type} is not supported (cache, bind and tmpfs are)`);
      }
    }
    return { ...(mounts.length ? { Mounts: mounts } : {}), ...(Object.keys(tmpfs).length ? { Tmpfs: tmpfs } : {}), keys };
  }

  // ---- COPY / ADD -----------------------------------------------------------

  /** A read-only view of a stage's (or any image's) file system for COPY --from. */
  private async stageTree(ref: string, state: StageState, ins: Instruction): Promise<SourceTree & { imageId: string | null }> {
    const name = this.expandOne(state, ins, ref);
    const stage = this.stageRef(name, Number.MAX_SAFE_INTEGER);
    let imageId: string | null;
    if (stage) {
      if (!this.stageImages.has(stage.index)) throw atLine(this.file.file, ins.line, `stage "${name}" is not built before this step`);
      imageId = this.stageImages.get(stage.index) ?? null;
    } else {
      if (/^\d+$/.test(name)) throw atLine(this.file.file, ins.line, `invalid from flag value ${name}: no stage with index ${name}`);
      imageId = await this.baseImage(name, ins.line).catch(() => {
        throw atLine(this.file.file, ins.line, `invalid from flag value ${name}: no stage or image named ${name}`);
      });
    }
    const view = ScratchRootfs.mount(this.engine.images, this.engine.paths.tmp, imageId);
    this.mounts.push(view);
    return { dir: view.root, ignore: IgnoreMatcher.none(), context: false, imageId };
  }

  private async copyStep(state: StageState, ins: Instruction): Promise<void> {
    const err = (m: string): BuildError => atLine(this.file.file, ins.line, m);
    const isAdd = ins.keyword === "ADD";
    const from = flagValue(ins, "from");
    if (isAdd && from !== undefined) throw err("ADD does not support --from (use COPY)");
    for (const f of ["parents", "exclude", "keep-git-dir"]) if (flagValue(ins, f) !== undefined) throw err(`${ins.keyword} --${f} is not supported yet`);
    const checksum = flagValue(ins, "checksum");
    const chown = flagValue(ins, "chown");
    const chmodSpec = flagValue(ins, "chmod");
    const chmod = chmodSpec !== undefined ? wrap(err, () => parseChmod(this.expandOne(state, ins, chmodSpec))) : undefined;
    let words: string[];
    const heredocFiles = new Map<string, string>();
    if (ins.heredocs.length) {
      words = this.expandAll(state, ins, ins.heredocCommand ?? "");
      for (const h of ins.heredocs) heredocFiles.set(h.name, h.expand ? expandRaw(h.content, this.lookup(state), this.file.escape) : h.content);
    } else {
      words = ins.json ? ins.json.map((w) => this.expandOne(state, ins, w)) : this.expandAll(state, ins, ins.args);
    }
    if (words.length < 2) throw err(`${ins.keyword} requires at least two arguments`);
    const destWord = words.pop()!;
    const workdir = state.config.WorkingDir || "/";
    const dest = destWord.startsWith("/") ? destWord : workdir.replace(/\/?$/, "/") + destWord;

    // Sources by origin: the context, another stage or image, here-documents, URLs.
    const groups: { tree: SourceTree; sources: CopySource[]; hash: string }[] = [];
    let fromTree: (SourceTree & { imageId: string | null }) | undefined;
    if (from !== undefined) fromTree = await this.stageTree(from, state, ins);
    const contextTree: SourceTree = { dir: this.contextDir, ignore: this.ignore, context: true };
    for (const w of words) {
      const hd = /^<<-?["']?(\w+)["']?$/.exec(w);
      if (hd && heredocFiles.has(hd[1]!)) {
        const dir = this.tmpDir("heredoc");
        fs.writeFileSync(path.join(dir, hd[1]!), heredocFiles.get(hd[1]!)!);
        const tree: SourceTree = { dir, ignore: IgnoreMatcher.none(), context: false };
        const sources = resolveSources(tree, hd[1]!);
        groups.push({ tree, sources, hash: hashSources(tree, sources) });
      } else if (/^https?:\/\//i.test(w)) {
        if (!isAdd) throw err(`source can't be a URL for COPY`);
        const { tree, sources } = await this.download(w, ins, checksum);
        groups.push({ tree, sources, hash: hashSources(tree, sources) });
      } else if (fromTree) {
        const sources = wrap(err, () => resolveSources(fromTree, w));
        groups.push({ tree: fromTree, sources, hash: `${fromTree.imageId ?? "scratch"}:${sources.map((s) => s.rel).join("\0")}` });
      } else {
        const sources = wrap(err, () => resolveSources(contextTree, w));
        groups.push({ tree: contextTree, sources, hash: hashSources(contextTree, sources) });
      }
    }
    const count = groups.reduce((n, g) => n + g.sources.length, 0);
    if (count > 1 && !(dest.endsWith("/") || /\/\.$/.test(dest))) {
      throw err(`When using ${ins.keyword} with more than one source file, the destination must be a directory and end with a /`);
    }
    const digest = crypto.createHash("sha256").update(groups.map((g) => g.hash).join("\n")).digest("hex");
    const kind = groups.length === 1 && groups[0]!.sources.length === 1 && !groups[0]!.sources[0]!.isDir ? "file" : "dir";
    const flagsShown = [from !== undefined ? `--from=${from}` : "", chown ? `--chown=${chown}` : "", chmodSpec ? `--chmod=${chmodSpec}` : ""].filter(Boolean).join(" ");
    const createdBy = `/bin/sh -c #(nop) ${ins.keyword} ${flagsShown ? flagsShown + " " : ""}${kind}:${digest} in ${dest} `;
    const key = BuildCache.key(["copy", state.imageId ?? "scratch", createdBy, state.config]);
    const hit = this.lookupCache(key);
    if (hit) {
      this.say(` ---> Using cache\n ---> ${short(hit)}`);
      state.imageId = hit;
      return;
    }
    const rootfs = ScratchRootfs.mount(this.engine.images, this.engine.paths.tmp, state.imageId);
    this.mounts.push(rootfs);
    try {
      const owner = chown !== undefined ? wrap(err, () => resolveOwner(rootfs.root, this.expandOne(state, ins, chown))) : undefined;
      for (const g of groups) {
        await copyInto(g.tree, g.sources, { rootfs: rootfs.root, dest, owner, chmod, extractArchives: isAdd && g.tree.context }).catch((e: unknown) => {
          throw e instanceof BuildError ? err(e.message) : err(`${ins.keyword} failed: ${errorMessage(e)}`);
        });
      }
      rootfs.unmount();
      this.checkAborted();
      const img = await this.engine.images.commitLayer({ parentImageId: state.imageId, upperDir: rootfs.layer.upper, config: state.config, createdBy });
      this.cache.put(key, img.id);
      this.result.executed.push(this.step);
      state.imageId = img.id;
    } finally {
      rootfs.release();
      this.mounts.splice(this.mounts.indexOf(rootfs), 1);
    }
    this.say(` ---> ${short(state.imageId)}`);
  }

  /**
   * ADD <url>: the body is streamed into a private temp dir under a fixed name
   * (mode 0600, as docker): nothing on the host is named after the URL or a
   * header. The name in the image is urlFileName()'s, confined to one component.
   */
  private async download(url: string, ins: Instruction, checksum: string | undefined): Promise<{ tree: SourceTree; sources: CopySource[] }> {
    const err = (m: string): BuildError => atLine(this.file.file, ins.line, m);
    const verify = checksum !== undefined ? wrap(err, () => parseChecksum(checksum)) : undefined;
    let res: Response;
    try {
      res = await fetch(url, { signal: this.opts.signal });
    } catch (e) {
      throw err(`ADD failed: ${url}: ${errorMessage(e)}`);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw err(`ADD failed: ${url}: HTTP ${res.status} ${res.statusText}`);
    }
    const name = urlFileName(url);
    const file = path.join(this.tmpDir("url"), "download");
    const hash = verify ? crypto.createHash(verify.algorithm) : undefined;
    try {
      const body = res.body ? Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) : Readable.from([]);
      const digest = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash?.update(chunk);
          cb(null, chunk);
        },
      });
      // "wx": the fresh directory is ours; an existing file there is not, and is never written through.
      await pipeline(body, digest, fs.createWriteStream(file, { flags: "wx", mode: 0o600 }), { signal: this.opts.signal });
    } catch (e) {
      if (this.opts.signal?.aborted) throw new BuildError("build canceled", "system");
      throw err(`ADD failed: ${url}: ${errorMessage(e)}`);
    }
    if (verify && hash) {
      const actual = `${verify.algorithm}:${hash.digest("hex")}`;
      if (actual !== `${verify.algorithm}:${verify.hex}`) throw err(`ADD failed: ${url}: digest mismatch: expected ${checksum}, got ${actual}`);
    }
    const lm = res.headers.get("last-modified");
    if (lm && !Number.isNaN(Date.parse(lm))) fs.utimesSync(file, new Date(lm), new Date(lm));
    const tree: SourceTree = { dir: path.dirname(file), ignore: IgnoreMatcher.none(), context: false };
    return { tree, sources: [{ abs: file, rel: name, isDir: false, mode: 0o600, name }] };
  }
}

/** ADD --checksum=<algorithm>:<hex> (BuildKit's digests: sha256, sha384, sha512). */
function parseChecksum(spec: string): { algorithm: "sha256" | "sha384" | "sha512"; hex: string } {
  const m = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(spec);
  const lengths = { sha256: 64, sha384: 96, sha512: 128 };
  if (!m || m[2]!.length !== lengths[m[1] as keyof typeof lengths]) throw new BuildError(`invalid --checksum ${JSON.stringify(spec)}: expected sha256:, sha384: or sha512: and the hex digest`);
  return { algorithm: m[1] as "sha256" | "sha384" | "sha512", hex: m[2]! };
}

/**
 * The file name an ADD of a URL gets in the image, as BuildKit's Dockerfile
 * frontend names it: the last component of the percent-decoded path (so
 * "%2F" separates components too). A name that is empty, "." or "..", has a
 * NUL or does not decode is "__unnamed__"; Content-Disposition is not used.
 */
export function urlFileName(url: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(new URL(url).pathname);
  } catch {
    return "__unnamed__";
  }
  const base = decoded.replace(/\/+$/, "").split("/").pop() ?? "";
  return base === "" || base === "." || base === ".." || base.includes("\0") ? "__unnamed__" : base;
}

function short(id: string | null): string {
  return (id ?? "").replace(/^sha256:/, "").slice(0, 12);
}

function wrap<T>(err: (m: string) => BuildError, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BuildError && /^\S+:\d+: /.test(e.message)) throw e;
    throw err(errorMessage(e));
  }
}

/** A Writable forwarding to the build output without ever ending it. */
function passOn(target: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (target.write(chunk)) cb();
      else target.once("drain", () => cb());
    },
  });
}

/**
 * The runtime creates empty files and directories as mount points for
 * /etc/hosts, /etc/hostname, /etc/resolv.conf when the image lacks them; they
 * are not the step's work and stay out of the layer.
 */
function removeMountStubs(upper: string, lowers: string[]): void {
  for (const rel of ["etc/hostname", "etc/hosts", "etc/resolv.conf"]) {
    const p = path.join(upper, rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    if (!st.isFile() || st.size !== 0) continue;
    if (lowers.some((l) => fs.existsSync(path.join(l, rel)))) continue;
    fs.rmSync(p);
  }
  // /etc itself was copied up only to hold those mount points: drop it when it is
  // now empty and unchanged (same mode and owner as below, not opaque).
  const etc = path.join(upper, "etc");
  try {
    const st = fs.lstatSync(etc);
    if (!st.isDirectory() || fs.readdirSync(etc).length > 0 || isOpaque(etc)) return;
    const below = lowers.map((l) => path.join(l, "etc")).find((d) => fs.existsSync(d));
    if (!below) return;
    const b = fs.lstatSync(below);
    if (b.isDirectory() && b.mode === st.mode && b.uid === st.uid && b.gid === st.gid) fs.rmdirSync(etc);
  } catch {
    /* nothing to tidy */
  }
}

function isOpaque(dir: string): boolean {
  const r = spawnSync("getfattr", ["--absolute-names", "--only-values", "-n", "trusted.overlay.opaque", dir], { encoding: "utf8" });
  return r.status === 0 && r.stdout.trim() === "y";
}

/** Go durations ("30s", "1m30s", "500ms") in nanoseconds. */
export function parseDuration(s: string): number | undefined {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * units[m[2]!]!;
    end = re.lastIndex;
  }
  return end === s.length && end > 0 ? Math.round(total) : undefined;
}

