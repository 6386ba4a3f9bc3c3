// Per-registry transport settings (the "registries" section of registries.json,
// read by src/image/registries-config.ts). Also read, as docker does:
// /etc/docker/certs.d/<host>/*.crt (extra CAs for that host; directory
// overridable by $CAPSA_CERTS_D).
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
import type { RegistriesConfig } from "../image/registries-config.ts";

const DEFAULT_CERTS_D = "/etc/docker/certs.d";

/** 127.0.0.0/8, ::1 and localhost, with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = hostname(host);
  return name === "localhost" || name === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** "[::1]:5000" → "::1"; "reg:5000" → "reg". */
function hostname(host: string): string {
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

export function transportFor(host: string, config: Pick<RegistriesConfig, "registries">, env: NodeJS.ProcessEnv = process.env): TransportSettings {
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
