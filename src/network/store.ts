// Network records and container endpoints in the engine's database (the rows:
// src/store/networks.ts), with the endpoint's result typed as CNI's.
import { NetworkRows, type EndpointRecord as StoredEndpoint } from "../store/networks.ts";
import type { CniResult } from "./cni.ts";

export type { NetworkRecord, PublishedPort } from "../store/networks.ts";
export type EndpointRecord = StoredEndpoint<CniResult>;

export class NetworkStore extends NetworkRows<CniResult> {}
