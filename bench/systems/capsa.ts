// capsa itself: the real CLI (bin/capsa → dist/cli.js) on a private state root.
// `new Capsa("sandbox")` is the system "capsa-sandbox": every run with
// --isolation sandbox (gVisor's runsc), on a state root of its own; likewise
// `new Capsa("vm")`, "capsa-vm", with --isolation vm.
import fs from "node:fs";
import path from "node:path";
import { firstLine, run, timedOk } from "../lib/proc.ts";
import { CgroupLeftovers, removeTree } from "../lib/fsutil.ts";
import { freeSubnets } from "../lib/net.ts";
import { DockerLikeCli } from "./oci-cli.ts";
import type { BenchContext, EngineService, SystemInfo } from "./system.ts";

const REPO = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(REPO, "bin", "capsa");

export class Capsa extends DockerLikeCli {
  readonly name: string;
  private root = "";
  /** The default bridge network's /24: one no route of this host touches. */
  private bridgeSubnet = "";
  private cgroups?: CgroupLeftovers;

  /** `isolation`: a level other than the default container, for every run. */
  constructor(private readonly isolation?: "sandbox" | "vm") {
    super();
    this.name = isolation ? `capsa-${isolation}` : "capsa";
  }

  check(): string | undefined {
    if (!fs.existsSync(path.join(REPO, "dist", "cli.js"))) return "dist/cli.js is missing: run `npm run build`";
    return undefined;
  }

  protected prefix(): string[] {
    return [CLI];
  }

  protected env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, CAPSA_ROOT: this.root, CAPSA_DEFAULT_BRIDGE_SUBNET: this.bridgeSubnet };
    delete env.CAPSA_RUNROOT;
    return env;
  }

  protected override runFlags(): string[] {
    return this.isolation ? ["--isolation", this.isolation] : [];
  }

  protected monitorNames(): RegExp {
    return /^conmon$/;
  }

  /** rmi, then a prune of what is left dangling, so no layer or blob of the image stays. */
  override async removeImage(ref: string): Promise<void> {
    await super.removeImage(ref);
    await timedOk(this.cmd(["image", "prune", "-f"]));
  }

  async setup(ctx: BenchContext): Promise<void> {
    this.ctx = ctx;
    this.root = path.join(ctx.dir, this.name);
    this.bridgeSubnet = freeSubnets(1)[0]!;
    fs.mkdirSync(this.root, { recursive: true });
    this.cgroups = new CgroupLeftovers(/^capsa/);
    await this.importAndProbe(ctx);
  }

  /** `capsa system service` on a socket in the bench's directory, same CAPSA_ROOT. */
  async startService(): Promise<EngineService> {
    if (!this.ctx) throw new Error(`${this.name}: not set up`);
    const socket = path.join(this.ctx.dir, `${this.name}-api.sock`);
    return this.spawnService([...this.prefix(), "system", "service", "-H", `unix://${socket}`], socket);
  }

  private infoJson(): Record<string, unknown> | undefined {
    const r = run(this.cmd(["info", "--format", "{{json .}}"]));
    if (r.status !== 0) return undefined;
    try {
      return JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  info(): SystemInfo {
    const i = this.infoJson();
    const runtime = typeof i?.DefaultRuntime === "string" ? i.DefaultRuntime : "?";
    const isolation = i?.Isolation as Record<string, string> | undefined;
    return {
      version: firstLine([...this.prefix(), "--version"], this.env()) ?? "?",
      runtime: this.isolation === "sandbox" ? "runsc" : this.isolation === "vm" ? "capsa-vm-runtime (QEMU microvm)" : runtime,
      notes: [`private CAPSA_ROOT; default bridge on ${this.bridgeSubnet}`, ...(this.isolation ? [`--isolation ${this.isolation}: ${isolation?.[this.isolation] ?? "?"}`] : [])],
    };
  }

  async cleanup(): Promise<void> {
    if (!this.root) return;
    this.removeLeftovers();
    run(this.cmd(["system", "reset", "--force"]));
    removeTree(this.root);
    // Cgroups of removed containers should be gone. Say so when they are not,
    // but leave them: other capsa processes on this host may be making theirs.
    const left = this.cgroups?.fresh() ?? [];
    if (left.length) this.ctx?.log(`capsa left ${left.length} cgroup(s) behind after its containers were removed, e.g. ${left[0]}`);
  }
}
