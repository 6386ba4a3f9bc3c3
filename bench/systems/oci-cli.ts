// Shared behaviour of docker-style CLIs (capsa, podman, docker): the same
// verbs and flags, differing only in the command prefix and environment.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { CommandError, run, sleep, stopPid, timed, timedOk, type Cmd } from "../lib/proc.ts";
import { commandName, parentPid } from "../lib/memory.ts";
import { DEFAULT_NETWORK, NETWORK, type BenchContext, type ContainerSystem, type EngineService, type RunExtras, type SystemInfo } from "./system.ts";

/** GET /_ping on a unix socket: whether an API service answers there. */
function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: "/_ping", timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** `--network X` for a run: NETWORK unless told otherwise; none at all for DEFAULT_NETWORK (the engine's own default). */
function networkFlag(more: RunExtras): string[] {
  const n = more.network ?? NETWORK;
  return n === DEFAULT_NETWORK ? [] : ["--network", n];
}

/** The docker CLI against an API service on a unix socket, with a private client configuration. */
export function dockerClient(socket: string, configDir: string, args: string[]): Cmd {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: configDir };
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  return { argv: ["docker", "-H", `unix://${socket}`, ...args], env };
}

export abstract class DockerLikeCli implements ContainerSystem {
  abstract readonly name: string;
  protected ctx?: BenchContext;
  protected made = new Set<string>();
  protected madeNetworks = new Set<string>();

  /** argv prefix for every command, e.g. ["podman", "--root", …]. */
  protected abstract prefix(): string[];
  protected abstract env(): NodeJS.ProcessEnv;
  abstract check(): string | undefined;
  abstract info(): SystemInfo;
  /** Names the monitor processes may have, to verify we measure the right one. */
  protected abstract monitorNames(): RegExp;

  protected cmd(args: string[], extra: Partial<Cmd> = {}): Cmd {
    return { argv: [...this.prefix(), ...args], env: this.env(), ...extra };
  }

  protected image(): string {
    if (!this.ctx) throw new Error(`${this.name}: not set up`);
    return this.ctx.image;
  }

  /** Imports the image and proves that a container runs. */
  protected async importAndProbe(ctx: BenchContext): Promise<void> {
    await this.importImage(ctx.rootfsTar, ctx.image);
    const r = await timedOk(this.runRm(["echo", "probe"]));
    if (r.stdout.trim() !== "probe") throw new Error(`${this.name}: run printed ${JSON.stringify(r.stdout)}, expected "probe"`);
  }

  /** Flags of every `run` besides the network (capsa's --isolation). */
  protected runFlags(): string[] {
    return [];
  }

  async importImage(tar: string, ref: string): Promise<void> {
    await timedOk(this.cmd(["import", tar, ref]), { timeoutMs: 600_000 });
  }

  runRm(args: string[], image?: string, more: RunExtras = {}): Cmd {
    return this.cmd(["run", "--rm", ...networkFlag(more), ...this.runFlags(), ...(more.flags ?? []), image ?? this.image(), ...args]);
  }

  load(tar: string): Cmd {
    return this.cmd(["load", "-i", tar]);
  }

  save(ref: string, out: string): Cmd {
    return this.cmd(["save", "-o", out, ref]);
  }

  /** `rmi -f`; an image that is not there is no error. */
  async removeImage(ref: string): Promise<void> {
    const r = await timed(this.cmd(["rmi", "-f", ref]));
    if (r.code !== 0 && !/no such image|image not known|not found/i.test(r.stderr)) throw new CommandError(["rmi", "-f", ref], r.code, r.stderr);
  }

  /** Flags `pull` needs for a plain-HTTP registry on loopback (podman's --tls-verify=false). */
  protected pullFlags(): string[] {
    return [];
  }

  pull(ref: string): Cmd {
    return this.cmd(["pull", "-q", ...this.pullFlags(), ref]);
  }

  /** `dir` holds a Containerfile, named with -f: docker's CLI looks only for a Dockerfile by itself. */
  build(dir: string, tag: string, o: { noCache: boolean }): Cmd {
    return this.cmd(["build", "-q", "--network", "none", ...(o.noCache ? ["--no-cache"] : []), "-f", path.join(dir, "Containerfile"), "-t", tag, dir]);
  }

  async createNetwork(name: string, subnet: string): Promise<void> {
    this.madeNetworks.add(name);
    await timedOk(this.cmd(["network", "create", "--subnet", subnet, name]));
  }

  async removeNetwork(name: string): Promise<void> {
    await timedOk(this.cmd(["network", "rm", name]));
    this.madeNetworks.delete(name);
  }

  /**
   * Starts `argv` (an API service listening on `socket`) with the engine's
   * environment, waits until it answers /_ping, and has it serve one
   * `run --rm img true` through the docker CLI. Its output goes to `socket`.log.
   */
  protected async spawnService(argv: string[], socket: string): Promise<EngineService> {
    fs.rmSync(socket, { force: true });
    const log = fs.openSync(`${socket}.log`, "a");
    const child = spawn(argv[0]!, argv.slice(1), { env: this.env(), stdio: ["ignore", log, log] });
    fs.closeSync(log);
    const pid = child.pid;
    const stop = async () => {
      if (pid !== undefined && child.exitCode === null && child.signalCode === null) await stopPid(pid);
      fs.rmSync(socket, { force: true });
    };
    try {
      if (pid === undefined) throw new Error(`${this.name}: could not start ${argv.slice(0, 4).join(" ")}`);
      const deadline = Date.now() + 60_000;
      while (!(await ping(socket))) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${this.name}: the service exited (${child.exitCode ?? child.signalCode}); see ${socket}.log`);
        if (Date.now() > deadline) throw new Error(`${this.name}: the service did not answer within 60 s`);
        await sleep(100);
      }
      const client = path.join(path.dirname(socket), "docker-client");
      fs.mkdirSync(client, { recursive: true });
      await timedOk(dockerClient(socket, client, ["run", "--rm", "--network", NETWORK, this.image(), "true"]));
      return { roots: [pid], socket, stop };
    } catch (e) {
      await stop();
      throw e;
    }
  }

  async startDetached(name: string, args: string[], more: RunExtras & { image?: string } = {}): Promise<void> {
    this.made.add(name);
    await timedOk(this.cmd(["run", "-d", ...networkFlag(more), ...this.runFlags(), ...(more.flags ?? []), "--name", name, more.image ?? this.image(), ...args]));
  }

  async stop(name: string): Promise<void> {
    await timedOk(this.cmd(["stop", "-t", "0", name]));
  }

  async remove(name: string): Promise<void> {
    await timedOk(this.cmd(["rm", name]));
    this.made.delete(name);
  }

  /** State.Pid from `inspect` (docker's JSON), then its parent: the monitor. */
  monitorPid(name: string): number | undefined {
    const r = run(this.cmd(["inspect", name]));
    if (r.status !== 0) throw new CommandError(this.cmd(["inspect", name]).argv, r.status, r.stderr);
    const parsed = JSON.parse(r.stdout) as { State?: { Pid?: number } }[];
    const pid = parsed[0]?.State?.Pid;
    if (!pid) return undefined;
    const monitor = parentPid(pid);
    if (!monitor) return undefined;
    const comm = commandName(monitor) ?? "";
    if (!this.monitorNames().test(comm)) throw new Error(`${this.name}: parent of container ${name} is "${comm}" (pid ${monitor}), not its monitor`);
    return monitor;
  }

  daemonPids(): number[] {
    return [];
  }

  /** Force-removes what this harness created that is still there. */
  protected removeLeftovers(): void {
    for (const name of this.made) run(this.cmd(this.forceRemoveArgs(name)));
    this.made.clear();
    for (const name of this.madeNetworks) run(this.cmd(["network", "rm", name]));
    this.madeNetworks.clear();
  }

  protected forceRemoveArgs(name: string): string[] {
    return ["rm", "-f", name];
  }

  abstract setup(ctx: BenchContext): Promise<void>;
  abstract cleanup(): Promise<void>;
}
