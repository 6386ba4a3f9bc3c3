// The floor: runc alone with a prepared bundle, no engine around it. The same
// root file system, read-only and shared by every container, one bundle
// (config.json) per command line. `new Runc("runsc", RUNSC_FLAGS)` is the
// sandbox's floor: gVisor's runsc with the global flags capsa gives it.
import fs from "node:fs";
import path from "node:path";
import { firstLine, run, runOk, sleep, timedOk, which, type Cmd } from "../lib/proc.ts";
import { removeTree } from "../lib/fsutil.ts";
import type { BenchContext, ContainerSystem, SystemInfo } from "./system.ts";

interface RuntimeSpec {
  process: { terminal: boolean; args: string[] };
  root: { path: string; readonly: boolean };
  hostname?: string;
}

export class Runc implements ContainerSystem {
  readonly name: string;
  private dir = "";
  private readonly bundles = new Map<string, string>();
  private readonly made = new Set<string>();
  private seq = 0;

  /** binary: "runc", "crun" or "runsc" (same CLI); globalFlags: after --root on every call. */
  constructor(
    private readonly binary = "runc",
    private readonly globalFlags: readonly string[] = [],
  ) {
    this.name = binary;
  }

  check(): string | undefined {
    return which(this.binary) ? undefined : `${this.binary} is not installed`;
  }

  private state(): string {
    return path.join(this.dir, "state");
  }

  private cmd(args: string[], extra: Partial<Cmd> = {}): Cmd {
    return { argv: [this.binary, "--root", this.state(), ...this.globalFlags, ...args], ...extra };
  }

  /** A bundle whose process runs args, made on first use. */
  private bundle(args: string[]): string {
    const key = JSON.stringify(args);
    let b = this.bundles.get(key);
    if (b) return b;
    b = path.join(this.dir, `bundle-${this.bundles.size}`);
    fs.mkdirSync(b);
    runOk({ argv: [this.binary, "spec", "--bundle", b] });
    const spec = JSON.parse(fs.readFileSync(path.join(b, "config.json"), "utf8")) as RuntimeSpec;
    spec.process.terminal = false;
    spec.process.args = args;
    spec.root = { path: path.join(this.dir, "rootfs"), readonly: true };
    fs.writeFileSync(path.join(b, "config.json"), JSON.stringify(spec, null, 2));
    this.bundles.set(key, b);
    return b;
  }

  async setup(ctx: BenchContext): Promise<void> {
    this.dir = path.join(ctx.dir, this.binary);
    fs.mkdirSync(path.join(this.dir, "rootfs"), { recursive: true });
    fs.mkdirSync(this.state(), { recursive: true });
    runOk({ argv: ["tar", "--numeric-owner", "-xf", ctx.rootfsTar, "-C", path.join(this.dir, "rootfs")] });
    const r = await timedOk(this.runRm(["echo", "probe"]));
    if (r.stdout.trim() !== "probe") throw new Error(`${this.binary}: run printed ${JSON.stringify(r.stdout)}`);
  }

  info(): SystemInfo {
    return {
      version: firstLine([this.binary, "--version"]) ?? "?",
      runtime: this.binary,
      notes: [`no engine: a prepared bundle, read-only shared rootfs, no network namespace set-up${this.globalFlags.length ? `; ${this.globalFlags.join(" ")}` : ""}`],
    };
  }

  runRm(args: string[]): Cmd {
    // `run` without -d deletes the container when its process exits.
    return this.cmd(["run", "--bundle", this.bundle(args), `r${process.pid}-${this.seq++}`]);
  }

  async startDetached(name: string, args: string[]): Promise<void> {
    this.made.add(name);
    // The container inherits runc's stdio and outlives it: give it /dev/null.
    await timedOk(this.cmd(["run", "-d", "--bundle", this.bundle(args), name], { nullStdio: true }));
  }

  async stop(name: string): Promise<void> {
    await timedOk(this.cmd(["kill", name, "KILL"]));
    for (let i = 0; i < 1000; i++) {
      const s = run(this.cmd(["state", name]));
      if (s.status !== 0 || (JSON.parse(s.stdout) as { status: string }).status === "stopped") return;
      await sleep(2);
    }
    throw new Error(`${this.binary}: ${name} did not stop`);
  }

  async remove(name: string): Promise<void> {
    await timedOk(this.cmd(["delete", name]));
    this.made.delete(name);
  }

  monitorPid(): number | undefined {
    return undefined; // nothing stays behind runc
  }

  daemonPids(): number[] {
    return [];
  }

  async cleanup(): Promise<void> {
    if (!this.dir) return;
    if (fs.existsSync(this.state())) {
      // JSON, since runsc's list has no -q.
      let listed: { id: string }[] = [];
      try {
        listed = (JSON.parse(run(this.cmd(["list", "--format", "json"])).stdout.trim() || "[]") as { id: string }[] | null) ?? [];
      } catch {
        /* nothing listed */
      }
      for (const { id } of listed) run(this.cmd(["delete", "-f", id]));
    }
    removeTree(this.dir);
  }
}
