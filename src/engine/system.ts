// `system` verbs: info, version, df, prune, and reset (wipe this state root);
// check and repair live in check.ts, what works without a database in recovery.ts.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { SystemApi } from "../types/engine-api.ts";
import type { Ctx } from "./containers/context.ts";
import type { Containers } from "./containers/service.ts";
import { cgroupLayout, cgroupManager, cgroupParent, detectCgroupVersion } from "../cgroups/index.ts";
import { resolveRuntime } from "../runtime/probe.ts";
import { isolationStatus } from "./containers/runtime.ts";
import { dirSize } from "../snapshot/dir-size.ts";
import { unmountBelow } from "../snapshot/overlay.ts";
import { errorMessage } from "../util/errors.ts";
import { liveContainers, stopLive } from "./recovery.ts";
import { API_VERSION, VERSION } from "../types/version.ts";

export { API_VERSION, VERSION } from "../types/version.ts";

export class System implements SystemApi {
  constructor(
    private readonly ctx: Ctx,
    private readonly containers: Containers,
  ) {}

  async info(opts: { onSlowProbe?: (what: string) => void } = {}): Promise<Record<string, unknown>> {
    const list = await this.containers.list({ all: true });
    let runtime: { name: string; path: string } | { error: string };
    try {
      runtime = await resolveRuntime(this.ctx.paths);
    } catch (e) {
      runtime = { error: errorMessage(e) };
    }
    const isolation = await isolationStatus(this.ctx.paths, opts.onSlowProbe);
    return {
      ID: hostId(this.ctx),
      Containers: list.length,
      ContainersRunning: list.filter((c) => c.State === "running").length,
      ContainersPaused: list.filter((c) => c.State === "paused").length,
      ContainersStopped: list.filter((c) => c.State !== "running" && c.State !== "paused").length,
      Images: this.ctx.images.list({ all: true }).length,
      Driver: "overlay",
      DockerRootDir: this.ctx.paths.root,
      CgroupDriver: "cgroupfs",
      CgroupVersion: String(detectCgroupVersion()),
      CgroupLayout: cgroupLayout(),
      KernelVersion: os.release(),
      OperatingSystem: osName(),
      OSType: "linux",
      Architecture: os.machine(),
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      Name: os.hostname(),
      ServerVersion: VERSION,
      DefaultRuntime: "name" in runtime ? runtime.name : "",
      Runtimes: "name" in runtime ? { [runtime.name]: { path: runtime.path } } : {},
      RuntimeError: "error" in runtime ? runtime.error : undefined,
      Isolation: isolation,
      SecurityOptions: ["name=seccomp,profile=builtin"],
      LoggingDriver: "k8s-file",
      RunRoot: this.ctx.paths.runRoot,
    };
  }

  version(): Record<string, unknown> {
    return {
      Version: VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: "1.24",
      Os: "linux",
      Arch: process.arch === "x64" ? "amd64" : process.arch,
      KernelVersion: os.release(),
      NodeVersion: process.version,
    };
  }

  async df(): Promise<Record<string, unknown>> {
    const images = this.ctx.images.list({ all: true });
    const containers = this.ctx.store.list();
    const volumes = this.ctx.volumes.list();
    const usedImages = new Set(containers.map((c) => c.imageId));
    return {
      LayersSize: dirSize(this.ctx.paths.layers),
      Images: images.map((i) => ({ Id: i.id, RepoTags: i.repoTags, Size: i.size, Created: Math.floor(Date.parse(i.created) / 1000), Containers: containers.filter((c) => c.imageId === i.id).length, InUse: usedImages.has(i.id) })),
      Containers: containers.map((c) => ({ Id: c.id, Names: ["/" + c.name], Image: c.imageRef, State: c.state.Status, SizeRw: dirSize(path.join(this.ctx.paths.containers, c.id, "diff")) })),
      Volumes: volumes.map((v) => ({ Name: v.Name, Mountpoint: v.Mountpoint, UsageData: { Size: dirSize(v.Mountpoint), RefCount: this.ctx.volumes.usersOf(v.Name).length } })),
      BuildCache: [],
    };
  }

  async prune(opts: { all?: boolean; volumes?: boolean } = {}): Promise<Record<string, unknown>> {
    const containers = await this.containers.prune();
    const images = this.ctx.images.prune({ all: opts.all });
    const volumes = opts.volumes ? this.ctx.volumes.prune() : { VolumesDeleted: [], SpaceReclaimed: 0 };
    // As docker: unused user-defined networks go too (bridge, conflist, IPAM state, DNS server).
    const networks = await this.ctx.networks.prune();
    return { ContainersDeleted: containers.ContainersDeleted, NetworksDeleted: networks.NetworksDeleted, ImagesDeleted: images.ImagesDeleted, VolumesDeleted: volumes.VolumesDeleted, SpaceReclaimed: containers.SpaceReclaimed + images.SpaceReclaimed + volumes.SpaceReclaimed };
  }

  async reset(): Promise<void> {
    for (const c of this.ctx.store.list()) {
      await this.containers.remove(c.id, { force: true, volumes: true }).catch(() => undefined);
    }
    // What still runs without a record (a database set aside or rebuilt, a crashed create) is
    // found from the runtimes' own state and stopped before anything is unmounted below it.
    await stopLive(await liveContainers(this.ctx.paths));
    // Networks: endpoints left by a crash (veths, iptables rules, IPAM leases), namespaces, bridges.
    await this.ctx.networks.reset().catch(() => undefined);
    // Anything the records did not account for (a crashed create): unmount below the roots, deepest first.
    unmountBelow(this.ctx.paths.runRoot);
    unmountBelow(this.ctx.paths.root);
    cgroupManager().cleanup(cgroupParent(this.ctx.paths));
  }
}

function hostId(ctx: Ctx): string {
  const f = path.join(ctx.paths.root, "engine-id");
  try {
    return fs.readFileSync(f, "utf8").trim();
  } catch {
    const id = crypto.randomUUID();
    fs.mkdirSync(ctx.paths.root, { recursive: true });
    fs.writeFileSync(f, id);
    return id;
  }
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(fs.readFileSync("/etc/os-release", "utf8"));
    return m?.[1] ?? "Linux";
  } catch {
    return "Linux";
  }
}
