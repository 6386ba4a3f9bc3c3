// The network half of the SDK's data model, shaped as docker's API returns it.

export interface NetworkCreateOptions {
  Name: string;
  /** Only "bridge" (the default). */
  Driver?: string;
  Internal?: boolean;
  EnableIPv6?: boolean;
  Labels?: Record<string, string>;
  Options?: Record<string, string>;
  IPAM?: { Driver?: string; Config?: IpamConfig[]; Options?: Record<string, string> | null };
  /** Refuse a name another network has (the default here; dockerd's API before 1.44 makes a duplicate unless it is true). */
  CheckDuplicate?: boolean;
}

export interface IpamConfig {
  Subnet?: string;
  Gateway?: string;
  IPRange?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface NetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: (IpamConfig & { Subnet: string; Gateway: string })[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, NetworkContainer>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** capsa's additions: the conflist a user can read and extend, the bridge device. */
  Capsa: { ConfList: string; Bridge: string };
}

export interface EndpointView {
  IPAMConfig: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } | null;
  Links: null;
  Aliases: string[] | null;
  MacAddress: string;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DriverOpts: null;
  DNSNames: string[] | null;
}
