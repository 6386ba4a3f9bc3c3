// The registry client as the engine uses it: one object per operation, holding
// an HTTP client (and its token cache) per registry host.
//
//   const r = new Registry(imageStore);
//   try { await r.pull("localhost:5000/app:1", { platform: "linux/amd64" }); } finally { r.close(); }
//
// ImageStore.pull/push/login/logout wrap exactly this.
import type { ImageRecord } from "../engine/types.ts";
import { parseReference, referenceString, repositoryName, withDefaultTag, type Reference } from "../image/reference.ts";
import type { ImageStore } from "../image/store.ts";
import { invalid } from "../util/errors.ts";
import { AuthStore, capsaAuthFile } from "./auth.ts";
import { loadRegistriesConfig, transportFor, type RegistriesConfig } from "./config.ts";
import { pushImage } from "./push.ts";
import { listTags, pullImage } from "./pull.ts";
import { RegistryClient } from "./transport.ts";
import type { LoginOptions, PullOptions, PushOptions, PushResult } from "./types.ts";

/** Docker Hub's API lives on another host than its name. */
function apiHost(domain: string): string {
  return domain === "docker.io" ? "registry-1.docker.io" : domain;
}

/** "localhost:5000", "https://reg.example/v1/" → "reg.example"; none → docker.io. */
export function registryHost(s: string | undefined): string {
  if (!s) return "docker.io";
  const host = s.trim().replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  if (host === "" || /\s/.test(host)) throw invalid(`invalid registry address ${JSON.stringify(s)}`);
  return host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;
}

export class Registry {
  private readonly clients = new Map<string, RegistryClient>();
  private config: RegistriesConfig | undefined;
  readonly auth: AuthStore;

  constructor(
    private readonly store: ImageStore,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.auth = new AuthStore(capsaAuthFile(store.stateRoot, env), env);
  }

  private client(domain: string, creds = this.auth.get(domain)): RegistryClient {
    let c = this.clients.get(domain);
    if (!c) {
      this.config ??= loadRegistriesConfig(this.env);
      c = new RegistryClient(apiHost(domain), transportFor(domain, this.config, this.env), creds);
      this.clients.set(domain, c);
    }
    return c;
  }

  /** Pulls ref (a tag, default latest, or a digest) and returns the stored image. */
  async pull(ref: string, opts: PullOptions = {}): Promise<ImageRecord> {
    const r = withDefaultTag(parseReference(ref));
    return pullImage(this.store, this.client(r.domain), r, opts);
  }

  /** Pulls every tag of a repository, in the registry's order. */
  async pullAllTags(repository: string, opts: PullOptions = {}): Promise<ImageRecord[]> {
    const r = parseReference(repository);
    if (r.tag !== undefined || r.digest !== undefined) throw invalid(`tag can't be used with --all-tags/-a`);
    const tags = await this.listTags(r);
    if (tags.length === 0) throw invalid(`${repositoryName(r)}: the repository has no tags`);
    const out: ImageRecord[] = [];
    for (const tag of tags) out.push(await pullImage(this.store, this.client(r.domain), { ...r, tag }, opts));
    return out;
  }

  async listTags(repository: Reference | string): Promise<string[]> {
    const r = typeof repository === "string" ? parseReference(repository) : repository;
    return listTags(this.client(r.domain), r.path, repositoryName(r));
  }

  /** Pushes a local image to dest (default: its own name, which then names a registry). */
  async push(localRef: string, destRef?: string, opts: PushOptions = {}): Promise<PushResult> {
    const dest = parseReference(destRef ?? localRef);
    if (destRef === undefined && dest.tag === undefined && dest.digest === undefined) {
      // `push repo` pushes repo:latest as docker's single-tag push does.
      return pushImage(this.store, this.client(dest.domain), referenceString(withDefaultTag(dest)), dest, opts);
    }
    return pushImage(this.store, this.client(dest.domain), localRef, dest, opts);
  }

  /** Checks the credentials with the registry (GET /v2/, answering its challenge), then stores them. */
  async login(registry: string | undefined, creds: LoginOptions): Promise<void> {
    const host = registryHost(registry);
    if (!creds.username) throw invalid("login: username is required");
    if (!creds.password) throw invalid("login: password is required");
    this.clients.get(host)?.close();
    this.clients.delete(host);
    const c = this.client(host, { username: creds.username, password: creds.password });
    await c.checkLogin();
    this.auth.set(host, { username: creds.username, password: creds.password });
  }

  logout(registry: string | undefined): boolean {
    return this.auth.remove(registryHost(registry));
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
