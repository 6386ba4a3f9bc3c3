// `create`: resolve the image, fold its configuration into the container's
// (as docker does, so inspect shows what will run), and record the container.
// Nothing is mounted until start.
import crypto from "node:crypto";
import fs from "node:fs";
import type { ContainerConfig, ContainerRecord, CreateContainerOptions, HostConfig, ImageConfig } from "../../types/records.ts";
import { invalid } from "../../util/errors.ts";
import { shortId } from "../../util/ids.ts";
import { type Ctx, containerDir, containerEvent, ZERO_TIME, nowIso } from "./context.ts";
import { NAME_RE, randomName } from "./names.ts";
import { resolveIsolation } from "../../isolation/level.ts";
import { validateHealthcheck } from "./health.ts";
import { checkLogConfig } from "./log-config.ts";
import { parseSecurityOpts } from "../../runtime/security-opt.ts";
import { parseDeviceCgroupRules } from "../../runtime/devices.ts";
import { checkRuntimeName, SANDBOX_RUNTIME } from "../../runtime/container-handler.ts";
import { handlerFor } from "../../isolation/handlers.ts";
import { ANONYMOUS_LABEL } from "../volumes.ts";

export function mergeImageConfig(cfg: ContainerConfig, img: ImageConfig | undefined): ContainerConfig {
  const image = img ?? {};
  const envKeys = new Set((cfg.Env ?? []).map((e) => e.split("=")[0]));
  const env = [...(image.Env ?? []).filter((e) => !envKeys.has(e.split("=")[0])), ...(cfg.Env ?? [])];
  // An explicit entrypoint replaces the image's and, as in docker, drops the image's Cmd.
  const entrypointGiven = cfg.Entrypoint !== undefined && cfg.Entrypoint !== null;
  return {
    ...cfg,
    Hostname: cfg.Hostname ?? "",
    Domainname: cfg.Domainname ?? "",
    User: cfg.User ?? image.User ?? "",
    Env: env.length ? env : ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    Cmd: cfg.Cmd && cfg.Cmd.length ? cfg.Cmd : entrypointGiven ? null : (image.Cmd ?? null),
    Entrypoint: entrypointGiven ? (cfg.Entrypoint!.length ? cfg.Entrypoint : null) : (image.Entrypoint ?? null),
    WorkingDir: cfg.WorkingDir || image.WorkingDir || "",
    Labels: { ...(image.Labels ?? {}), ...(cfg.Labels ?? {}) },
    StopSignal: cfg.StopSignal ?? image.StopSignal ?? undefined,
    Healthcheck: cfg.Healthcheck ?? image.Healthcheck,
    ExposedPorts: { ...(image.ExposedPorts ?? {}), ...(cfg.ExposedPorts ?? {}) },
    Volumes: { ...(image.Volumes ?? {}), ...(cfg.Volumes ?? {}) },
    Tty: cfg.Tty ?? false,
    OpenStdin: cfg.OpenStdin ?? false,
    StdinOnce: cfg.StdinOnce ?? false,
    AttachStdin: cfg.AttachStdin ?? false,
    AttachStdout: cfg.AttachStdout ?? true,
    AttachStderr: cfg.AttachStderr ?? true,
  };
}

const RESTART_NAMES = new Set(["", "no", "always", "unless-stopped", "on-failure"]);

/** dockerd's checks of a restart policy (create and update). */
export function validateRestartPolicy(rp: NonNullable<HostConfig["RestartPolicy"]>): void {
  if (!RESTART_NAMES.has(rp.Name)) throw invalid(`invalid restart policy '${rp.Name}'`);
  if (rp.MaximumRetryCount && rp.Name !== "on-failure") throw invalid(`maximum retry count cannot be used with restart policy '${rp.Name}'`);
  if ((rp.MaximumRetryCount ?? 0) < 0) throw invalid("maximum retry count cannot be negative");
}

export function validateHostConfig(h: HostConfig): void {
  const rp = h.RestartPolicy;
  if (rp) {
    validateRestartPolicy(rp);
    if (h.AutoRemove && rp.Name && rp.Name !== "no") throw invalid("can't create 'AutoRemove' container with restart policy");
  }
  if (h.Memory !== undefined && h.Memory !== 0 && h.Memory < 6 * 1024 * 1024) throw invalid("Minimum memory limit allowed is 6MB");
  if (h.MemorySwap !== undefined && h.MemorySwap > 0 && h.Memory && h.MemorySwap < h.Memory) {
    throw invalid("Minimum memoryswap limit should be larger than memory limit, see usage");
  }
  if (h.NanoCpus !== undefined && h.NanoCpus < 0) throw invalid("Range of CPUs is from 0.01 to the number of CPUs available");
  if (h.PidsLimit !== undefined && h.PidsLimit < -1) throw invalid("invalid PIDs limit");
  if (h.NetworkMode === "private") h.NetworkMode = "none";
}

export async function createContainer(ctx: Ctx, opts: CreateContainerOptions): Promise<{ Id: string; Warnings: string[] }> {
  const image = ctx.images.resolve(opts.config.Image);
  const hostConfig: HostConfig = { ...opts.hostConfig };
  // As docker: no mode (or "default") is the default bridge network.
  if (!hostConfig.NetworkMode || hostConfig.NetworkMode === "default") hostConfig.NetworkMode = "bridge";
  // A runtime is a name capsa knows, never a path (dockerd's rule); runsc is the sandbox level.
  if (hostConfig.Runtime === SANDBOX_RUNTIME) {
    const level = hostConfig.Isolation;
    if (level && level !== "default" && level !== "sandbox") throw invalid(`--runtime ${SANDBOX_RUNTIME} is the sandbox isolation level; it cannot run with --isolation ${level}`);
    hostConfig.Isolation = "sandbox";
  } else if (hostConfig.Runtime) checkRuntimeName(hostConfig.Runtime);
  // The level is fixed at create, so a later change of the default does not move existing containers.
  // docker echoes "default" in inspect as given: kept beside the level it resolved to.
  if (hostConfig.Isolation?.toLowerCase() === "default") hostConfig.CapsaIsolationGiven = hostConfig.Isolation;
  else delete hostConfig.CapsaIsolationGiven;
  hostConfig.Isolation = resolveIsolation(hostConfig.Isolation);
  // Bad security options fail here, before anything exists, rather than at start.
  parseSecurityOpts(hostConfig.SecurityOpt);
  validateHostConfig(hostConfig);
  const warnings = checkLogConfig(hostConfig.LogConfig);
  // dockerd fills in its default driver and keeps the options as given (inspect shows both).
  if (hostConfig.LogConfig) hostConfig.LogConfig = { Type: hostConfig.LogConfig.Type || "json-file", Config: hostConfig.LogConfig.Config ?? {} };
  parseDeviceCgroupRules(hostConfig.DeviceCgroupRules);
  await handlerFor(hostConfig).validate?.(hostConfig);
  if (opts.name !== undefined && !NAME_RE.test(opts.name)) {
    throw invalid(`Invalid container name (${opts.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  const id = crypto.randomBytes(32).toString("hex");
  const config = mergeImageConfig(opts.config, image.config.config);
  validateHealthcheck(config.Healthcheck);
  if (hostConfig.NetworkMode?.startsWith("container:")) {
    // docker resolves the name to the id, so a rename of the other container does not break this one.
    const other = ctx.store.find(hostConfig.NetworkMode.slice("container:".length));
    if (other) hostConfig.NetworkMode = `container:${other.id}`;
  }
  materialiseAnonymousVolumes(ctx, config, hostConfig);
  config.Image = opts.config.Image;
  if (!config.Hostname) config.Hostname = hostConfig.NetworkMode === "host" ? "" : shortId(id);
  const name = opts.name?.replace(/^\//, "") ?? randomName((n) => ctx.store.find(n) !== undefined);
  const rec: ContainerRecord = {
    id,
    name,
    imageId: image.id,
    imageRef: opts.config.Image,
    created: nowIso(),
    config,
    hostConfig,
    state: {
      Status: "created",
      Running: false,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: 0,
      ExitCode: 0,
      Error: "",
      StartedAt: ZERO_TIME,
      FinishedAt: ZERO_TIME,
    },
    restartCount: 0,
    stoppedByUser: false,
    monitorPid: 0,
    runtime: hostConfig.Runtime ?? "",
  };
  const dir = containerDir(ctx, id);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    ctx.store.insert(rec);
    try {
      ctx.networks.register(id, hostConfig, opts.networkingConfig?.EndpointsConfig);
    } catch (e) {
      ctx.store.delete(id);
      ctx.networks.forget(id);
      throw e;
    }
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    for (const m of hostConfig.Mounts ?? []) {
      if (m.VolumeOptions?.Labels?.[ANONYMOUS_LABEL] === "true" && m.Source) ctx.volumes.remove(m.Source, { force: true });
    }
    throw e;
  }
  containerEvent(ctx, rec, "create");
  return { Id: id, Warnings: warnings };
}

export { ANONYMOUS_LABEL };

/**
 * Anonymous volumes (`-v /data`, a volume mount without a source, the image's
 * VOLUME entries) become named volumes at create time, as in docker, so a
 * restarted container finds the same data and `rm -v` knows what to delete.
 */
function materialiseAnonymousVolumes(ctx: Ctx, config: ContainerConfig, h: HostConfig): void {
  const targets = new Set<string>();
  const binds: string[] = [];
  const mounts = [...(h.Mounts ?? [])];
  const anon = (target: string): void => {
    const v = ctx.volumes.create({ labels: { [ANONYMOUS_LABEL]: "true" } });
    mounts.push({ Type: "volume", Source: v.Name, Target: target, VolumeOptions: { Labels: { [ANONYMOUS_LABEL]: "true" } } });
    targets.add(target);
  };
  for (const b of h.Binds ?? []) {
    const parts = b.split(":");
    if (parts.length === 1 && parts[0]!.startsWith("/")) anon(parts[0]!);
    else {
      binds.push(b);
      if (parts[1]) targets.add(parts[1]);
    }
  }
  for (let i = 0; i < mounts.length; i++) {
    const m = mounts[i]!;
    if (m.Type === "volume" && !m.Source) {
      mounts.splice(i--, 1);
      anon(m.Target);
    } else targets.add(m.Target);
  }
  for (const t of Object.keys(h.Tmpfs ?? {})) targets.add(t);
  for (const target of Object.keys(config.Volumes ?? {})) {
    if (!targets.has(target)) anon(target);
  }
  if (h.Binds) h.Binds = binds;
  if (mounts.length) h.Mounts = mounts;
}
