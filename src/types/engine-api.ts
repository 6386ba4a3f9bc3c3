// The contract every front end programs against. `Engine` implements it.
import type { EventLog } from "./events.ts";
import type { Readable, Writable } from "node:stream";
import type { CreateContainerOptions, HealthState, HostConfig, ImageConfig, ImageRecord, VolumeRecord } from "./records.ts";
import type { Paths } from "./paths.ts";
import type { LoginOptions, PullOptions, PushOptions, PushResult } from "./registry.ts";
import type { NetworkCreateOptions, NetworkInspect } from "./network.ts";
import type { Change, ContainerInspect, ContainerStats, ContainerSummary, LogEntry, TopResult } from "./views.ts";

/** Where an attached client's bytes go; `stdin` is read until it ends. */
export interface AttachStreams {
  stdin?: Readable;
  stdout: Writable;
  /** Omitted with a TTY: the terminal merges both streams. */
  stderr?: Writable;
  /** Called when the client's terminal changes size (and once at start). */
  onResize?: (resize: (rows: number, cols: number) => void) => void;
}

export interface RunIo {
  detach: boolean;
  streams?: AttachStreams;
  /** Called with the container's id (and create's warnings) once it exists, before it starts (e.g. to forward signals). */
  onCreated?: (id: string, warnings: string[]) => void;
}

export interface ListContainersOptions {
  all?: boolean;
  /** docker's filters: id, name, label, status, ancestor, exited, before, since. Each key may repeat. */
  filters?: Record<string, string[]>;
  limit?: number;
  size?: boolean;
}

export interface LogsOptions {
  follow?: boolean;
  tail?: number | "all";
  /** Unix seconds (fractions allowed); entries strictly before are skipped. */
  since?: number;
  until?: number;
  stdout?: boolean;
  stderr?: boolean;
}

export interface ExecOptions {
  Cmd: string[];
  Env?: string[];
  User?: string;
  WorkingDir?: string;
  Tty?: boolean;
  AttachStdin?: boolean;
  Privileged?: boolean;
  Detach?: boolean;
  /** The exec's id in events when the caller made (and announced) it already, as the API's exec create does. */
  ExecId?: string;
}

export interface CommitOptions {
  /** Target reference, e.g. "myimg:2"; untagged when omitted. */
  ref?: string;
  comment?: string;
  author?: string;
  /** Dockerfile-like instructions: "CMD [...]", "ENV K=V", "WORKDIR /x", ... */
  changes?: string[];
  pause?: boolean;
  /** Image config set over the container's (the API's commit body); the changes apply after it. */
  config?: Partial<ImageConfig>;
}

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export interface ImageApi {
  importRootfs(source: Readable, opts?: { ref?: string; changes?: string[]; message?: string }): Promise<ImageRecord>;
  /** Returns docker's lines: "Loaded image: ref" or "Loaded image ID: sha256:…". */
  load(source: Readable): Promise<string[]>;
  save(refs: string[], dest: Writable, format?: "docker-archive" | "oci-archive"): Promise<void>;
  list(opts?: { all?: boolean; filters?: Record<string, string[]> }): ImageRecord[];
  /** docker's SharedSize per image id: bytes of its layers that other images use too. */
  sharedSizes(): Map<string, number>;
  inspect(refOrId: string): ImageRecord;
  /** What a name, digest or ID refers to, or undefined (the builder's FROM and cache checks). */
  tryResolve(refOrId: string): ImageRecord | undefined;
  /** An image's unpacked layer directories, topmost first (the builder mounts them under its COPY steps). */
  layerDirs(imageId: string): string[];
  /** A new image: upperDir (an overlay upper dir) as a layer over the parent's (a build's RUN and COPY steps). */
  commitLayer(opts: { parentImageId: string | null; upperDir: string; config: ImageConfig; createdBy: string }): Promise<ImageRecord>;
  /** A new image over the parent's layers with only its config changed (a build's ENV, CMD, …). */
  commitConfig(opts: { parentImageId: string | null; config: ImageConfig; createdBy: string }): Promise<ImageRecord>;
  tag(source: string, target: string): void;
  remove(refOrId: string, opts?: { force?: boolean; noPrune?: boolean }): { Untagged?: string; Deleted?: string }[];
  history(refOrId: string): { Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }[];
  prune(opts?: { all?: boolean }): { ImagesDeleted: { Untagged?: string; Deleted?: string }[]; SpaceReclaimed: number };
  /** Pulls ref (tag, default latest, or @sha256 digest) from its registry; resolves with the stored image. */
  pull(ref: string, opts?: PullOptions): Promise<ImageRecord>;
  /** Pulls every tag of a repository. */
  pullAllTags(repository: string, opts?: PullOptions): Promise<ImageRecord[]>;
  /** Pushes a local image to destRef (default: its own name). */
  push(localRef: string, destRef?: string, opts?: PushOptions): Promise<PushResult>;
  /** Checks credentials with the registry (default docker.io), then stores them. */
  login(registry: string | undefined, creds: LoginOptions): Promise<void>;
  /** Forgets stored credentials; false when there were none. */
  logout(registry: string | undefined): Promise<boolean>;
}

export interface VolumeApi {
  create(opts?: { name?: string; labels?: Record<string, string>; options?: Record<string, string> }): VolumeRecord;
  list(opts?: { filters?: Record<string, string[]> }): VolumeRecord[];
  inspect(name: string): VolumeRecord;
  remove(name: string, opts?: { force?: boolean }): void;
  prune(opts?: { all?: boolean }): { VolumesDeleted: string[]; SpaceReclaimed: number };
}

/** The body of docker's POST /containers/{id}/update: fields left out (or 0, "") stay as they are. */
export type ContainerUpdate = Pick<
  HostConfig,
  "CpuShares" | "CpuQuota" | "CpuPeriod" | "NanoCpus" | "CpusetCpus" | "CpusetMems" | "Memory" | "MemorySwap" | "MemoryReservation" | "PidsLimit" | "BlkioWeight" | "RestartPolicy"
>;

export interface ContainerApi {
  create(opts: CreateContainerOptions): Promise<{ Id: string; Warnings: string[] }>;
  /**
   * With `attach`, the streams are connected before the process runs, so no output is lost; resolves when output ends.
   * `exitWatched`: this (long-lived) process watches the exit and records it; conmon's exit command stands aside while it lives.
   * An AutoRemove container whose start fails is removed.
   */
  start(idOrName: string, opts?: { attach?: AttachStreams; onStarted?: () => void; exitWatched?: boolean }): Promise<void>;
  /**
   * Creates, starts and (unless detached) attaches; resolves with the workload's
   * exit code, or undefined when detached. Removes the container afterwards with AutoRemove.
   */
  run(opts: CreateContainerOptions, io: RunIo): Promise<{ Id: string; exitCode?: number }>;
  /** Runs the container's health check once and records the result. */
  healthcheck(idOrName: string): Promise<HealthState>;
  /** Records a container's exit and applies its restart policy or --rm (conmon's exit command calls it). */
  cleanup(idOrName: string): Promise<void>;
  attach(idOrName: string, streams: AttachStreams): Promise<void>;
  /**
   * docker's wait conditions: "not-running" (at once when stopped), "next-exit" and "removed" (which wait for the
   * next start, or the removal, first). A container removed after its exit (--rm) answers for a minute with its code.
   * `signal` stops the waiting for a start or a removal.
   */
  wait(idOrName: string, condition?: "not-running" | "next-exit" | "removed", opts?: { signal?: AbortSignal }): Promise<{ StatusCode: number }>;
  stop(idOrName: string, opts?: { timeout?: number; signal?: string }): Promise<void>;
  kill(idOrName: string, signal?: string): Promise<void>;
  /** `exitWatched`: as for start. */
  restart(idOrName: string, opts?: { timeout?: number; exitWatched?: boolean }): Promise<void>;
  pause(idOrName: string): Promise<void>;
  unpause(idOrName: string): Promise<void>;
  remove(idOrName: string, opts?: { force?: boolean; volumes?: boolean }): Promise<void>;
  rename(idOrName: string, newName: string): void;
  /**
   * docker update: new resource limits and restart policy, stored in the record
   * (the next start uses them) and, on a running container, written into its cgroup.
   */
  update(idOrName: string, update: ContainerUpdate): Promise<{ Warnings: string[] }>;
  /** Brings live containers' records up to date first (a container may have exited since). */
  list(opts?: ListContainersOptions): Promise<ContainerSummary[]>;
  /** size: also SizeRw and SizeRootFs (docker inspect --size), which walks the writable layer. */
  inspect(idOrName: string, opts?: { size?: boolean }): Promise<ContainerInspect>;
  logs(idOrName: string, opts?: LogsOptions): AsyncIterable<LogEntry>;
  exec(idOrName: string, opts: ExecOptions, streams?: AttachStreams): Promise<{ exitCode: number }>;
  top(idOrName: string, psArgs?: string): Promise<TopResult>;
  stats(idOrName: string, opts?: { stream?: boolean }): AsyncIterable<ContainerStats>;
  /** A tar stream of path inside the container (docker's GET /archive). */
  copyFrom(idOrName: string, path: string): Promise<{ stat: PathStat; tar: Readable }>;
  /** Extracts a tar stream into a directory inside the container (docker's PUT /archive). */
  copyTo(idOrName: string, path: string, tar: Readable, opts?: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean }): Promise<void>;
  statPath(idOrName: string, path: string): Promise<PathStat>;
  port(idOrName: string): Promise<Record<string, { HostIp: string; HostPort: string }[] | null>>;
  changes(idOrName: string): Promise<Change[]>;
  export(idOrName: string): Promise<Readable>;
  commit(idOrName: string, opts?: CommitOptions): Promise<ImageRecord>;
  prune(): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }>;
}

export interface SystemApi {
  /** `onSlowProbe`: called when a level must be probed first (the VM's KVM test boot takes seconds; once per state root). */
  info(opts?: { onSlowProbe?: (what: string) => void }): Promise<Record<string, unknown>>;
  version(): Record<string, unknown>;
  df(): Promise<Record<string, unknown>>;
  prune(opts?: { all?: boolean; volumes?: boolean }): Promise<Record<string, unknown>>;
  /** Stops and removes everything under this state root (used by tests and `system reset`). */
  reset(): Promise<void>;
}

export interface NetworkApi {
  create(opts: NetworkCreateOptions): { Id: string; Warning: string };
  /** Includes the default "bridge" network (created on first use). */
  list(opts?: { filters?: Record<string, string[]> }): Promise<NetworkInspect[]>;
  inspect(idOrName: string): Promise<NetworkInspect>;
  remove(idOrName: string): Promise<void>;
  prune(): Promise<{ NetworksDeleted: string[] }>;
  /** Attaches at once when the container runs, else at its next start. */
  connect(network: string, container: string, opts?: { aliases?: string[]; ipv4Address?: string; ipv6Address?: string; linkLocalIPs?: string[] }): Promise<void>;
  disconnect(network: string, container: string, opts?: { force?: boolean }): Promise<void>;
}

export interface EngineApi {
  images: ImageApi;
  containers: ContainerApi;
  volumes: VolumeApi;
  system: SystemApi;
  networks: NetworkApi;
  /** What every front end did: the journal behind `GET /events`. */
  events: EventLog;
  /** Where the state lives (the builder keeps its step cache under root and its scratch dirs under tmp). */
  readonly paths: Paths;
  close(): void;
}
