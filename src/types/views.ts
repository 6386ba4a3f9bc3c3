// Docker-shaped read models: what `ps`, `inspect`, `stats` and `top` return.
// Field names follow the Docker Engine API so the API server can return them as is.
import type { ContainerConfig, ContainerState, HostConfig, MountSpec } from "./records.ts";

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number; // unix seconds
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
  Labels: Record<string, string>;
  State: string;
  Status: string; // "Up 3 seconds", "Exited (0) 2 minutes ago"
  HostConfig: { NetworkMode: string };
  /** docker's list shape: the endpoints by network name (`docker ps --format {{.Networks}}`, clients reading IPs). */
  NetworkSettings?: { Networks: Record<string, unknown> };
  Mounts: MountPoint[];
  SizeRw?: number;
  SizeRootFs?: number;
}

export interface MountPoint {
  Type: MountSpec["Type"];
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface ContainerInspect {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  Image: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  Name: string; // "/name", as docker
  RestartCount: number;
  Driver: string;
  Platform: string;
  MountLabel: string;
  ProcessLabel: string;
  AppArmorProfile: string;
  ExecIDs: string[] | null;
  HostConfig: HostConfig;
  GraphDriver: { Name: string; Data: Record<string, string> };
  Mounts: MountPoint[];
  Config: ContainerConfig;
  NetworkSettings: {
    Bridge: string;
    SandboxID: string;
    SandboxKey: string;
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
    IPAddress: string;
    Gateway: string;
    MacAddress: string;
    Networks: Record<string, unknown>;
  };
  /** capsa's own additions, under one key so docker clients ignore them. */
  Capsa: { Isolation: string; Runtime: string; MonitorPid: number; Bundle: string };
  /** With `size` (docker inspect --size). */
  SizeRw?: number;
  SizeRootFs?: number;
}

export interface LogEntry {
  stream: "stdout" | "stderr";
  /** RFC 3339 with nanoseconds, as the monitor wrote it. */
  time: string;
  /** The bytes of the line, with its newline unless the line was partial. */
  data: Buffer;
}

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/** A subset of docker's stats JSON that the CLI and clients read. */
export interface ContainerStats {
  read: string;
  preread: string;
  id: string;
  name: string;
  pids_stats: { current?: number; limit?: number };
  memory_stats: { usage?: number; limit?: number; max_usage?: number; stats?: Record<string, number>; failcnt?: number };
  cpu_stats: {
    cpu_usage: { total_usage: number; usage_in_kernelmode?: number; usage_in_usermode?: number; percpu_usage?: number[] };
    system_cpu_usage?: number;
    online_cpus?: number;
    throttling_data?: { periods: number; throttled_periods: number; throttled_time: number };
  };
  precpu_stats: ContainerStats["cpu_stats"];
  blkio_stats: { io_service_bytes_recursive: { major: number; minor: number; op: string; value: number }[] | null };
  networks?: Record<string, { rx_bytes: number; rx_packets: number; rx_errors: number; rx_dropped: number; tx_bytes: number; tx_packets: number; tx_errors: number; tx_dropped: number }>;
}

export interface Change {
  Path: string;
  /** 0 modified, 1 added, 2 deleted (docker's codes). */
  Kind: 0 | 1 | 2;
}
