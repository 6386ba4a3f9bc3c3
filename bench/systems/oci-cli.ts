// Shared behaviour of docker-style CLIs (capsa, podman, docker): the same
// verbs and flags, differing only in the command prefix and environment.
import { CommandError, run, runOk, timedOk, type Cmd } from "../lib/proc.ts";
import { commandName, parentPid } from "../lib/memory.ts";
import { NETWORK, type BenchContext, type ContainerSystem, type SystemInfo } from "./system.ts";

export abstract class DockerLikeCli implements ContainerSystem {
  abstract readonly name: string;
  protected ctx?: BenchContext;
  protected made = new Set<string>();

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
    runOk(this.cmd(["import", ctx.rootfsTar, ctx.image]));
    const r = await timedOk(this.runRm(["echo", "probe"]));
    if (r.stdout.trim() !== "probe") throw new Error(`${this.name}: run printed ${JSON.stringify(r.stdout)}, expected "probe"`);
  }

  /** Flags of every `run` besides the network (capsa's --isolation). */
  protected runFlags(): string[] {
    return [];
  }

  runRm(args: string[]): Cmd {
    return this.cmd(["run", "--rm", "--network", NETWORK, ...this.runFlags(), this.image(), ...args]);
  }

  async startDetached(name: string, args: string[]): Promise<void> {
    this.made.add(name);
    await timedOk(this.cmd(["run", "-d", "--network", NETWORK, ...this.runFlags(), "--name", name, this.image(), ...args]));
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
  }

  protected forceRemoveArgs(name: string): string[] {
    return ["rm", "-f", name];
  }

  abstract setup(ctx: BenchContext): Promise<void>;
  abstract cleanup(): Promise<void>;
}
