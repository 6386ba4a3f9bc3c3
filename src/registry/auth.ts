// Registry credentials, in docker's config.json format:
//   { "auths": { "registry.example:5000": { "auth": base64("user:password") } },
//     "credsStore": "pass", "credHelpers": { "registry.example:5000": "ecr-login" } }
//
// Written by `capsa login` to capsa's own file: $CAPSA_AUTH_FILE, else
// <state root>/auth.json (mode 0600, replaced atomically). Read from that file
// first, then from docker's: $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json — so an existing `docker login` works unchanged.
// Docker Hub's key is docker's "https://index.docker.io/v1/".
//
// Credential helpers work as in docker: in a file, `credHelpers[host]` wins,
// else `credsStore`; `docker-credential-<name> get` reads the server on stdin
// and answers {"Username","Secret"} (Username "<token>": Secret is an identity
// token). `login`/`logout` use the helper configured in capsa's own file
// (`store`, `erase`), so no secret is written to disk by capsa then.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CapsaError, invalid } from "../util/errors.ts";
import type { Credentials } from "../types/registry.ts";

export type { Credentials };

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";
/** The Username a credential helper answers when Secret is an identity token. */
const TOKEN_USERNAME = "<token>";
const HELPER_TIMEOUT_MS = 30_000;

/** The key a registry host is stored under (docker's convention for Docker Hub). */
function authKey(host: string): string {
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

function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
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
  const token = typeof entry.identitytoken === "string" && entry.identitytoken !== "" ? { identityToken: entry.identitytoken } : {};
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password, ...token };
  if (!entry.auth) return token.identityToken ? { username: "", password: "", ...token } : undefined;
  const text = Buffer.from(entry.auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon === -1) throw invalid(`credentials file ${file}: invalid auth entry for ${key}`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1), ...token };
}

/** The helper a file names for this host (credHelpers first, as docker), with where it was configured. */
function helperFor(data: AuthFile, file: string, host: string): { name: string; where: string } | undefined {
  const want = normalizeKey(host);
  for (const [key, name] of Object.entries(data.credHelpers ?? {})) {
    if (normalizeKey(key) === want && typeof name === "string" && name !== "") return { name, where: `credHelpers in ${file}` };
  }
  if (typeof data.credsStore === "string" && data.credsStore !== "") return { name: data.credsStore, where: `credsStore in ${file}` };
  return undefined;
}

/** A helper's "no such credentials" answer (docker-credential-helpers' errCredentialsNotFound). */
const NOT_FOUND = /credentials not found/i;

interface HelperResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `docker-credential-<name> <verb>` with input on stdin. */
function runHelper(helper: { name: string; where: string }, verb: "get" | "store" | "erase", input: string, env: NodeJS.ProcessEnv): Promise<HelperResult> {
  const bin = `docker-credential-${helper.name}`;
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    const child = spawn(bin, [verb], { env, stdio: ["pipe", "pipe", "pipe"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), HELPER_TIMEOUT_MS);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin.on("error", () => {
      /* the helper exited without reading: its status says why */
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new CapsaError(
          "invalid",
          e.code === "ENOENT" ? `credential helper ${bin} (${helper.where}) is not installed: not found in PATH` : `credential helper ${bin} (${helper.where}): ${e.message}`,
        ),
      );
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal) reject(new CapsaError("system", `credential helper ${bin} ${verb}: killed by ${signal}${signal === "SIGKILL" ? ` (no answer within ${HELPER_TIMEOUT_MS / 1000}s)` : ""}`));
      else resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

function helperFailure(helper: { name: string }, verb: string, r: HelperResult): CapsaError {
  const text = (r.stderr.trim() || r.stdout.trim() || `exit status ${r.code}`).split("\n")[0]!;
  return new CapsaError("system", `credential helper docker-credential-${helper.name} ${verb}: ${text}`);
}

export class AuthStore {
  constructor(
    /** capsa's own file: read first, and the one login/logout write. */
    readonly file: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Credentials for a registry host, from capsa's file, else docker's; each file's helper first. */
  async get(host: string): Promise<Credentials | undefined> {
    const want = normalizeKey(host);
    for (const file of [this.file, dockerConfigFile(this.env)]) {
      const data = readAuthFile(file);
      const helper = helperFor(data, file, host);
      if (helper) {
        const c = await this.helperGet(helper, host);
        if (c) return c;
      }
      for (const [key, entry] of Object.entries(data.auths ?? {})) {
        if (normalizeKey(key) !== want) continue;
        const c = decode(entry, file, key);
        if (c) return c;
      }
    }
    return undefined;
  }

  private async helperGet(helper: { name: string; where: string }, host: string): Promise<Credentials | undefined> {
    const r = await runHelper(helper, "get", authKey(host), this.env);
    if (r.code !== 0) {
      if (NOT_FOUND.test(r.stdout) || NOT_FOUND.test(r.stderr)) return undefined;
      throw helperFailure(helper, "get", r);
    }
    let j: { Username?: unknown; Secret?: unknown };
    try {
      j = JSON.parse(r.stdout) as { Username?: unknown; Secret?: unknown };
    } catch {
      throw new CapsaError("system", `credential helper docker-credential-${helper.name} get: the answer is not JSON`);
    }
    if (typeof j.Secret !== "string" || j.Secret === "") return undefined;
    const username = typeof j.Username === "string" ? j.Username : "";
    return username === TOKEN_USERNAME ? { username: "", password: "", identityToken: j.Secret } : { username, password: j.Secret };
  }

  async set(host: string, creds: Credentials): Promise<void> {
    const data = readAuthFile(this.file);
    const helper = helperFor(data, this.file, host);
    const auths = { ...(data.auths ?? {}) };
    let had = false;
    for (const k of Object.keys(auths)) {
      if (normalizeKey(k) === normalizeKey(host)) {
        delete auths[k];
        had = true;
      }
    }
    if (helper) {
      const secret = creds.identityToken ? { Username: TOKEN_USERNAME, Secret: creds.identityToken } : { Username: creds.username, Secret: creds.password };
      const r = await runHelper(helper, "store", JSON.stringify({ ServerURL: authKey(host), ...secret }), this.env);
      if (r.code !== 0) throw helperFailure(helper, "store", r);
      // An older plain-text entry would still be read: drop it.
      if (had) this.write({ ...data, auths });
      return;
    }
    const entry: AuthEntry = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64") };
    if (creds.identityToken) entry.identitytoken = creds.identityToken;
    auths[authKey(host)] = entry;
    this.write({ ...data, auths });
  }

  /** Removes the host's credentials (the helper's and the file's); false when there were none. */
  async remove(host: string): Promise<boolean> {
    const data = readAuthFile(this.file);
    const helper = helperFor(data, this.file, host);
    let found = false;
    if (helper) {
      const r = await runHelper(helper, "erase", authKey(host), this.env);
      if (r.code === 0) found = true;
      else if (!NOT_FOUND.test(r.stdout) && !NOT_FOUND.test(r.stderr)) throw helperFailure(helper, "erase", r);
    }
    const auths = { ...(data.auths ?? {}) };
    let inFile = false;
    for (const k of Object.keys(auths)) {
      if (normalizeKey(k) === normalizeKey(host)) {
        delete auths[k];
        inFile = true;
      }
    }
    if (inFile) this.write({ ...data, auths });
    return found || inFile;
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
