// What the network modules share: the state paths, the network tables, and a
// narrow view of the containers. The engine hands these in, so the network
// layer never reaches up into the engine's own context.
import path from "node:path";
import type { Paths } from "../types/paths.ts";
import type { ContainerRecord } from "../types/records.ts";
import type { NetworkRecord, NetworkStore } from "./store.ts";
import { isLive } from "../util/container-state.ts";

/** The containers as the network sees them: looked up by id or name, or all of them. */
export interface ContainerLookup {
  find(idOrName: string): ContainerRecord | undefined;
  /** Like find, but a missing container is docker's "No such container" error. */
  get(idOrName: string): ContainerRecord;
  list(): ContainerRecord[];
}

/** The base of a container's /etc/hosts (localhost lines, its hostname, --add-host), owned by the bundle writer. */
export type HostsRenderer = (c: ContainerRecord, ownAddress?: string) => string;

export interface NetworkContext {
  paths: Pick<Paths, "root" | "runRoot" | "containers">;
  store: NetworkStore;
  containers: ContainerLookup;
  baseHosts: HostsRenderer;
}

export const DEFAULT_NETWORK = "bridge";

/** Network modes with no endpoints of their own: none, host, container:<x>. */
export const isSpecialMode = (mode: string): boolean => mode === "none" || mode === "host" || mode.startsWith("container:");

/** Running, or about to run again: its network stays attached. */
export const isActive = (c: ContainerRecord): boolean => isLive(c.state);

export function networkById(ctx: NetworkContext, id: string): NetworkRecord | undefined {
  return ctx.store.list().find((n) => n.Id === id);
}

/** The network's name for CNI and on disk (docker's own name may hold any character). */
export const cniName = (n: NetworkRecord): string => n.CniName ?? n.Name;

/** <root>/networks: one CNI conflist per network. */
export function networksDir(ctx: NetworkContext): string {
  return path.join(ctx.paths.root, "networks");
}

/** host-local's leases, one directory per network. */
export function ipamDir(ctx: NetworkContext): string {
  return path.join(networksDir(ctx), "ipam");
}
