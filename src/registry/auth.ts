// Registry credentials, in docker's config.json format:
//   { "auths": { "registry.example:5000": { "auth": base64("user:password") } } }
//
// Written by `capsa login` to capsa's own file: $CAPSA_AUTH_FILE, else
// <state root>/auth.json (mode 0600, replaced atomically). Read from that file
// first, then from docker's: $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json — so an existing `docker login` works unchanged.
// Docker Hub's key is docker's "https://index.docker.io/v1/". Credential
// helpers (credsStore, credHelpers) are not supported.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { invalid } from "../util/errors.ts";

export interface Credentials {
  username: string;
  password: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  [k: string]: unknown;
}

export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";

/** The key a registry host is stored under (docker's convention for Docker Hub). */
export function authKey(host: string): string {
  return host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io" ? DOCKER_HUB_AUTH_KEY : host;
}

/** "https://reg:5000/v1/" → "reg:5000"; Docker Hub's aliases → "docker.io". */
function normalizeKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  return host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;
}

export function capsaAuthFile(root: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.CAPSA_AUTH_FILE || path.join(root, "auth.json");
}

export function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), ".docker"), "config.json");
}

function readAuthFile(file: string): AuthFile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw invalid(`reading credentials ${file}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
    return v as AuthFile;
  } catch (e) {
    throw invalid(`credentials file ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

function decode(entry: AuthEntry, file: string, key: string): Credentials | undefined {
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const text = Buffer.from(entry.auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon === -1) throw invalid(`credentials file ${file}: invalid auth entry for ${key}`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export class AuthStore {
  constructor(
    /** capsa's own file: read first, and the one login/logout write. */
    readonly file: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Credentials for a registry host, from capsa's file, else docker's. */
  get(host: string): Credentials | undefined {
    const want = normalizeKey(host);
    for (const file of [this.file, dockerConfigFile(this.env)]) {
      const auths = readAuthFile(file).auths ?? {};
      for (const [key, entry] of Object.entries(auths)) {
        if (normalizeKey(key) !== want) continue;
        const c = decode(entry, file, key);
        if (c) return c;
      }
    }
    return undefined;
  }

  set(host: string, creds: Credentials): void {
    const data = readAuthFile(this.file);
    const auths = { ...(data.auths ?? {}) };
    for (const k of Object.keys(auths)) if (normalizeKey(k) === normalizeKey(host)) delete auths[k];
    auths[authKey(host)] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64") };
    this.write({ ...data, auths });
  }

  /** Removes the host's entry; false when there was none in capsa's file. */
  remove(host: string): boolean {
    const data = readAuthFile(this.file);
    const auths = { ...(data.auths ?? {}) };
    let found = false;
    for (const k of Object.keys(auths)) {
      if (normalizeKey(k) === normalizeKey(host)) {
        delete auths[k];
        found = true;
      }
    }
    if (found) this.write({ ...data, auths });
    return found;
  }

  private write(data: AuthFile): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${crypto.randomBytes(4).toString("hex")}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(data, null, "\t") + "\n", { mode: 0o600, flag: "wx" });
      fs.renameSync(tmp, this.file);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
}
