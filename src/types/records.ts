// The SDK's data model. Container configuration mirrors the Docker Engine API's
// `Config` and `HostConfig` objects field for field (PascalCase included), so the
// CLI, the SDK and the API server share one shape and `inspect` output is what
// docker clients index into. See docs/decisions/0002-docker-shaped-config.md.

export interface RestartPolicy {
  Name: "" | "no" | "always" | "unless-stopped" | "on-failure";
  MaximumRetryCount?: number;
}

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** A mount as the API's `HostConfig.Mounts` describes it. */
export interface MountSpec {
  Type: "bind" | "volume" | "tmpfs";
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface HealthConfig {
  /** ["NONE"] disables, ["CMD", ...] exec form, ["CMD-SHELL", "cmd"] shell form. */
  Test?: string[];
  Interval?: number; // nanoseconds, as docker
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object>;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[];
  Cmd?: string[] | null;
  Healthcheck?: HealthConfig;
  Image?: string;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  Labels?: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  MacAddress?: string;
}

export interface HostConfig {
  Binds?: string[];
  Mounts?: MountSpec[];
  Tmpfs?: Record<string, string>;
  ReadonlyRootfs?: boolean;
  NetworkMode?: string;
  RestartPolicy?: RestartPolicy;
  AutoRemove?: boolean;
  CapAdd?: string[];
  CapDrop?: string[];
  Privileged?: boolean;
  SecurityOpt?: string[];
  Ulimits?: Ulimit[];
  Init?: boolean;
  GroupAdd?: string[];
  Sysctls?: Record<string, string>;
  Devices?: DeviceMapping[];
  ShmSize?: number;
  LogConfig?: { Type: string; Config: Record<string, string> };
  Runtime?: string;
  Annotations?: Record<string, string>;
  // Resources
  Memory?: number;
  MemorySwap?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number;
  MemoryReservation?: number;
  /** 10 to 1000, where the kernel has a block I/O weight. */
  BlkioWeight?: number;
  OomKillDisable?: boolean;
  /** docker's --device-cgroup-rule: "c 1:3 rwm", "b 8:* r", "a *:* m". */
  DeviceCgroupRules?: string[];
  Dns?: string[];
  DnsSearch?: string[];
  DnsOptions?: string[];
  ExtraHosts?: string[];
  PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
  PublishAllPorts?: boolean;
  /** "container" (default), "sandbox" or "vm"; docker's own --isolation flag carries it too. */
  Isolation?: string;
  /**
   * capsa's own: Isolation as the client gave it ("", "default"), which inspect
   * echoes as docker does; Isolation itself holds the level resolved at create.
   */
  CapsaIsolationGiven?: string;
}

export interface EndpointSettings {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] };
  Aliases?: string[];
  MacAddress?: string;
}

export interface CreateContainerOptions {
  name?: string;
  config: ContainerConfig & { Image: string };
  hostConfig?: HostConfig;
  networkingConfig?: { EndpointsConfig: Record<string, EndpointSettings> };
}

export type ContainerStatus = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";

export interface HealthState {
  Status: "starting" | "healthy" | "unhealthy" | "none";
  FailingStreak: number;
  Log: { Start: string; End: string; ExitCode: number; Output: string }[];
}

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: HealthState;
}

/** What the store keeps about a container; `inspect` is derived from it. */
export interface ContainerRecord {
  id: string;
  name: string;
  imageId: string;
  imageRef: string;
  created: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  state: ContainerState;
  restartCount: number;
  /** Set when `docker stop`/`kill` ended it on purpose: restart policies then leave it alone. */
  stoppedByUser: boolean;
  monitorPid: number;
  runtime: string;
}

export interface ImageConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Healthcheck?: HealthConfig;
  Shell?: string[];
  OnBuild?: string[] | null;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An OCI image configuration (application/vnd.oci.image.config.v1+json). */
export interface OciImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: ImageConfig;
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: HistoryEntry[];
}

export interface ImageRecord {
  /** sha256:… digest of the config blob, as docker's image ID. */
  id: string;
  /** Normalised references (docker.io/library/busybox:latest) pointing at it. */
  repoTags: string[];
  repoDigests: string[];
  /** Digest of the manifest this image was stored with. */
  manifestDigest: string;
  created: string;
  size: number;
  config: OciImageConfig;
}

export interface VolumeRecord {
  Name: string;
  Driver: "local";
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  Scope: "local";
}
