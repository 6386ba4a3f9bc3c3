// Podman, configured only through files in the bench's own directory:
// CONTAINERS_CONF, --root and --runroot. The system's /etc/containers is not touched.
import fs from "node:fs";
import path from "node:path";
import { errorMessage } from "../lib/harness.ts";
import { firstLine, run, timedOk, which } from "../lib/proc.ts";
import { CgroupLeftovers, hardLimit, Leftovers, removeTree } from "../lib/fsutil.ts";
import { BridgeLeftovers, freeSubnets, hostAddress } from "../lib/net.ts";
import { DockerLikeCli } from "./oci-cli.ts";

/** The name of podman's default network in the bench's configuration. */
const DEFAULT_NET = "capsa-bench-default";
import type { BenchContext, EngineService, SystemInfo } from "./system.ts";

export class Podman extends DockerLikeCli {
  readonly name = "podman";
  private dir = "";
  private leftovers?: Leftovers;
  private cgroups?: CgroupLeftovers;
  private runtime = "?";
  private ulimits = "";
  private fallback?: string;
  private bridge = "";
  private subnet = "";
  private bridges?: BridgeLeftovers;

  check(): string | undefined {
    return which("podman") ? undefined : "podman is not installed";
  }

  protected prefix(): string[] {
    return ["podman", "--root", path.join(this.dir, "root"), "--runroot", path.join(this.dir, "run")];
  }

  protected env(): NodeJS.ProcessEnv {
    return { ...process.env, CONTAINERS_CONF: path.join(this.dir, "containers.conf") };
  }

  protected monitorNames(): RegExp {
    return /^conmon$/;
  }

  protected override pullFlags(): string[] {
    return ["--tls-verify=false"];
  }

  protected override forceRemoveArgs(name: string): string[] {
    return ["rm", "-f", "-t", "0", name]; // without -t 0, rm -f waits the 10 s stop timeout
  }

  async setup(ctx: BenchContext): Promise<void> {
    this.ctx = ctx;
    this.dir = path.join(ctx.dir, "podman");
    fs.mkdirSync(path.join(this.dir, "tmp"), { recursive: true });
    fs.mkdirSync(path.join(this.dir, "net"), { recursive: true });
    // Podman's blob-info cache and network lock directory ignore --root.
    this.leftovers = new Leftovers([
      "/var/lib/containers/cache/blob-info-cache-v1.boltdb",
      "/var/lib/containers/cache",
      "/var/lib/containers",
      "/run/containers/networks",
      "/run/containers",
    ]);
    this.cgroups = new CgroupLeftovers(/^libpod_parent$/);
    // Podman's default ulimits try to raise the limits, which fails here; and
    // even the current hard limits fail (podman lowers its own nproc). Ask for
    // modest values, never above the hard limits.
    const nofile = Math.min(20_000, hardLimit("Max open files") ?? Infinity);
    const nproc = Math.min(4096, hardLimit("Max processes") ?? Infinity);
    this.ulimits = `nofile=${nofile}:${nofile}, nproc=${nproc}:${nproc}`;
    const conf = (runtime?: string) =>
      fs.writeFileSync(
        path.join(this.dir, "containers.conf"),
        [
          "[containers]",
          `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]`,
          "[engine]",
          'cgroup_manager = "cgroupfs"',
          'events_logger = "file"',
          `events_logfile_path = "${path.join(this.dir, "events.log")}"`,
          `tmp_dir = "${path.join(this.dir, "tmp")}"`,
          ...(runtime ? [`runtime = "${runtime}"`] : []),
          "[network]",
          `network_config_dir = "${path.join(this.dir, "net")}"`,
          `default_network = "${DEFAULT_NET}"`,
          "",
        ].join("\n"),
      );
    conf();
    this.writeDefaultNetwork();
    try {
      await this.importAndProbe(ctx);
    } catch (e) {
      // Podman prefers crun, which refuses some hosts (cgroup v1 hybrid): fall back to runc.
      const chosen = firstLine([...this.prefix(), "info", "--format", "{{.Host.OCIRuntime.Name}}"], this.env());
      if (chosen === "runc" || !which("runc")) throw e;
      const msg = errorMessage(e).split("\n")[0]!;
      this.fallback = `${chosen ?? "its default runtime"} failed here (${msg.slice(msg.lastIndexOf("Error:")).slice(0, 160)}); runtime = "runc"`;
      ctx.log(`podman: ${this.fallback}`);
      conf("runc");
      await timedOk(this.runRm(["true"]));
    }
    this.runtime = firstLine([...this.prefix(), "info", "--format", "{{.Host.OCIRuntime.Name}}"], this.env()) ?? "?";
  }

  /**
   * The default network as a CNI conflist of our own, so its bridge (cbp<pid>)
   * and /24 are the bench's, not podman's shared cni-podman0 on 10.88.0.0/16.
   * Otherwise what podman would make: bridge with NAT, portmap, firewall.
   */
  private writeDefaultNetwork(): void {
    this.bridges = new BridgeLeftovers(/^cni-podman\d+$/);
    this.bridge = `cbp${process.pid}`;
    this.subnet = freeSubnets(1)[0]!;
    const conflist = {
      cniVersion: "0.4.0",
      name: DEFAULT_NET,
      plugins: [
        {
          type: "bridge",
          bridge: this.bridge,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: { type: "host-local", routes: [{ dst: "0.0.0.0/0" }], ranges: [[{ subnet: this.subnet, gateway: hostAddress(this.subnet, 1) }]] },
        },
        { type: "portmap", capabilities: { portMappings: true } },
        { type: "firewall" },
      ],
    };
    fs.writeFileSync(path.join(this.dir, "net", `${DEFAULT_NET}.conflist`), JSON.stringify(conflist, null, 2));
  }

  /** `podman system service` (no idle timeout) on a socket in its directory, same configuration, root and runroot. */
  async startService(): Promise<EngineService> {
    const socket = path.join(this.dir, "api.sock");
    return this.spawnService([...this.prefix(), "system", "service", "--time", "0", `unix://${socket}`], socket);
  }

  info(): SystemInfo {
    return {
      version: firstLine(["podman", "--version"]) ?? "?",
      runtime: this.runtime,
      notes: [`cgroupfs, file events, ulimits ${this.ulimits}, private --root/--runroot; default network: bridge ${this.bridge} on ${this.subnet} (CNI)`, ...(this.fallback ? [this.fallback] : [])],
    };
  }

  async cleanup(): Promise<void> {
    if (!this.dir) return;
    this.removeLeftovers();
    if (fs.existsSync(path.join(this.dir, "containers.conf"))) {
      // Lets podman unmount its storage (overlay, shm) before the tree is deleted.
      run(this.cmd(["rm", "-a", "-f", "-t", "0"]));
      run(this.cmd(["rmi", "-a", "-f"]));
    }
    removeTree(this.dir);
    this.leftovers?.remove();
    this.cgroups?.remove();
    this.bridges?.remove();
    if (this.bridge && fs.existsSync(`/sys/class/net/${this.bridge}`)) run({ argv: ["ip", "link", "del", this.bridge] });
  }
}
