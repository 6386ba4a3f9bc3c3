// Network rows: networks (their record as JSON) and container endpoints. An
// endpoint row says "container C is on network N"; while C runs it also holds
// the network plugin's result, the published ports and the netns it was added
// to. The plugin result's type is src/network's (CNI), a parameter here.
import type { DB } from "./db.ts";
import type { EndpointSettings } from "../types/records.ts";
import { conflict, invalid, notFound } from "../util/errors.ts";

export interface NetworkRecord {
  Id: string;
  Name: string;
  Created: string;
  Driver: "bridge";
  Internal: boolean;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  Subnet: string;
  Gateway: string;
  /** The Linux bridge device, unique per state root (derived from a hash, or com.docker.network.bridge.name). */
  Bridge: string;
  /** The name CNI, the conflist file and the lease directory know the network by; absent: Name (records made before any name was allowed). */
  CniName?: string;
  /** docker's IPAM.Driver and IPAM.Options as created (inspect shows Options null when none were given). */
  IpamDriver?: string;
  IpamOptions?: Record<string, string> | null;
  /** docker's --ip-range: containers get addresses from it (a static --ip may lie anywhere in the subnet). */
  IPRange?: string;
  /** docker's --aux-address: name → address, never given to a container (either family). */
  AuxAddresses?: Record<string, string>;
  /** Dual stack: the IPv6 subnet, its gateway and range, next to the IPv4 ones. */
  EnableIPv6?: boolean;
  Subnet6?: string;
  Gateway6?: string;
  IPRange6?: string;
}

export interface PublishedPort {
  HostIp: string;
  HostPort: number;
  ContainerPort: number;
  Protocol: "tcp" | "udp" | "sctp";
}

export interface EndpointRecord<Result = unknown> {
  containerId: string;
  networkId: string;
  /** Order of attachment: 0 is eth0. */
  position: number;
  config: EndpointSettings;
  /** Set while attached. */
  ifName: string;
  netns: string;
  /** The network plugin's result (src/network: CNI's). */
  result: Result | null;
  ports: PublishedPort[];
  /** The process that is attaching (so a crashed attach can be told from one in progress). */
  ownerPid: number;
}

interface EndpointRow {
  container_id: string;
  network_id: string;
  position: number;
  config: string;
  if_name: string;
  netns: string;
  result: string | null;
  ports: string;
  owner_pid: number;
}

function toEndpoint<Result>(r: EndpointRow): EndpointRecord<Result> {
  return {
    containerId: r.container_id,
    networkId: r.network_id,
    position: r.position,
    config: JSON.parse(r.config) as EndpointSettings,
    ifName: r.if_name,
    netns: r.netns,
    result: r.result ? (JSON.parse(r.result) as Result) : null,
    ports: JSON.parse(r.ports) as PublishedPort[],
    ownerPid: r.owner_pid,
  };
}

export class NetworkRows<Result = unknown> {
  constructor(private readonly db: DB) {}

  list(): NetworkRecord[] {
    return (this.db.prepare("SELECT data FROM networks ORDER BY name").all() as { data: string }[]).map((r) => JSON.parse(r.data) as NetworkRecord);
  }

  /** As dockerd's FindNetwork: full id, else exact name, else unique id prefix; a name or prefix that several networks share is an error. */
  find(ref: string): NetworkRecord | undefined {
    const byId = this.db.prepare("SELECT data FROM networks WHERE id = ?").get(ref) as { data: string } | undefined;
    if (byId) return JSON.parse(byId.data) as NetworkRecord;
    const byName = this.db.prepare("SELECT data FROM networks WHERE name = ?").all(ref) as { data: string }[];
    if (byName.length > 1) throw invalid(`${byName.length} matches found based on name: network ${ref} is ambiguous`);
    if (byName.length === 1) return JSON.parse(byName[0]!.data) as NetworkRecord;
    if (!/^[0-9a-f]{1,64}$/.test(ref)) return undefined;
    const rows = this.db.prepare("SELECT data FROM networks WHERE id LIKE ?").all(ref + "%") as { data: string }[];
    if (rows.length > 1) throw invalid(`${rows.length} matches found based on ID prefix: network ${ref} is ambiguous`);
    return rows.length === 1 ? (JSON.parse(rows[0]!.data) as NetworkRecord) : undefined;
  }

  get(ref: string): NetworkRecord {
    const n = this.find(ref);
    if (!n) throw notFound(`network ${ref} not found`);
    return n;
  }

  /** `uniqueName`: refused when another network has the name (checked under the write lock, so two creates cannot both pass). */
  insert(n: NetworkRecord, opts: { uniqueName?: boolean } = {}): void {
    this.db
      .transaction(() => {
        if (opts.uniqueName && this.db.prepare("SELECT 1 FROM networks WHERE name = ?").get(n.Name)) throw conflict(`network with name ${n.Name} already exists`);
        this.db.prepare("INSERT INTO networks (id, name, data) VALUES (?, ?, ?)").run(n.Id, n.Name, JSON.stringify(n));
      })
      .immediate();
  }

  delete(id: string): void {
    this.db.prepare("DELETE FROM networks WHERE id = ?").run(id);
  }

  endpoints(filter: { containerId?: string; networkId?: string } = {}): EndpointRecord<Result>[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.containerId) {
      where.push("container_id = ?");
      args.push(filter.containerId);
    }
    if (filter.networkId) {
      where.push("network_id = ?");
      args.push(filter.networkId);
    }
    const sql = `SELECT * FROM network_endpoints${where.length ? " WHERE " + where.join(" AND ") : ""} ORDER BY container_id, position`;
    return (this.db.prepare(sql).all(...args) as EndpointRow[]).map((r) => toEndpoint<Result>(r));
  }

  /** Adds an endpoint at the next position; false when the container is already on that network. */
  addEndpoint(containerId: string, networkId: string, config: EndpointSettings): boolean {
    return this.db.transaction(() => {
      if (this.db.prepare("SELECT 1 FROM network_endpoints WHERE container_id = ? AND network_id = ?").get(containerId, networkId)) return false;
      const max = this.db.prepare("SELECT MAX(position) AS m FROM network_endpoints WHERE container_id = ?").get(containerId) as { m: number | null };
      this.db.prepare("INSERT INTO network_endpoints (container_id, network_id, position, config) VALUES (?, ?, ?, ?)").run(containerId, networkId, (max.m ?? -1) + 1, JSON.stringify(config));
      return true;
    }).immediate();
  }

  setAttached(containerId: string, networkId: string, a: { ifName: string; netns: string; result: Result | null; ports: PublishedPort[]; ownerPid: number }): void {
    this.db
      .prepare("UPDATE network_endpoints SET if_name = ?, netns = ?, result = ?, ports = ?, owner_pid = ? WHERE container_id = ? AND network_id = ?")
      .run(a.ifName, a.netns, a.result ? JSON.stringify(a.result) : null, JSON.stringify(a.ports), a.ownerPid, containerId, networkId);
  }

  clearOwner(containerId: string): void {
    this.db.prepare("UPDATE network_endpoints SET owner_pid = 0 WHERE container_id = ?").run(containerId);
  }

  removeEndpoint(containerId: string, networkId: string): void {
    this.db.prepare("DELETE FROM network_endpoints WHERE container_id = ? AND network_id = ?").run(containerId, networkId);
  }

  /** Drops the container's endpoints that hold nothing on the host; attached ones stay for a teardown. */
  removeDetached(containerId: string): void {
    this.db.prepare("DELETE FROM network_endpoints WHERE container_id = ? AND netns = ''").run(containerId);
  }

  removeContainer(containerId: string): void {
    this.db.prepare("DELETE FROM network_endpoints WHERE container_id = ?").run(containerId);
  }
}
