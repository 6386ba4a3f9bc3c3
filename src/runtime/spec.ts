// buildSpec: a container's docker-shaped configuration → the OCI runtime-spec
// config.json, with docker's secure defaults (capabilities, seccomp, masked
// and read-only /proc and /sys paths, device rules, namespaces). The engine
// resolves the image, the user, the command and the network first; this
// module only translates. docs/security-defaults.md lists every default.
import fs from "node:fs";
import os from "node:os";
import type { ContainerConfig, HostConfig } from "../types/records.ts";
import { detectCgroupVersion } from "../cgroups/index.ts";
import { invalid } from "../util/errors.ts";
import { shortId } from "../util/ids.ts";
import { containerCapabilities } from "./caps.ts";
import { defaultDeviceRules, hostDevices, mappedDevices, parseDeviceCgroupRules } from "./devices.ts";
import { assembleMounts } from "./mounts.ts";
import type { OciCapabilities, OciDevice, OciDeviceRule, OciLinux, OciMount, OciNamespace, OciProcess, RuntimeSpec } from "./oci.ts";
import { buildResources, hostCgroupFeatures } from "./resources.ts";
import { buildRlimits } from "./rlimits.ts";
import { compileSeccomp } from "./seccomp.ts";
import { defaultSeccompProfile } from "./seccomp-default.ts";
import { parseSecurityOpts } from "./security-opt.ts";
import { validateSysctls } from "./sysctl.ts";
import type { ResolvedUser } from "./user.ts";

export const OCI_VERSION = "1.0.2";
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Where --init's binary appears in the container (docker's path). */
export const INIT_PATH_IN_CONTAINER = "/sbin/docker-init";
/** Host binaries usable for --init, in order of preference: Debian's tini-static, then docker's. */
export const INIT_CANDIDATES = ["/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init"];

export const MASKED_PATHS = [
  "/proc/acpi",
  // docker (since 20.10) masks /proc/asound rather than only making it read-only.
  "/proc/asound",
  // docker 28 masks it too: per-CPU interrupt counts are a side channel (keystroke timing, co-tenants' activity).
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];
export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** How the container gets its network: a fresh namespace with only loopback, the host's, or one the engine made. */
export type SpecNetwork = { mode: "none" } | { mode: "host" } | { mode: "path"; path: string };

export interface SpecInput {
  /** The container id (its first 12 characters are the default hostname). */
  id: string;
  /** The mounted root file system (absolute host path). */
  rootfs: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  /** The resolved command: entrypoint + cmd, already merged with the image's. */
  args: string[];
  /** The environment, already merged with the image's; PATH, HOSTNAME, HOME and (with a tty) TERM are added when missing. */
  env: string[];
  cwd: string;
  user: ResolvedUser;
  network: SpecNetwork;
  /** linux.cgroupsPath, from cgroupsPathFor(). */
  cgroupsPath: string;
  /** Mounts the engine supplies (hostname, hosts, resolv.conf); a user mount on the same destination wins. */
  extraMounts?: OciMount[];
  /** Host directory of a named volume, created when missing; "" asks for a new anonymous volume. */
  volumePath: (name: string) => string;
  /** Default: detected from /sys/fs/cgroup. */
  cgroupVersion?: 1 | 2;
  /** Host path of the --init binary. Default: the first of INIT_CANDIDATES that exists. */
  initBinary?: string;
}

/** The host binary for --init; a clear error when none is installed. */
export function findInitBinary(candidates: string[] = INIT_CANDIDATES): string {
  const found = candidates.find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found) throw invalid(`--init needs an init binary; none found at ${candidates.join(", ")} (install Debian's tini package)`);
  return found;
}

function withDefaultEnv(env: string[], defaults: [string, string | undefined][]): string[] {
  const out = [...env];
  const has = (k: string): boolean => out.some((e) => e === k || e.startsWith(`${k}=`));
  for (const [k, v] of defaults) if (v !== undefined && !has(k)) out.push(`${k}=${v}`);
  return out;
}

export function buildSpec(input: SpecInput): RuntimeSpec {
  const { config, hostConfig: hc } = input;
  const privileged = !!hc.Privileged;
  const cgroupVersion = input.cgroupVersion ?? detectCgroupVersion();
  const security = parseSecurityOpts(hc.SecurityOpt);
  const ownNetns = input.network.mode !== "host";
  if (input.network.mode === "path" && !input.network.path) throw invalid("network namespace path missing");
  if (input.args.length === 0) throw invalid("No command specified");

  const caps = containerCapabilities({ capAdd: hc.CapAdd, capDrop: hc.CapDrop, privileged });
  const hostname = config.Hostname || (ownNetns ? shortId(input.id) : os.hostname());

  // Mounts and --init.
  const { mounts, rootfsPropagation } = assembleMounts({
    hostConfig: hc,
    privileged,
    extraMounts: input.extraMounts ?? [],
    volumePath: input.volumePath,
  });
  let args = input.args;
  if (hc.Init) {
    const init = input.initBinary ?? findInitBinary();
    mounts.push({ destination: INIT_PATH_IN_CONTAINER, type: "bind", source: init, options: ["bind", "ro", "nosuid", "nodev"] });
    args = [INIT_PATH_IN_CONTAINER, "--", ...args];
  }

  // Devices: the host's for --privileged, else the requested ones on top of docker's rules.
  let devices: OciDevice[] = [];
  let deviceRules: OciDeviceRule[];
  if (privileged) {
    devices = hostDevices();
    deviceRules = [{ allow: true, access: "rwm" }];
  } else {
    deviceRules = defaultDeviceRules();
  }
  for (const d of hc.Devices ?? []) {
    const mapped = mappedDevices(d);
    devices = [...devices.filter((x) => !mapped.devices.some((m) => m.path === x.path)), ...mapped.devices];
    if (!privileged) deviceRules.push(...mapped.rules);
  }
  if (!privileged) deviceRules.push(...parseDeviceCgroupRules(hc.DeviceCgroupRules));

  const process: OciProcess = {
    terminal: !!config.Tty,
    user: { uid: input.user.uid, gid: input.user.gid, ...(input.user.additionalGids.length ? { additionalGids: input.user.additionalGids } : {}) },
    args,
    env: withDefaultEnv(input.env, [
      ["PATH", DEFAULT_PATH],
      ["HOSTNAME", hostname],
      ["TERM", config.Tty ? "xterm" : undefined],
      ["HOME", input.user.home || "/"],
    ]),
    cwd: input.cwd || "/",
    capabilities: processCapabilities(caps, input.user.uid),
    noNewPrivileges: security.noNewPrivileges,
  };
  const rlimits = buildRlimits(hc.Ulimits);
  if (rlimits.length) process.rlimits = rlimits;
  if (!process.cwd.startsWith("/")) throw invalid(`the working directory '${process.cwd}' is invalid, it needs to be an absolute path`);

  const namespaces: OciNamespace[] = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  if (input.network.mode === "none") namespaces.push({ type: "network" });
  else if (input.network.mode === "path") namespaces.push({ type: "network", path: input.network.path });
  // docker's default cgroupns mode: private on v2, host on v1.
  if (cgroupVersion === 2) namespaces.push({ type: "cgroup" });

  const linux: OciLinux = {
    namespaces,
    cgroupsPath: input.cgroupsPath,
    resources: buildResources(hc, deviceRules, hostCgroupFeatures(cgroupVersion)),
  };
  if (devices.length) linux.devices = devices;
  // Unprivileged ICMP sockets for every group, so ping works without CAP_NET_RAW (as Podman does).
  const sysctl = { ...(ownNetns ? { "net.ipv4.ping_group_range": "0 2147483647" } : {}), ...validateSysctls(hc.Sysctls, { ownNetns }) };
  if (Object.keys(sysctl).length) linux.sysctl = sysctl;
  if (!privileged && !security.unmaskSystemPaths) {
    linux.maskedPaths = [...MASKED_PATHS];
    linux.readonlyPaths = [...READONLY_PATHS];
  }
  if (!privileged && security.seccomp !== "unconfined") {
    const profile = security.seccomp === "default" ? defaultSeccompProfile() : security.seccomp;
    linux.seccomp = compileSeccomp(profile, { caps });
  }
  if (rootfsPropagation) linux.rootfsPropagation = rootfsPropagation;

  const spec: RuntimeSpec = {
    ociVersion: OCI_VERSION,
    process,
    root: { path: input.rootfs, readonly: !!hc.ReadonlyRootfs },
    hostname,
    mounts,
    linux,
  };
  if (hc.Annotations && Object.keys(hc.Annotations).length) spec.annotations = { ...hc.Annotations };
  return spec;
}

/**
 * docker ≥ 23: no inheritable capabilities, no ambient ones. A non-root user
 * keeps only the bounding set: Linux clears the rest at its exec, and the spec
 * says so itself (as Podman's does), because gVisor's Sentry keeps whatever
 * the spec lists (a sandbox's `-u 1000` workload held docker's whole set).
 */
export function processCapabilities(caps: string[], uid: number): OciCapabilities {
  return uid === 0 ? { bounding: caps, effective: caps, permitted: caps } : { bounding: caps, effective: [], permitted: [] };
}
