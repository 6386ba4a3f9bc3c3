// `run` and `create` flags → CreateContainerOptions (docker's Config + HostConfig).
// Pure: the environment, the working directory and file reading come in through
// ParseContext, so every flag is unit-tested without touching the machine.
import path from "node:path";
import type { Command } from "commander";
import type { ContainerConfig, CreateContainerOptions, HealthConfig, HostConfig, MountSpec, RestartPolicy } from "../types/records.ts";
import { flagName, intFlag, newCommand, parseArgs, repeatable, UsageError } from "./command.ts";
import { parseGoDuration } from "../util/duration.ts";
import { parseDevice, parseUlimit } from "../util/ulimit-device-specs.ts";
import { parseRamBytes } from "./units.ts";

/** Fields docker's API has that the engine contract does not (yet); see docs/cli.md. */
export interface PortBinding {
  HostIp: string;
  HostPort: string;
}
export interface HostConfigExtra {
  PortBindings?: Record<string, PortBinding[]>;
  PublishAllPorts?: boolean;
  Isolation?: string;
  DnsOptions?: string[];
}
export interface EndpointSettings {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string };
  Aliases?: string[];
  MacAddress?: string;
}
export interface CliCreateOptions extends CreateContainerOptions {
  config: ContainerConfig & { Image: string; MacAddress?: string; Domainname?: string };
  hostConfig: HostConfig & HostConfigExtra;
  networkingConfig?: { EndpointsConfig: Record<string, EndpointSettings> };
}

export interface RunFlags {
  create: CliCreateOptions;
  detach: boolean;
  interactive: boolean;
  tty: boolean;
  /** docker's --sig-proxy (default true): forward SIGINT/SIGTERM to the container. */
  sigProxy: boolean;
  /** docker's --detach-keys (run only): the sequence that leaves an attached session. */
  detachKeys?: string;
  pull: "missing" | "always" | "never";
  platform?: string;
  /** Printed to stderr as "WARNING: …" before running. */
  warnings: string[];
}

export interface ParseContext {
  env: Record<string, string | undefined>;
  cwd: string;
  readFile(file: string): string;
}

const DESCRIPTIONS = {
  run: "Create and run a new container from an image",
  create: "Create a new container",
};

/** The commander definition of run/create (also what `--help` prints). */
export function containerFlagsCommand(verb: "run" | "create"): Command {
  const cmd = newCommand(verb, "[OPTIONS] IMAGE [COMMAND] [ARG...]", DESCRIPTIONS[verb]);
  const rep = (flags: string, d: string): Command => repeatable(cmd, flags, d);
  cmd
    .option("--name <string>", "Assign a name to the container")
    .option("-i, --interactive", "Keep STDIN open even if not attached")
    .option("-t, --tty", "Allocate a pseudo-TTY")
    .option("--rm", "Automatically remove the container when it exits")
    .option("-w, --workdir <string>", "Working directory inside the container")
    .option("-u, --user <string>", "Username or UID (format: <name|uid>[:<group|gid>])")
    .option("--entrypoint <string>", "Overwrite the default ENTRYPOINT of the image")
    .option("-h, --hostname <string>", "Container host name")
    .option("--domainname <string>", "Container NIS domain name")
    .option("--read-only", "Mount the container's root filesystem as read only")
    .option("-m, --memory <bytes>", "Memory limit")
    .option("--memory-swap <bytes>", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option("--cpus <decimal>", "Number of CPUs")
    .option("-c, --cpu-shares <int>", "CPU shares (relative weight)")
    .option("--cpu-period <int>", "Limit CPU CFS period")
    .option("--cpu-quota <int>", "Limit CPU CFS quota")
    .option("--cpuset-cpus <string>", "CPUs in which to allow execution (0-3, 0,1)")
    .option("--cpuset-mems <string>", "MEMs in which to allow execution (0-3, 0,1)")
    .option("--pids-limit <int>", "Tune container pids limit (set -1 for unlimited)")
    .option("--oom-kill-disable", "Disable OOM Killer")
    .option("--privileged", "Give extended privileges to this container")
    .option("--restart <string>", "Restart policy to apply when a container exits", "no")
    .option("--stop-signal <string>", "Signal to stop the container")
    .option("--stop-timeout <int>", "Timeout (in seconds) to stop a container")
    .option("--init", "Run an init inside the container that forwards signals and reaps processes")
    .option("--shm-size <bytes>", "Size of /dev/shm")
    .option("--log-driver <string>", "Logging driver for the container (json-file, k8s-file, local, none)")
    .option("--health-cmd <string>", "Command to run to check health")
    .option("--health-interval <duration>", "Time between running the check (ms|s|m|h)")
    .option("--health-timeout <duration>", "Maximum time to allow one check to run (ms|s|m|h)")
    .option("--health-start-period <duration>", "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)")
    .option("--health-retries <int>", "Consecutive failures needed to report unhealthy")
    .option("--no-healthcheck", "Disable any container-specified HEALTHCHECK")
    .option("--runtime <string>", "Runtime to use for this container")
    .option("--net, --network <string>", "Connect a container to a network (none, host, bridge, NAME, container:NAME)")
    .option("-P, --publish-all", "Publish all exposed ports to random ports")
    .option("--ip <string>", "IPv4 address (e.g., 172.30.100.104)")
    .option("--ip6 <string>", "IPv6 address")
    .option("--mac-address <string>", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
    .option("--isolation <string>", "Container isolation technology (container, sandbox, vm)")
    .option("--pull <string>", 'Pull image before running ("always", "missing", "never")', "missing")
    .option("--platform <string>", "Set platform if server is multi-platform capable");
  if (verb === "run") {
    cmd.option("-d, --detach", "Run container in background and print container ID");
    cmd.option("--sig-proxy", "Proxy received signals to the process (default true)").option("--no-sig-proxy", "Do not proxy signals");
    cmd.option("--detach-keys <string>", "Override the key sequence for detaching a container");
  }
  rep("-e, --env <list>", "Set environment variables");
  rep("--env-file <list>", "Read in a file of environment variables");
  rep("-v, --volume <list>", "Bind mount a volume");
  rep("--mount <mount>", "Attach a filesystem mount to the container");
  rep("--tmpfs <list>", "Mount a tmpfs directory");
  rep("--cap-add <list>", "Add Linux capabilities");
  rep("--cap-drop <list>", "Drop Linux capabilities");
  rep("--security-opt <list>", "Security Options");
  rep("--ulimit <ulimit>", "Ulimit options");
  rep("-l, --label <list>", "Set meta data on a container");
  rep("--label-file <list>", "Read in a line delimited file of labels");
  rep("--annotation <list>", "Add an annotation to the container (passed through to the OCI runtime)");
  rep("--group-add <list>", "Add additional groups to join");
  rep("--sysctl <map>", "Sysctl options");
  rep("--device <list>", "Add a host device to the container");
  rep("--log-opt <list>", "Log driver options");
  rep("-p, --publish <list>", "Publish a container's port(s) to the host");
  rep("--expose <list>", "Expose a port or a range of ports");
  rep("--dns <list>", "Set custom DNS servers");
  rep("--dns-search <list>", "Set custom DNS search domains");
  rep("--dns-option <list>", "Set DNS options");
  rep("--add-host <list>", "Add a custom host-to-IP mapping (host:ip)");
  rep("--network-alias <list>", "Add network-scoped alias for the container");
  return cmd;
}

interface RawOpts {
  name?: string;
  detachKeys?: string;
  interactive?: boolean;
  tty?: boolean;
  detach?: boolean;
  rm?: boolean;
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  domainname?: string;
  readOnly?: boolean;
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: string;
  oomKillDisable?: boolean;
  privileged?: boolean;
  restart: string;
  stopSignal?: string;
  stopTimeout?: string;
  init?: boolean;
  shmSize?: string;
  logDriver?: string;
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthStartPeriod?: string;
  healthRetries?: string;
  healthcheck?: boolean;
  runtime?: string;
  network?: string;
  publishAll?: boolean;
  ip?: string;
  ip6?: string;
  macAddress?: string;
  isolation?: string;
  pull: string;
  platform?: string;
  sigProxy?: boolean;
  env?: string[];
  envFile?: string[];
  volume?: string[];
  mount?: string[];
  tmpfs?: string[];
  capAdd?: string[];
  capDrop?: string[];
  securityOpt?: string[];
  ulimit?: string[];
  label?: string[];
  labelFile?: string[];
  annotation?: string[];
  groupAdd?: string[];
  sysctl?: string[];
  device?: string[];
  logOpt?: string[];
  publish?: string[];
  expose?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  addHost?: string[];
  networkAlias?: string[];
}

/**
 * Parses `capsa run|create` arguments (everything after the verb). Flags stop at
 * the image name; what follows is the command. Throws UsageError (exit 125) with
 * docker's wording, or HelpRequested.
 */
export function parseRunArgs(args: string[], verb: "run" | "create", ctx: ParseContext): RunFlags {
  const cmd = containerFlagsCommand(verb);
  const parsed = parseArgs(cmd, verb, args, true);
  if (parsed.args.length === 0) throw new UsageError(verb, `"capsa ${verb}" requires at least 1 argument.`, 1);
  const [image, ...command] = parsed.args as [string, ...string[]];
  return flagsToOptions(cmd, verb, parsed.opts as unknown as RawOpts, image, command, ctx);
}

function invalidArg(cmd: Command, verb: string, long: string, value: string, why: string): UsageError {
  return new UsageError(verb, `invalid argument "${value}" for "${flagName(cmd, long)}" flag: ${why}`);
}

/** Checks a reference the way docker's reference.ParseNormalizedNamed accepts it. */
export function validReference(ref: string): boolean {
  if (/^(sha256:)?[0-9a-f]{64}$/.test(ref) || /^[0-9a-f]{12,64}$/.test(ref)) return true;
  const m = /^((?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/.exec(ref);
  return !!m && (m[1]?.length ?? 0) <= 255;
}

function flagsToOptions(cmd: Command, verb: "run" | "create", o: RawOpts, image: string, command: string[], ctx: ParseContext): RunFlags {
  const fail = (msg: string): UsageError => new UsageError(verb, msg);
  const bad = (long: string, value: string, why: string): UsageError => invalidArg(cmd, verb, long, value, why);
  const int = (long: string, v: string | undefined): number | undefined => intFlag(cmd, verb, long, v);
  const size = (long: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    try {
      return parseRamBytes(v);
    } catch (e) {
      throw bad(long, v, (e as Error).message);
    }
  };
  const duration = (long: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    let ns: number;
    try {
      ns = parseGoDuration(v);
    } catch (e) {
      throw bad(long, v, (e as Error).message);
    }
    if (ns < 0) throw fail(`--${long} cannot be negative`);
    return ns;
  };
  const keyValues = (long: string, list: string[] | undefined, requireEq: boolean): Record<string, string> | undefined => {
    if (!list) return undefined;
    const out: Record<string, string> = {};
    for (const item of list) {
      const eq = item.indexOf("=");
      if (eq <= 0 && requireEq) throw bad(long, item, `${long === "sysctl" ? "sysctl" : long} '${item}' is not allowed`);
      if (eq < 0) out[item] = "";
      else out[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return out;
  };

  if (!validReference(image)) throw fail("invalid reference format");
  if (o.name !== undefined && !/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(o.name)) {
    throw fail(`Invalid container name (${o.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }

  const warnings: string[] = [];
  const detach = o.detach ?? false;
  const interactive = o.interactive ?? false;
  const tty = o.tty ?? false;

  const config: CliCreateOptions["config"] = { Image: image };
  const hostConfig: CliCreateOptions["hostConfig"] = {};

  // -- process
  if (command.length > 0) config.Cmd = command;
  if (o.entrypoint !== undefined) config.Entrypoint = [o.entrypoint]; // "" clears it: docker sends [""]
  if (o.workdir !== undefined) {
    if (!o.workdir.startsWith("/")) throw fail(`the working directory '${o.workdir}' is invalid, it needs to be an absolute path`);
    config.WorkingDir = o.workdir;
  }
  if (o.user !== undefined) config.User = o.user;
  if (o.hostname !== undefined) config.Hostname = o.hostname;
  if (o.domainname !== undefined) config.Domainname = o.domainname;
  config.AttachStdin = interactive;
  config.AttachStdout = !detach;
  config.AttachStderr = !detach;
  config.Tty = tty;
  config.OpenStdin = interactive;
  config.StdinOnce = interactive && !detach;

  const env = [...parseEnvFiles(o.envFile ?? [], ctx, fail), ...(o.env ?? []).flatMap((e) => envEntry(e, ctx, fail))];
  if (env.length > 0) config.Env = env;

  const labels = { ...parseLabelFiles(o.labelFile ?? [], ctx, fail), ...keyValues("label", o.label, false) };
  if (Object.keys(labels).length > 0) config.Labels = labels;
  if (o.stopSignal !== undefined) config.StopSignal = o.stopSignal;
  if (o.stopTimeout !== undefined) config.StopTimeout = int("stop-timeout", o.stopTimeout);

  // -- health
  const health: HealthConfig = {};
  const anyHealth = [o.healthCmd, o.healthInterval, o.healthTimeout, o.healthStartPeriod, o.healthRetries].some((x) => x !== undefined);
  if (o.healthcheck === false) {
    if (anyHealth) throw fail("--no-healthcheck conflicts with --health-* options");
    config.Healthcheck = { Test: ["NONE"] };
  } else if (anyHealth) {
    if (o.healthCmd !== undefined) health.Test = o.healthCmd === "" ? [] : ["CMD-SHELL", o.healthCmd];
    const iv = duration("health-interval", o.healthInterval);
    const to = duration("health-timeout", o.healthTimeout);
    const sp = duration("health-start-period", o.healthStartPeriod);
    if (iv !== undefined) health.Interval = iv;
    if (to !== undefined) health.Timeout = to;
    if (sp !== undefined) health.StartPeriod = sp;
    const retries = int("health-retries", o.healthRetries);
    if (retries !== undefined) {
      if (retries < 0) throw fail("--health-retries cannot be negative");
      health.Retries = retries;
    }
    config.Healthcheck = health;
  }

  // -- storage
  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const spec of o.volume ?? []) {
    const v = parseVolumeSpec(spec, ctx.cwd);
    if (typeof v === "string") throw bad("volume", spec, v);
    if ("bind" in v) binds.push(v.bind);
    else volumes[v.anonymous] = {};
  }
  if (binds.length > 0) hostConfig.Binds = binds;
  if (Object.keys(volumes).length > 0) config.Volumes = volumes;
  const mounts = (o.mount ?? []).map((m) => {
    const r = parseMountSpec(m, ctx.cwd);
    if (typeof r === "string") throw bad("mount", m, r);
    return r;
  });
  if (mounts.length > 0) hostConfig.Mounts = mounts;
  if (o.tmpfs) {
    hostConfig.Tmpfs = {};
    for (const t of o.tmpfs) {
      const colon = t.indexOf(":");
      const dst = colon >= 0 ? t.slice(0, colon) : t;
      if (!dst.startsWith("/")) throw bad("tmpfs", t, `invalid mount path: '${dst}' mount path must be absolute`);
      hostConfig.Tmpfs[dst] = colon >= 0 ? t.slice(colon + 1) : "";
    }
  }
  if (o.readOnly) hostConfig.ReadonlyRootfs = true;

  // -- resources
  const memory = size("memory", o.memory);
  if (memory !== undefined) {
    if (memory > 0 && memory < 6 * 1024 * 1024) throw fail("Minimum memory limit allowed is 6MB");
    hostConfig.Memory = memory;
  }
  if (o.memorySwap !== undefined) hostConfig.MemorySwap = o.memorySwap === "-1" ? -1 : size("memory-swap", o.memorySwap);
  if (o.cpus !== undefined) {
    if (!/^\d*\.?\d+$/.test(o.cpus)) throw bad("cpus", o.cpus, `failed to parse ${o.cpus} as a rational number`);
    hostConfig.NanoCpus = Math.round(Number(o.cpus) * 1e9);
  }
  const shares = int("cpu-shares", o.cpuShares);
  if (shares !== undefined) hostConfig.CpuShares = shares;
  const period = int("cpu-period", o.cpuPeriod);
  if (period !== undefined) hostConfig.CpuPeriod = period;
  const quota = int("cpu-quota", o.cpuQuota);
  if (quota !== undefined) hostConfig.CpuQuota = quota;
  if (hostConfig.NanoCpus !== undefined && (period !== undefined || quota !== undefined)) {
    throw fail("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  }
  if (o.cpusetCpus !== undefined) hostConfig.CpusetCpus = o.cpusetCpus;
  if (o.cpusetMems !== undefined) hostConfig.CpusetMems = o.cpusetMems;
  const pids = int("pids-limit", o.pidsLimit);
  if (pids !== undefined) hostConfig.PidsLimit = pids;
  if (o.oomKillDisable) hostConfig.OomKillDisable = true;
  const shm = size("shm-size", o.shmSize);
  if (shm !== undefined) hostConfig.ShmSize = shm;
  if (o.ulimit) hostConfig.Ulimits = o.ulimit.map((u) => parseUlimit(u, (why) => bad("ulimit", u, why)));

  // -- security
  if (o.privileged) hostConfig.Privileged = true;
  if (o.capAdd) hostConfig.CapAdd = o.capAdd.map(normalizeCap);
  if (o.capDrop) hostConfig.CapDrop = o.capDrop.map(normalizeCap);
  if (o.securityOpt) hostConfig.SecurityOpt = o.securityOpt;
  if (o.groupAdd) hostConfig.GroupAdd = o.groupAdd;
  const sysctls = keyValues("sysctl", o.sysctl, true);
  if (sysctls) hostConfig.Sysctls = sysctls;
  if (o.device) hostConfig.Devices = o.device.map((d) => parseDevice(d, (why) => bad("device", d, why)));
  const annotations = keyValues("annotation", o.annotation, true);
  if (annotations) hostConfig.Annotations = annotations;
  if (o.init) hostConfig.Init = true;
  if (o.runtime !== undefined) hostConfig.Runtime = o.runtime;
  if (o.isolation !== undefined) {
    if (!["container", "sandbox", "vm", "default"].includes(o.isolation)) {
      throw fail(`invalid isolation: ${o.isolation} (use container, sandbox or vm)`);
    }
    hostConfig.Isolation = o.isolation;
  }

  // -- lifecycle
  const restart = parseRestartPolicy(o.restart, fail);
  if (o.restart !== "no" || restart.Name !== "no") hostConfig.RestartPolicy = restart;
  if (o.rm) {
    if (restart.Name !== "no" && restart.Name !== "") throw fail("Conflicting options: --restart and --rm");
    hostConfig.AutoRemove = true;
  }

  // -- logging
  if (o.logDriver !== undefined || o.logOpt) {
    // Drivers and options are the engine's to check (log-config.ts), for the API alike.
    const type = o.logDriver ?? "json-file";
    hostConfig.LogConfig = { Type: type, Config: keyValues("log-opt", o.logOpt, true) ?? {} };
  }

  // -- network
  if (o.network !== undefined) hostConfig.NetworkMode = o.network;
  const exposed: Record<string, object> = {};
  for (const e of o.expose ?? []) {
    const r = parsePortRange(e.includes("/") ? e : e + "/tcp");
    if (!r) throw bad("expose", e, `invalid range format for --expose: ${e}`);
    for (let p = r.start; p <= r.end; p++) exposed[`${p}/${r.proto}`] = {};
  }
  if (o.publish) {
    const bindings: Record<string, PortBinding[]> = {};
    for (const spec of o.publish) {
      const r = parsePublish(spec);
      if (typeof r === "string") throw bad("publish", spec, r);
      for (const [port, b] of r) {
        exposed[port] = {};
        (bindings[port] ??= []).push(b);
      }
    }
    hostConfig.PortBindings = bindings;
  }
  if (Object.keys(exposed).length > 0) config.ExposedPorts = exposed;
  if (o.publishAll) hostConfig.PublishAllPorts = true;
  if (o.dns) hostConfig.Dns = o.dns;
  if (o.dnsSearch) hostConfig.DnsSearch = o.dnsSearch;
  if (o.dnsOption) hostConfig.DnsOptions = o.dnsOption;
  if (o.addHost) {
    hostConfig.ExtraHosts = o.addHost.map((h) => {
      const m = /^([^:=]+)[:=](.+)$/.exec(h);
      if (!m) throw bad("add-host", h, `bad format for add-host: "${h}"`);
      return `${m[1]}:${m[2]}`;
    });
  }
  if (o.macAddress !== undefined && !/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(o.macAddress)) {
    throw fail(`${o.macAddress} is not a valid mac address`);
  }
  if (o.ip !== undefined && !/^(\d{1,3}\.){3}\d{1,3}$/.test(o.ip)) throw bad("ip", o.ip, `invalid IPv4 address: ${o.ip}`);
  if (o.ip !== undefined || o.ip6 !== undefined || o.networkAlias || o.macAddress !== undefined) {
    const ep: EndpointSettings = {};
    if (o.ip !== undefined || o.ip6 !== undefined) {
      ep.IPAMConfig = {};
      if (o.ip !== undefined) ep.IPAMConfig.IPv4Address = o.ip;
      if (o.ip6 !== undefined) ep.IPAMConfig.IPv6Address = o.ip6;
    }
    if (o.networkAlias) ep.Aliases = o.networkAlias;
    if (o.macAddress !== undefined) {
      ep.MacAddress = o.macAddress;
      config.MacAddress = o.macAddress;
    }
    const net = o.network ?? "bridge";
    if ((o.ip !== undefined || o.networkAlias) && (net === "host" || net === "none" || net.startsWith("container:"))) {
      throw fail(`network-scoped aliases and static IPs are only supported for user-defined networks and bridge, not "${net}"`);
    }
    return finish({ [net]: ep });
  }
  return finish(undefined);

  function finish(endpoints: Record<string, EndpointSettings> | undefined): RunFlags {
    // -- pull and platform: the image is pulled before create (run.ts: ensureImage)
    if (!["missing", "always", "never"].includes(o.pull)) throw bad("pull", o.pull, `invalid pull option: '${o.pull}': must be one of "always", "missing" or "never"`);
    if (o.platform !== undefined && !["linux/amd64", "linux/x86_64", "amd64", "linux"].includes(o.platform)) {
      throw fail(`image platform (${o.platform}) is not supported: capsa runs linux/amd64 images only`);
    }
    const create: CliCreateOptions = { config, hostConfig };
    if (o.name !== undefined) create.name = o.name.replace(/^\//, "");
    if (endpoints) create.networkingConfig = { EndpointsConfig: endpoints };
    const r: RunFlags = {
      create,
      detach,
      interactive,
      tty,
      sigProxy: o.sigProxy !== false,
      pull: o.pull as RunFlags["pull"],
      warnings,
    };
    if (o.platform !== undefined) r.platform = o.platform;
    if (o.detachKeys !== undefined) r.detachKeys = o.detachKeys;
    return r;
  }
}

// ---------- the pieces, exported for tests and for exec ----------

/** One -e value: "K=V" as is; a bare "K" takes the value from the environment (dropped when unset). */
export function envEntry(e: string, ctx: ParseContext, fail: (m: string) => Error): string[] {
  const eq = e.indexOf("=");
  const name = eq >= 0 ? e.slice(0, eq) : e;
  if (name === "") throw fail(`invalid environment variable: ${e}`);
  if (eq >= 0) return [e];
  if (/\s/.test(name)) throw fail(`poorly formatted environment: variable '${name}' contains whitespaces`);
  const v = ctx.env[name];
  return v === undefined ? [] : [`${name}=${v}`];
}

/** docker's --env-file: one K=V or bare K per line, # comments and blank lines skipped, no quote processing. */
export function parseEnvFiles(files: string[], ctx: ParseContext, fail: (m: string) => Error): string[] {
  const out: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = ctx.readFile(f);
    } catch (e) {
      throw fail(`open ${f}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`);
    }
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/^\s+/, "");
      if (line === "" || line.startsWith("#")) continue;
      out.push(...envEntry(line, ctx, fail));
    }
  }
  return out;
}

function parseLabelFiles(files: string[], ctx: ParseContext, fail: (m: string) => Error): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files) {
    let text: string;
    try {
      text = ctx.readFile(f);
    } catch {
      throw fail(`open ${f}: no such file or directory`);
    }
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const eq = line.indexOf("=");
      if (eq < 0) out[line] = "";
      else out[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return out;
}

/** -v: "/ctr" (anonymous volume), "name:/ctr[:opts]" or "/host:/ctr[:opts]" (relative host paths made absolute). */
export function parseVolumeSpec(spec: string, cwd: string): { anonymous: string } | { bind: string } | string {
  const parts = spec.split(":");
  if (parts.length === 1) {
    if (!spec.startsWith("/")) return `invalid volume specification: '${spec}': invalid mount config for type "volume": invalid mount path: '${spec}' mount path must be absolute`;
    return { anonymous: spec };
  }
  if (parts.length > 3 || parts.some((p, i) => p === "" && i < 2)) return `invalid volume specification: '${spec}'`;
  const [, dst = "", mode] = parts;
  let src = parts[0] ?? "";
  if (!dst.startsWith("/")) {
    return `invalid volume specification: '${spec}': invalid mount config for type "bind": invalid mount path: '${dst}' mount path must be absolute`;
  }
  if (mode !== undefined) {
    const known = /^(ro|rw|z|Z|nocopy|private|rprivate|shared|rshared|slave|rslave|O|U|exec|noexec|suid|nosuid|dev|nodev)$/;
    if (mode.split(",").some((m) => !known.test(m))) return `invalid volume specification: '${spec}': invalid mode: ${mode}`;
  }
  if (src.startsWith(".") || src.startsWith("~")) src = path.resolve(cwd, src);
  else if (!src.startsWith("/") && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(src)) {
    return `invalid volume specification: '${spec}': "${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`;
  }
  return { bind: [src, dst, ...(mode !== undefined ? [mode] : [])].join(":") };
}

/** --mount type=bind|volume|tmpfs,source=,target=,readonly,… (CSV, docker's keys). */
export function parseMountSpec(spec: string, cwd: string): MountSpec | string {
  const m: MountSpec = { Type: "volume", Target: "" };
  let target = false;
  const labels: Record<string, string> = {};
  for (const field of spec.split(",")) {
    const eq = field.indexOf("=");
    const key = (eq >= 0 ? field.slice(0, eq) : field).toLowerCase();
    const val = eq >= 0 ? field.slice(eq + 1) : undefined;
    const boolVal = (): boolean | string => {
      if (val === undefined || ["1", "true"].includes(val.toLowerCase())) return true;
      if (["0", "false"].includes(val.toLowerCase())) return false;
      return `invalid value for ${key}: ${val}`;
    };
    if (val === undefined && !["readonly", "ro", "volume-nocopy", "bind-nonrecursive"].includes(key)) {
      return `invalid field '${field}' must be a key=value pair`;
    }
    switch (key) {
      case "type":
        if (val !== "bind" && val !== "volume" && val !== "tmpfs") return `invalid mount type: "${val}"`;
        m.Type = val;
        break;
      case "source":
      case "src":
        m.Source = val;
        break;
      case "target":
      case "dst":
      case "destination":
        m.Target = val ?? "";
        target = true;
        break;
      case "readonly":
      case "ro": {
        const b = boolVal();
        if (typeof b === "string") return b;
        m.ReadOnly = b;
        break;
      }
      case "bind-propagation":
        m.BindOptions = { ...m.BindOptions, Propagation: val };
        break;
      case "volume-nocopy": {
        const b = boolVal();
        if (typeof b === "string") return b;
        m.VolumeOptions = { ...m.VolumeOptions, NoCopy: b };
        break;
      }
      case "volume-label": {
        const v = val ?? "";
        const i = v.indexOf("=");
        labels[i >= 0 ? v.slice(0, i) : v] = i >= 0 ? v.slice(i + 1) : "";
        break;
      }
      case "tmpfs-size":
        try {
          m.TmpfsOptions = { ...m.TmpfsOptions, SizeBytes: parseRamBytes(val ?? "") };
        } catch {
          return `invalid value for tmpfs-size: ${val}`;
        }
        break;
      case "tmpfs-mode": {
        if (!/^[0-7]+$/.test(val ?? "")) return `invalid value for tmpfs-mode: ${val}`;
        m.TmpfsOptions = { ...m.TmpfsOptions, Mode: Number.parseInt(val ?? "0", 8) };
        break;
      }
      case "consistency":
      case "volume-driver":
      case "bind-nonrecursive":
        break;
      default:
        return `unexpected key '${key}' in '${field}'`;
    }
  }
  if (Object.keys(labels).length > 0) m.VolumeOptions = { ...m.VolumeOptions, Labels: labels };
  if (!target || m.Target === "") return "target is required";
  if (!m.Target.startsWith("/")) return `invalid mount path: '${m.Target}' mount path must be absolute`;
  if (m.Type === "bind") {
    if (!m.Source) return "source is required when specifying bind mounts";
    if (!m.Source.startsWith("/")) m.Source = path.resolve(cwd, m.Source);
  }
  if (m.Type === "tmpfs" && m.Source) return "source is not supported for tmpfs mounts";
  if (m.Type !== "volume" && m.VolumeOptions) return `cannot mix 'volume-*' options with mount type '${m.Type}'`;
  if (m.Type !== "tmpfs" && m.TmpfsOptions) return `cannot mix 'tmpfs-*' options with mount type '${m.Type}'`;
  return m;
}

/** CAP_ prefix and upper case, as docker's CLI normalises (ALL stays ALL). */
export function normalizeCap(c: string): string {
  const u = c.toUpperCase();
  return u === "ALL" || u.startsWith("CAP_") ? u : `CAP_${u}`;
}

/** --restart no|always|unless-stopped|on-failure[:N]. */
export function parseRestartPolicy(s: string, fail: (m: string) => Error): RestartPolicy {
  const [name = "", count, ...extra] = s.split(":");
  if (extra.length > 0) throw fail(`invalid restart policy format: ${s}`);
  if (!["no", "always", "unless-stopped", "on-failure", ""].includes(name)) {
    throw fail(`invalid restart policy format: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (count !== undefined) {
    if (!/^\d+$/.test(count)) throw fail("invalid restart policy format: maximum retry count must be an integer");
    if (name !== "on-failure") throw fail(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
    return { Name: "on-failure", MaximumRetryCount: Number(count) };
  }
  return { Name: (name === "" ? "no" : name) as RestartPolicy["Name"] };
}

function parsePortRange(s: string): { start: number; end: number; proto: string } | undefined {
  const m = /^(\d+)(?:-(\d+))?\/(tcp|udp|sctp)$/.exec(s);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] !== undefined ? Number(m[2]) : start;
  if (start < 1 || end > 65535 || end < start) return undefined;
  return { start, end, proto: m[3] ?? "tcp" };
}

/**
 * -p [ip:][hostPort:]containerPort[/proto], ranges on both sides ("8000-8001:80-81"),
 * IPv6 host addresses in brackets. Returns [containerPort/proto, binding] pairs or an error.
 */
export function parsePublish(spec: string): [string, PortBinding][] | string {
  let rest = spec;
  let proto = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    proto = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
    if (!["tcp", "udp", "sctp"].includes(proto)) return `invalid proto: ${proto}`;
  }
  let ip = "";
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(rest);
  if (v6) {
    ip = v6[1] ?? "";
    rest = v6[2] ?? "";
  }
  const parts = rest.split(":");
  let hostPart = "";
  let ctrPart: string;
  if (parts.length === 1) ctrPart = parts[0] ?? "";
  else if (parts.length === 2) [hostPart = "", ctrPart = ""] = parts;
  else if (parts.length === 3 && !v6) [ip = "", hostPart = "", ctrPart = ""] = parts;
  else return `invalid port format: ${spec}`;
  if (ip !== "" && !v6 && !/^(\d{1,3}\.){3}\d{1,3}$/.test(ip)) return `invalid IP address: ${ip}`;
  const ctr = parsePortRange(`${ctrPart}/${proto}`);
  if (!ctr) return `invalid containerPort: ${ctrPart}`;
  let host: { start: number; end: number } | undefined;
  if (hostPart !== "") {
    host = parsePortRange(`${hostPart}/${proto}`);
    if (!host) return `invalid hostPort: ${hostPart}`;
    const hostLen = host.end - host.start;
    const ctrLen = ctr.end - ctr.start;
    if (hostLen !== ctrLen && ctrLen !== 0) return `invalid ranges specified for container and host Ports: ${ctrPart} and ${hostPart}`;
  }
  const out: [string, PortBinding][] = [];
  for (let i = 0; i <= ctr.end - ctr.start; i++) {
    let hostPort = "";
    if (host) hostPort = ctr.end === ctr.start && host.end !== host.start ? `${host.start}-${host.end}` : String(host.start + i);
    out.push([`${ctr.start + i}/${proto}`, { HostIp: ip, HostPort: hostPort }]);
  }
  return out;
}
