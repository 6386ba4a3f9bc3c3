// The registries config file, in the spirit of containers' registries.conf
// but as JSON (no TOML parser needed):
//
//   {
//     "registries": {
//       "registry.example:5000": { "ca": "/etc/capsa/certs/example-ca.pem" },
//       "10.0.0.5:5000":         { "insecure": true },
//       "build-cache:5000":      { "http": true }
//     },
//     "mirrors": { "docker.io": ["mirror.example:5000", "cache.example/hub"] },
//     "unqualified-search-registries": ["registry.example:5000"]
//   }
//
// Path: $CAPSA_REGISTRIES_CONF, else /etc/capsa/registries.json (a missing file
// means defaults). What the transport settings mean: src/registry/config.ts.
//
// Mirrors (pulls only, tried in order before the registry itself; a mirror
// may hold the repositories under a path prefix) and the registry that
// unqualified names ("busybox") mean: see docs/registry.md and
// docs/decisions/0008-mirrors-and-short-names.md.
//
// The file is read here, below both users: image references need the
// short-name registry, the registry client the rest.
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

/** A pull mirror: another registry host, holding the repositories under `prefix` ("" for none). */
export interface Mirror {
  host: string;
  prefix: string;
}

export interface RegistriesConfig {
  registries: Record<string, RegistryHostConfig>;
  /** Registry host → its pull mirrors, in order. */
  mirrors: Record<string, Mirror[]>;
  /** The registry unqualified names resolve to; undefined: docker.io, as docker. */
  shortNameRegistry?: string;
}

const DEFAULT_REGISTRIES_CONF = "/etc/capsa/registries.json";

function registriesConfPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.CAPSA_REGISTRIES_CONF || DEFAULT_REGISTRIES_CONF;
}

const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]{1,5})?$/;
const PREFIX = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;

/** Docker Hub's aliases → "docker.io", as references spell it. */
export function canonicalHost(host: string): string {
  return host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;
}

function parseMirror(file: string, registry: string, entry: unknown): Mirror {
  const bad = (why: string): never => {
    throw invalid(`${file}: mirror ${JSON.stringify(entry)} of ${registry}: ${why}`);
  };
  if (typeof entry !== "string" || entry === "") return bad("write it as \"host[:port][/path]\"");
  if (/^[a-z]+:\/\//i.test(entry)) return bad(`write it without a scheme; set "http" or "insecure" for the host under "registries" instead`);
  const slash = entry.indexOf("/");
  const host = slash === -1 ? entry : entry.slice(0, slash);
  const prefix = slash === -1 ? "" : entry.slice(slash + 1).replace(/\/+$/, "");
  if (!HOST.test(host)) return bad("not a registry host[:port]");
  if (prefix !== "" && !PREFIX.test(prefix)) return bad("the path after the host is not a repository path");
  return { host: canonicalHost(host), prefix };
}

export function loadRegistriesConfig(env: NodeJS.ProcessEnv = process.env): RegistriesConfig {
  const file = registriesConfPath(env);
  const parsed = readConfigFile(file);
  if (parsed === undefined) return { registries: {}, mirrors: {} };
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw invalid(`${file}: must be a JSON object`);
  const top = parsed as Record<string, unknown>;
  const regs: unknown = top.registries ?? {};
  if (typeof regs !== "object" || regs === null || Array.isArray(regs)) throw invalid(`${file}: "registries" must be an object of host → settings`);
  const mirrorsIn: unknown = top.mirrors ?? {};
  if (typeof mirrorsIn !== "object" || mirrorsIn === null || Array.isArray(mirrorsIn)) throw invalid(`${file}: "mirrors" must be an object of registry → [mirror, …]`);
  const mirrors: Record<string, Mirror[]> = {};
  for (const [registry, list] of Object.entries(mirrorsIn)) {
    if (!HOST.test(registry)) throw invalid(`${file}: "mirrors": ${JSON.stringify(registry)} is not a registry host[:port]`);
    if (!Array.isArray(list)) throw invalid(`${file}: "mirrors" of ${registry} must be a list`);
    mirrors[canonicalHost(registry)] = list.map((m) => parseMirror(file, registry, m));
  }
  const config: RegistriesConfig = { registries: regs as Record<string, RegistryHostConfig>, mirrors };
  const search = top["unqualified-search-registries"];
  if (search !== undefined) {
    if (!Array.isArray(search) || search.some((h) => typeof h !== "string" || !HOST.test(h))) {
      throw invalid(`${file}: "unqualified-search-registries" must be a list of registry hosts`);
    }
    // No search across registries: the same short name could name different images in each.
    if (search.length > 1) {
      throw invalid(`${file}: "unqualified-search-registries" lists ${search.length} registries; capsa resolves short names to exactly one (see docs/registry.md)`);
    }
    if (search.length === 1) config.shortNameRegistry = canonicalHost(search[0] as string);
  }
  return config;
}
