// Docker: a dockerd of our own, started by hand on a private socket, data
// root, exec root and pid file, stopped by its pid afterwards. Its default
// bridge is a bridge device of the harness's own (name and /24 unused on this
// host, deleted afterwards); no iptables rules and no ip_forward change, so
// published ports go through docker-proxy (which docker uses for loopback
// anyway). Most scenarios run with --network none.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { childPids } from "../lib/memory.ts";
import { BridgeLeftovers, freeSubnets, hostAddress } from "../lib/net.ts";
import { firstLine, run, runOk, sleep, stopPid, timedOk, which, type Cmd } from "../lib/proc.ts";
import { CgroupLeftovers, Leftovers, removeTree } from "../lib/fsutil.ts";
import { DockerLikeCli } from "./oci-cli.ts";
import type { BenchContext, EngineService, SystemInfo } from "./system.ts";

export class Docker extends DockerLikeCli {
  readonly name = "docker";
  private dir = "";
  private daemon?: ChildProcess;
  private leftovers?: Leftovers;
  private cgroups?: CgroupLeftovers;
  private runtime = "?";
  private bridge = "";
  private bridgeSubnet = "";
  private bridges?: BridgeLeftovers;

  check(): string | undefined {
    if (!which("dockerd")) return "dockerd is not installed";
    if (!which("docker")) return "the docker CLI is not installed";
    return undefined;
  }

  private socket(): string {
    return path.join(this.dir, "docker.sock");
  }

  protected prefix(): string[] {
    return ["docker"];
  }

  protected env(): NodeJS.ProcessEnv {
    return { ...process.env, DOCKER_HOST: `unix://${this.socket()}`, DOCKER_CONFIG: path.join(this.dir, "client") };
  }

  protected monitorNames(): RegExp {
    return /^containerd-shim/;
  }

  /** A bridge named after the bench (cbd<pid>n<k>), not dockerd's br-<id>. */
  override async createNetwork(name: string, subnet: string): Promise<void> {
    this.madeNetworks.add(name);
    const dev = `cbd${process.pid}n${this.madeNetworks.size}`.slice(0, 15);
    await timedOk(this.cmd(["network", "create", "--subnet", subnet, "-o", `com.docker.network.bridge.name=${dev}`, name]));
  }

  /** The classic builder: the docker CLI here has no buildx plugin, which BuildKit needs. */
  override build(dir: string, tag: string, o: { noCache: boolean }): Cmd {
    const c = super.build(dir, tag, o);
    return { ...c, env: { ...c.env, DOCKER_BUILDKIT: "0" } };
  }

  async setup(ctx: BenchContext): Promise<void> {
    this.ctx = ctx;
    this.dir = path.join(ctx.dir, "docker");
    fs.mkdirSync(path.join(this.dir, "client"), { recursive: true });
    // dockerd 20.10 writes a trust key to /etc/docker and a plugin directory
    // to /run/docker whatever its data and exec roots.
    this.leftovers = new Leftovers(["/etc/docker/key.json", "/run/docker/plugins", "/run/docker"]);
    this.cgroups = new CgroupLeftovers(/^docker$/);
    // The default bridge: a device of our own with a free /24 (dockerd takes its address).
    this.bridges = new BridgeLeftovers(/^br-[0-9a-f]{12}$/);
    this.bridge = `cbd${process.pid}`;
    this.bridgeSubnet = freeSubnets(1)[0]!;
    runOk({ argv: ["ip", "link", "add", this.bridge, "type", "bridge"] });
    runOk({ argv: ["ip", "addr", "add", `${hostAddress(this.bridgeSubnet, 1)}/24`, "dev", this.bridge] });
    runOk({ argv: ["ip", "link", "set", this.bridge, "up"] });
    const log = fs.openSync(path.join(this.dir, "dockerd.log"), "a");
    // prettier-ignore
    this.daemon = spawn("dockerd", [
      "--data-root", path.join(this.dir, "data"),
      "--exec-root", path.join(this.dir, "exec"),
      "--pidfile", path.join(this.dir, "dockerd.pid"),
      "-H", `unix://${this.socket()}`,
      "--bridge", this.bridge, "--iptables=false", "--ip-masq=false", "--ip-forward=false",
      "--log-level", "warn",
    ], { stdio: ["ignore", log, log] });
    fs.closeSync(log);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (this.daemon.exitCode !== null) throw new Error(`dockerd exited (${this.daemon.exitCode}); see ${path.join(this.dir, "dockerd.log")}`);
      if (run(this.cmd(["version"]), { timeoutMs: 10_000 }).status === 0) break;
      if (Date.now() > deadline) throw new Error("dockerd did not answer within 60 s");
      await sleep(200);
    }
    await this.importAndProbe(ctx);
    this.runtime = firstLine(["docker", "info", "--format", "{{.DefaultRuntime}}"], this.env()) ?? "?";
  }

  info(): SystemInfo {
    const server = firstLine(["docker", "version", "--format", "{{.Server.Version}}"], this.env());
    const client = firstLine(["docker", "version", "--format", "{{.Client.Version}}"], this.env());
    return {
      version: `dockerd ${server ?? "?"} (client ${client ?? "?"})`,
      runtime: this.runtime,
      notes: [`private dockerd: own socket, data root and exec root; default bridge ${this.bridge} on ${this.bridgeSubnet}, no iptables (published ports via docker-proxy), no ip_forward change`],
    };
  }

  /** The dockerd already up (it stays up), after one more `run --rm img true`. */
  async startService(): Promise<EngineService> {
    const pid = this.daemon?.pid;
    if (!pid || this.daemon?.exitCode !== null) throw new Error("dockerd is not running");
    await timedOk(this.runRm(["true"]));
    return { roots: [pid], socket: this.socket(), stop: () => Promise.resolve() };
  }

  /** dockerd and the containerd it manages. */
  override daemonPids(): number[] {
    const pid = this.daemon?.pid;
    if (!pid || this.daemon?.exitCode !== null) return [];
    return [pid, ...childPids(pid)];
  }

  async cleanup(): Promise<void> {
    if (!this.dir) return;
    const d = this.daemon;
    if (d?.pid && d.exitCode === null && d.signalCode === null) {
      this.removeLeftovers();
      const rest = run(this.cmd(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
      if (rest.length) run(this.cmd(["rm", "-f", ...rest]));
      const helpers = childPids(d.pid); // its containerd
      const exited = new Promise<void>((r) => d.once("exit", () => r()));
      process.kill(d.pid, "SIGTERM");
      const stopped = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
      if (!stopped) {
        process.kill(d.pid, "SIGKILL");
        await exited;
      }
      for (const pid of helpers) await stopPid(pid);
    }
    removeTree(this.dir);
    this.leftovers?.remove();
    this.cgroups?.remove();
    this.bridges?.remove();
    if (this.bridge && fs.existsSync(`/sys/class/net/${this.bridge}`)) run({ argv: ["ip", "link", "del", this.bridge] });
  }
}
