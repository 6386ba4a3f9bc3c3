// Docker-shaped views of container records: `inspect` and `ps` rows.
import { isolationOf } from "../../isolation/level.ts";
import { handlerFor } from "../../isolation/handlers.ts";
import path from "node:path";
import type { ContainerRecord } from "../../types/records.ts";
import type { ContainerInspect, ContainerSummary, MountPoint } from "../../types/views.ts";
import type { ListContainersOptions } from "../../types/engine-api.ts";
import { labelMatches } from "../../util/label-filter.ts";
import { type Ctx, containerDir, logPath } from "./context.ts";
import { overlaySnapshotter, rwLayerPaths } from "../../snapshot/overlay.ts";
import { humanDuration } from "../../util/duration.ts";
import { isLive } from "../../util/container-state.ts";

export function mountPoints(ctx: Ctx, c: ContainerRecord): MountPoint[] {
  const out: MountPoint[] = [];
  for (const b of c.hostConfig.Binds ?? []) {
    const [src = "", dst = "", mode = ""] = b.split(":");
    const isVolume = !src.startsWith("/");
    out.push({
      Type: isVolume ? "volume" : "bind",
      ...(isVolume ? { Name: src, Driver: "local" } : {}),
      Source: isVolume ? ctx.volumes.dataPath(src) : src,
      Destination: dst,
      Mode: mode,
      RW: !mode.split(",").includes("ro"),
      Propagation: isVolume ? "" : "rprivate",
    });
  }
  for (const m of c.hostConfig.Mounts ?? []) {
    out.push({
      Type: m.Type,
      ...(m.Type === "volume" ? { Name: m.Source ?? "", Driver: "local" } : {}),
      Source: m.Type === "volume" ? ctx.volumes.dataPath(m.Source ?? "") : (m.Source ?? ""),
      Destination: m.Target,
      Mode: "",
      RW: !m.ReadOnly,
      Propagation: m.Type === "bind" ? (m.BindOptions?.Propagation ?? "rprivate") : "",
    });
  }
  return out;
}

export function inspectView(ctx: Ctx, c: ContainerRecord): ContainerInspect {
  const args = [...(c.config.Entrypoint ?? []), ...(c.config.Cmd ?? [])];
  const dir = containerDir(ctx, c.id);
  const layer = rwLayerPaths(dir);
  const lowers = safeLayerDirs(ctx, c.imageId);
  return {
    Id: c.id,
    Created: c.created,
    Path: args[0] ?? "",
    Args: args.slice(1),
    State: c.state,
    Image: c.imageId,
    ResolvConfPath: path.join(dir, "resolv.conf"),
    HostnamePath: path.join(dir, "hostname"),
    HostsPath: path.join(dir, "hosts"),
    LogPath: logPath(ctx, c.id),
    Name: "/" + c.name,
    RestartCount: c.restartCount,
    Driver: "overlay",
    Platform: "linux",
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    ExecIDs: null,
    HostConfig: hostConfigView(c),
    GraphDriver: { Name: "overlay", Data: { LowerDir: lowers.join(":"), UpperDir: layer.upper, WorkDir: layer.work, MergedDir: layer.merged } },
    Mounts: mountPoints(ctx, c),
    Config: c.config,
    NetworkSettings: { Bridge: "", SandboxID: "", ...ctx.networks.settings(c) },
    Capsa: { Isolation: isolationOf(c.hostConfig), Runtime: runtimeName(c), MonitorPid: c.monitorPid, Bundle: dir },
  };
}

function safeLayerDirs(ctx: Ctx, imageId: string): string[] {
  try {
    return ctx.images.layerDirs(imageId);
  } catch {
    return [];
  }
}

/** docker's "Up 3 seconds", "Exited (0) 2 minutes ago", "Created". */
export function statusText(c: ContainerRecord, now = Date.now()): string {
  const s = c.state;
  if (s.Status === "restarting") return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
  if (s.Running) {
    const base = `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    if (s.Paused) return `${base} (Paused)`;
    if (s.Health && s.Health.Status !== "none") return `${base} (${s.Health.Status === "starting" ? "health: starting" : s.Health.Status})`;
    return base;
  }
  if (s.Status === "created") return "Created";
  if (s.Status === "dead") return "Dead";
  if (s.Status === "removing") return "Removal In Progress";
  return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
}


export function summaryView(ctx: Ctx, c: ContainerRecord): ContainerSummary {
  const args = [...(c.config.Entrypoint ?? []), ...(c.config.Cmd ?? [])];
  return {
    Id: c.id,
    Names: ["/" + c.name],
    Image: c.imageRef,
    ImageID: c.imageId,
    Command: args.join(" "),
    Created: Math.floor(Date.parse(c.created) / 1000),
    Ports: ctx.networks.summaryPorts(c),
    Labels: c.config.Labels ?? {},
    State: c.state.Status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.hostConfig.NetworkMode ?? "none" },
    NetworkSettings: { Networks: ctx.networks.settings(c).Networks },
    Mounts: mountPoints(ctx, c),
  };
}

/** docker's `size` answers: the writable layer's bytes, and those plus the image's. */
export function sizeView(ctx: Ctx, c: ContainerRecord): { SizeRw: number; SizeRootFs: number } {
  const rw = overlaySnapshotter.usage(containerDir(ctx, c.id));
  return { SizeRw: rw, SizeRootFs: rw + (ctx.images.tryResolve(c.imageId)?.size ?? 0) };
}

/** docker's ps filters: id, name, label, status, ancestor, exited, before, since, network. */
export function filterContainers(ctx: Ctx, list: ContainerRecord[], opts: ListContainersOptions): ContainerRecord[] {
  const f = opts.filters ?? {};
  let out = list;
  if (!opts.all && !f.status?.length) out = out.filter((c) => isLive(c.state));
  if (f.id?.length) out = out.filter((c) => f.id!.some((p) => c.id.startsWith(p)));
  if (f.name?.length) out = out.filter((c) => f.name!.some((n) => new RegExp(n.replace(/^\//, "")).test(c.name)));
  if (f.label?.length) out = out.filter((c) => f.label!.every((l) => labelMatches(c.config.Labels, l)));
  if (f.status?.length) out = out.filter((c) => f.status!.includes(c.state.Status));
  if (f.network?.length) out = out.filter((c) => f.network!.some((n) => ctx.networks.isOn(c, n)));
  if (f.exited?.length) out = out.filter((c) => c.state.Status === "exited" && f.exited!.includes(String(c.state.ExitCode)));
  if (f.ancestor?.length) {
    out = out.filter((c) =>
      f.ancestor!.some((a) => {
        if (c.imageRef === a || c.imageId === a || c.imageId.replace("sha256:", "").startsWith(a.replace("sha256:", ""))) return true;
        const img = ctx.images.tryResolve(a);
        return img?.id === c.imageId;
      }),
    );
  }
  for (const key of ["before", "since"] as const) {
    const ref = f[key]?.[0];
    if (!ref) continue;
    const pivot = ctx.store.get(ref);
    out = out.filter((c) => (key === "before" ? c.created < pivot.created : c.created > pivot.created));
  }
  if (opts.limit && opts.limit > 0) out = out.slice(0, opts.limit);
  return out;
}

/**
 * HostConfig as docker shows it: the runtime's name ("runc" where the probe has
 * not chosen yet, docker's default), Isolation as given when that was "default".
 */
function hostConfigView(c: ContainerRecord): ContainerRecord["hostConfig"] {
  const { CapsaIsolationGiven: given, ...hc } = c.hostConfig;
  const name = runtimeName(c);
  return { ...hc, Runtime: hc.Runtime || (name === "auto" ? "runc" : name), Isolation: given ?? hc.Isolation };
}

/** The runtime a container runs under: fixed by its level for sandbox and vm, else --runtime or the probe's choice ("auto"). */
function runtimeName(c: ContainerRecord): string {
  return handlerFor(c.hostConfig).runtimeName(c);
}
