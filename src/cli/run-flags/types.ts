// What `run`/`create` flag parsing produces and works with: the create options
// (docker's Config + HostConfig, with the fields the engine contract lacks),
// the parsed flags as commander hands them over, and the helpers every flag
// group shares to check values with docker's wording.
import type { ContainerConfig, CreateContainerOptions, HostConfig } from "../../types/records.ts";
import type { UsageError } from "../command.ts";

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

/** The flags as commander parsed them (containerFlagsCommand's options). */
export interface RawOpts {
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

/** One parse in progress: the flags, what they build, and docker-worded checks of values. */
export interface FlagParse {
  o: RawOpts;
  ctx: ParseContext;
  config: CliCreateOptions["config"];
  hostConfig: CliCreateOptions["hostConfig"];
  /** A usage error with this message. */
  fail: (msg: string) => UsageError;
  /** `invalid argument "<value>" for "<flag>" flag: <why>`. */
  bad: (long: string, value: string, why: string) => UsageError;
  int: (long: string, v: string | undefined) => number | undefined;
  /** A byte size ("64m", "1g"). */
  size: (long: string, v: string | undefined) => number | undefined;
  /** A Go duration, in nanoseconds; negative is refused. */
  duration: (long: string, v: string | undefined) => number | undefined;
  /** K=V items (a bare K is K=""; with requireEq, refused). */
  keyValues: (long: string, list: string[] | undefined, requireEq: boolean) => Record<string, string> | undefined;
}
