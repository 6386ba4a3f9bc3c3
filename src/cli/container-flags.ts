// `run` and `create` flags → CreateContainerOptions (docker's Config + HostConfig).
// Pure: the environment, the working directory and file reading come in through
// ParseContext, so every flag is unit-tested without touching the machine.
// This module defines the flags and runs the parse; each flag group (process,
// health, storage, resources, security, lifecycle, network) is in run-flags/.
import type { Command } from "commander";
import { flagName, intFlag, newCommand, parseArgs, repeatable, UsageError } from "./command.ts";
import { applyHealthFlags } from "./run-flags/health.ts";
import { applyLifecycleFlags } from "./run-flags/lifecycle.ts";
import { applyNetworkFlags } from "./run-flags/network.ts";
import { applyProcessFlags } from "./run-flags/process.ts";
import { applyResourceFlags } from "./run-flags/resources.ts";
import { applySecurityFlags } from "./run-flags/security.ts";
import { applyStorageFlags } from "./run-flags/storage.ts";
import type { CliCreateOptions, FlagParse, ParseContext, RawOpts, RunFlags } from "./run-flags/types.ts";
import { parseRamBytes } from "./units.ts";
import { parseGoDuration } from "../util/duration.ts";

export type { CliCreateOptions, EndpointSettings, HostConfigExtra, ParseContext, PortBinding, RunFlags } from "./run-flags/types.ts";
// The flag parsers on their own, for tests and for exec.
export { envEntry, parseEnvFiles } from "./run-flags/process.ts";
export { parseMountSpec, parseVolumeSpec } from "./run-flags/storage.ts";
export { parseDevice, parseUlimit } from "../util/ulimit-device-specs.ts";
export { normalizeCap } from "./run-flags/security.ts";
export { parseRestartPolicy } from "./run-flags/lifecycle.ts";
export { parsePublish } from "./run-flags/network.ts";

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
  if (!validReference(image)) throw fail("invalid reference format");
  if (o.name !== undefined && !/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(o.name)) {
    throw fail(`Invalid container name (${o.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  const io = { detach: o.detach ?? false, interactive: o.interactive ?? false, tty: o.tty ?? false };
  const p: FlagParse = { o, ctx, config: { Image: image }, hostConfig: {}, fail, bad, ...valueCheckers(cmd, verb, bad, fail) };
  // The groups run in this order, which decides which of several bad flags is reported.
  applyProcessFlags(p, command, io);
  applyHealthFlags(p);
  applyStorageFlags(p);
  applyResourceFlags(p);
  applySecurityFlags(p);
  applyLifecycleFlags(p);
  const endpoints = applyNetworkFlags(p);

  // -- pull and platform: the image is pulled before create (run.ts: ensureImage)
  if (!["missing", "always", "never"].includes(o.pull)) throw bad("pull", o.pull, `invalid pull option: '${o.pull}': must be one of "always", "missing" or "never"`);
  if (o.platform !== undefined && !["linux/amd64", "linux/x86_64", "amd64", "linux"].includes(o.platform)) {
    throw fail(`image platform (${o.platform}) is not supported: capsa runs linux/amd64 images only`);
  }
  const create: CliCreateOptions = { config: p.config, hostConfig: p.hostConfig };
  if (o.name !== undefined) create.name = o.name.replace(/^\//, "");
  if (endpoints) create.networkingConfig = { EndpointsConfig: endpoints };
  const r: RunFlags = { create, ...io, sigProxy: o.sigProxy !== false, pull: o.pull as RunFlags["pull"], warnings: [] };
  if (o.platform !== undefined) r.platform = o.platform;
  if (o.detachKeys !== undefined) r.detachKeys = o.detachKeys;
  return r;
}

/** The value checks flag groups share, worded as docker's flag errors. */
function valueCheckers(cmd: Command, verb: string, bad: FlagParse["bad"], fail: FlagParse["fail"]): Pick<FlagParse, "int" | "size" | "duration" | "keyValues"> {
  return {
    int: (long, v) => intFlag(cmd, verb, long, v),
    size: (long, v) => {
      if (v === undefined) return undefined;
      try {
        return parseRamBytes(v);
      } catch (e) {
        throw bad(long, v, (e as Error).message);
      }
    },
    duration: (long, v) => {
      if (v === undefined) return undefined;
      let ns: number;
      try {
        ns = parseGoDuration(v);
      } catch (e) {
        throw bad(long, v, (e as Error).message);
      }
      if (ns < 0) throw fail(`--${long} cannot be negative`);
      return ns;
    },
    keyValues: (long, list, requireEq) => {
      if (!list) return undefined;
      const out: Record<string, string> = {};
      for (const item of list) {
        const eq = item.indexOf("=");
        if (eq <= 0 && requireEq) throw bad(long, item, `${long === "sysctl" ? "sysctl" : long} '${item}' is not allowed`);
        if (eq < 0) out[item] = "";
        else out[item.slice(0, eq)] = item.slice(eq + 1);
      }
      return out;
    },
  };
}
