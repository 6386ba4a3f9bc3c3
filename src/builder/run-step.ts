// RUN: the command runs in a capsa container made from the previous step's
// image (the step's Env and ARGs in scope, WorkingDir, User, no entrypoint),
// its output streamed to the build's; the container's writable layer becomes
// the step's layer. RUN --network and RUN --mount (cache, bind, tmpfs) are
// checked here, and are part of the step's cache key.
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import type { MountSpec } from "../types/records.ts";
import { CapsaError, errorMessage } from "../util/errors.ts";
import { BuildCache } from "./cache.ts";
import { hashSources, resolveSources, type SourceTree } from "./copy.ts";
import { BuildError } from "./errors.ts";
import { flagValue, flagValues, type Instruction } from "./parse.ts";
import { DEFAULT_SHELL, PROXY_ARGS, short, wrap, type BuildSession, type StageState } from "./session.ts";
import { shortId } from "../util/ids.ts";

/** Labels of RUN containers: which build (process) they belong to. */
export const BUILD_LABEL = "io.capsa.build";
export const BUILD_PID_LABEL = "io.capsa.build.pid";

export async function runStep(s: BuildSession, state: StageState, ins: Instruction): Promise<void> {
  const err = s.errAt(ins.line);
  if (!state.imageId) throw err("RUN needs a file system: this stage starts FROM scratch and has nothing to run");
  const shell = state.config.Shell ?? DEFAULT_SHELL;
  let argv: string[];
  if (ins.json) argv = ins.json;
  else if (ins.heredocs.length === 1 && /^\s*<<-?["']?\w+["']?\s*$/.test(ins.heredocCommand ?? "")) argv = [...shell, ins.heredocs[0]!.content];
  else argv = [...shell, ins.args];
  if (argv.length === 0) throw err("RUN requires at least one argument");
  const { env, argsShown } = runEnv(s, state);
  const createdBy = (argsShown.length ? `|${argsShown.length} ${argsShown.join(" ")} ` : "") + argv.join(" ");
  const network = runNetwork(s, ins);
  const security = flagValue(ins, "security");
  if (security !== undefined && security !== "sandbox") throw err(`RUN --security=${security} is not allowed`);
  const mountFlags = flagValues(ins, "mount");
  const { keys: mountKeys, ...hostConfig } = await runMounts(s, state, ins, mountFlags);
  // The network is part of the step (what it could reach shaped its result): host, none and the rest are cached apart.
  const netKey = network === "none" || network === "host" ? network : "default";
  const key = BuildCache.key(["run", state.imageId, createdBy, env, mountFlags, mountKeys, netKey]);
  const hit = s.lookupCache(key);
  if (hit) {
    s.say(` ---> Using cache\n ---> ${short(hit)}`);
    state.imageId = hit;
    return;
  }
  const { Id } = await s.engine.containers.create({
    config: {
      Image: state.imageId,
      Cmd: argv,
      Entrypoint: [],
      Env: env,
      WorkingDir: state.config.WorkingDir ?? "",
      User: state.config.User ?? "",
      Labels: { [BUILD_LABEL]: "true", [BUILD_PID_LABEL]: String(process.pid) },
    },
    hostConfig: { NetworkMode: network === "default" ? "" : network, ...(s.opts.extraHosts?.length ? { ExtraHosts: s.opts.extraHosts } : {}), ...hostConfig },
  });
  s.currentContainer = Id;
  s.say(` ---> Running in ${shortId(Id)}`);
  try {
    s.checkAborted();
    const stderr = s.opts.markStderr ? passOn(s.out, ["\x1b[91m", "\x1b[0m"]) : passOn(s.out);
    await s.engine.containers.start(Id, { attach: { stdout: passOn(s.out), stderr } });
    const { StatusCode } = await s.engine.containers.wait(Id);
    s.checkAborted();
    if (StatusCode !== 0) {
      const failed = err(`The command '${argv.join(" ")}' returned a non-zero code: ${StatusCode}`);
      failed.commandExitCode = StatusCode;
      throw failed;
    }
    const upper = (await s.engine.containers.inspect(Id)).GraphDriver.Data.UpperDir!;
    removeMountStubs(upper, s.engine.images.layerDirs(state.imageId));
    const img = await s.engine.images.commitLayer({ parentImageId: state.imageId, upperDir: upper, config: state.config, createdBy });
    s.cache.put(key, img.id);
    s.result.executed.push(s.step);
    state.imageId = img.id;
  } catch (e) {
    if (s.opts.signal?.aborted) throw new BuildError("build canceled", "system");
    throw e instanceof CapsaError ? e : err(errorMessage(e));
  } finally {
    s.currentContainer = undefined;
    await s.engine.containers.remove(Id, { force: true, volumes: true }).catch(() => undefined);
    s.say(`Removing intermediate container ${shortId(Id)}`);
  }
  s.say(` ---> ${short(state.imageId)}`);
}

/** The step's environment: the image's Env, then the ARGs in scope and the proxy build args. */
function runEnv(s: BuildSession, state: StageState): { env: string[]; argsShown: string[] } {
  const env = [...(state.config.Env ?? [])];
  const have = new Set(env.map((e) => e.split("=")[0]));
  const argsShown: string[] = [];
  for (const [k, v] of state.args) {
    if (v === undefined || have.has(k)) continue;
    env.push(`${k}=${v}`);
    if (!PROXY_ARGS.includes(k)) argsShown.push(`${k}=${v}`);
  }
  for (const k of PROXY_ARGS) {
    const v = s.buildArgs.get(k);
    if (v !== undefined && !env.some((e) => e.startsWith(k + "="))) env.push(`${k}=${v}`);
  }
  return { env, argsShown };
}

/**
 * The network of a RUN step. The Containerfile may pick `none` or `default`
 * (the build's --network); `host` only when the person building allowed
 * network.host, as BuildKit; anything else (`container:<name>`, a named
 * network) would let it join networks it was never given, and is refused.
 */
export function runNetwork(s: BuildSession, ins: Instruction): string {
  const build = s.opts.network ?? "default";
  const mode = flagValue(ins, "network");
  if (mode === undefined || mode === "default") return build;
  if (mode === "none") return "none";
  const err = s.errAt(ins.line);
  if (mode === "host") {
    if (s.opts.allow?.includes("network.host")) return "host";
    throw err("RUN --network=host is not allowed: the build was not granted the network.host entitlement (capsa build --allow network.host; for the API: capsa system service --allow-insecure-entitlement network.host)");
  }
  throw err(`RUN --network=${mode} is not allowed (none, default, or host with the network.host entitlement)`);
}

/** RUN --mount: type=cache (a directory kept in the state root), bind (context or stage, read-only), tmpfs. */
async function runMounts(s: BuildSession, state: StageState, ins: Instruction, flags: string[]): Promise<{ Mounts?: MountSpec[]; Tmpfs?: Record<string, string>; keys: string[] }> {
  const keys: string[] = [];
  const err = s.errAt(ins.line);
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
    const abs = path.posix.resolve(state.config.WorkingDir || "/", s.expandOne(state, ins, target));
    if (type === "cache") {
      mounts.push({ Type: "bind", Source: cacheMountDir(s, o, abs, err), Target: abs });
    } else if (type === "bind") {
      const src = o.source ?? o.src ?? "";
      let tree: SourceTree;
      if (o.from) {
        const stage = await s.stageTree(o.from, state, ins);
        keys.push(stage.imageId ?? "scratch");
        tree = stage;
      } else tree = { dir: s.contextDir, ignore: s.ignore, context: true };
      const [source] = wrap(err, () => resolveSources(tree, src || "."));
      // What the step reads through the mount is part of its cache key, as a COPY's input is.
      if (!o.from) keys.push(hashSources(tree, [source!]));
      // rw on a stage writes into that step's throw-away view; the context on the host is never writable.
      const rw = (o.rw === "true" || o.readwrite === "true") && !tree.context;
      mounts.push({ Type: "bind", Source: source!.abs, Target: abs, ReadOnly: !rw });
    } else if (type === "tmpfs") {
      tmpfs[abs] = o.size ? `size=${o.size}` : "";
    } else {
      throw err(`--mount type=${type} is not supported (cache, bind and tmpfs are)`);
    }
  }
  return { ...(mounts.length ? { Mounts: mounts } : {}), ...(Object.keys(tmpfs).length ? { Tmpfs: tmpfs } : {}), keys };
}

/** A type=cache mount's directory under the state root (by its id, default the target), made on first use with its mode and owner. */
function cacheMountDir(s: BuildSession, o: Record<string, string>, target: string, err: (m: string) => BuildError): string {
  const id = o.id ?? target;
  // Checked before anything is made: a bad value is the Containerfile's error, not a NaN at chmod.
  if (o.mode !== undefined && !/^[0-7]{1,4}$/.test(o.mode)) throw err(`--mount: invalid mode ${JSON.stringify(o.mode)}: an octal number such as 0755`);
  for (const k of ["uid", "gid"] as const) if (o[k] !== undefined && !/^\d{1,10}$/.test(o[k])) throw err(`--mount: invalid ${k} ${JSON.stringify(o[k])}: a number`);
  const dir = path.join(s.engine.paths.root, "build-cache-mounts", crypto.createHash("sha256").update(id).digest("hex").slice(0, 24));
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.chmodSync(dir, o.mode ? parseInt(o.mode, 8) : 0o755);
    fs.chownSync(dir, Number(o.uid ?? 0), Number(o.gid ?? 0));
  }
  return dir;
}

/** A Writable forwarding to the build output without ever ending it. */
/** A writer into `target`; `around`: what each chunk is put between (dockerd's red for RUN's stderr). */
function passOn(target: Writable, around?: [string, string]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (target.write(around ? Buffer.concat([Buffer.from(around[0]), chunk, Buffer.from(around[1])]) : chunk)) cb();
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
