// Per-registry transport settings, in the spirit of containers' registries.conf
// but as JSON (no TOML parser needed):
//
//   {
//     "registries": {
//       "registry.example:5000": { "ca": "/etc/capsa/certs/example-ca.pem" },
//       "10.0.0.5:5000":         { "insecure": true },
//       "build-cache:5000":      { "http": true }
//     }
//   }
//
// Path: $CAPSA_REGISTRIES_CONF, else /etc/capsa/registries.json (a missing file
// means defaults). Also read, as docker does: /etc/docker/certs.d/<host>/*.crt
// (extra CAs for that host; directory overridable by $CAPSA_CERTS_D).
//
// - default: https, verified against the system CAs (plus any configured CA);
// - `insecure`: https without certificate verification, then plain http when
//   the server does not speak TLS (docker's --insecure-registry);
// - `http`: plain http only;
// - loopback hosts (localhost, 127.0.0.0/8, ::1) try https first and fall back
//   to plain http when the server does not speak TLS, as docker allows. Their
//   certificates are still verified when they do speak TLS (unless `insecure`).
import fs from "node:fs";
import path from "node:path";
import { invalid } from "../util/errors.ts";
import { readConfigFile } from "../util/config-file.ts";

export interface RegistryHostConfig {
  /** PEM file(s) of extra CAs trusted for this registry. */
  ca?: string | string[];
  /** https without verification, falling back to http. */
  insecure?: boolean;
  /** Plain http only. */
  http?: boolean;
}

export interface RegistriesConfig {
  registries: Record<string, RegistryHostConfig>;
}

export const DEFAULT_REGISTRIES_CONF = "/etc/capsa/registries.json";
export const DEFAULT_CERTS_D = "/etc/docker/certs.d";

export function registriesConfPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.CAPSA_REGISTRIES_CONF || DEFAULT_REGISTRIES_CONF;
}

export function loadRegistriesConfig(env: NodeJS.ProcessEnv = process.env): RegistriesConfig {
  const file = registriesConfPath(env);
  const parsed = readConfigFile(file);
  if (parsed === undefined) return { registries: {} };
  const regs: unknown = parsed && typeof parsed === "object" && "registries" in parsed ? parsed.registries : {};
  if (typeof regs !== "object" || regs === null || Array.isArray(regs)) throw invalid(`${file}: "registries" must be an object of host → settings`);
  return { registries: regs as Record<string, RegistryHostConfig> };
}

/** 127.0.0.0/8, ::1 and localhost, with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = hostname(host);
  return name === "localhost" || name === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** "[::1]:5000" → "::1"; "reg:5000" → "reg". */
export function hostname(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]"));
  const i = host.lastIndexOf(":");
  return i === -1 ? host : host.slice(0, i);
}

export interface TransportSettings {
  /** Schemes to try, in order. */
  schemes: ("https" | "http")[];
  /** Verify TLS certificates. */
  verify: boolean;
  /** Extra CA certificates (PEM), added to the system's. */
  ca: string[];
}

export function transportFor(host: string, config: RegistriesConfig, env: NodeJS.ProcessEnv = process.env): TransportSettings {
  const c = config.registries[host] ?? {};
  const ca: string[] = [];
  for (const f of [c.ca ?? []].flat()) {
    try {
      ca.push(fs.readFileSync(f, "utf8"));
    } catch (e) {
      throw invalid(`registry ${host}: reading CA ${f}: ${(e as Error).message}`);
    }
  }
  const certsD = path.join(env.CAPSA_CERTS_D || DEFAULT_CERTS_D, host);
  try {
    for (const n of fs.readdirSync(certsD).sort()) if (n.endsWith(".crt")) ca.push(fs.readFileSync(path.join(certsD, n), "utf8"));
  } catch {
    /* no such directory */
  }
  if (c.http) return { schemes: ["http"], verify: false, ca };
  if (c.insecure) return { schemes: ["https", "http"], verify: false, ca };
  if (isLoopbackHost(host)) return { schemes: ["https", "http"], verify: true, ca };
  return { schemes: ["https"], verify: true, ca };
}
