// The registry client as the engine uses it: one object per operation, holding
// an HTTP client (and its token cache) per registry host. Pulls try the
// registry's configured mirrors first; pushes go to the registry only.
//
//   const r = new Registry(imageStore);  // pulls write into it
//   try { await r.pull("localhost:5000/app:1", { platform: "linux/amd64" }); } finally { r.close(); }
//
// The engine's image verbs (src/engine/images.ts) wrap exactly this.
import type { ImageRecord } from "../types/records.ts";
import { familiarString, parseReference, referenceString, repositoryName, withDefaultTag, type Reference } from "../image/reference.ts";
import type { ImageStore } from "../image/store.ts";
import { CapsaError, invalid } from "../util/errors.ts";
import { AuthStore, capsaAuthFile, type Credentials } from "./auth.ts";
import { canonicalHost, loadRegistriesConfig, type RegistriesConfig } from "../image/registries-config.ts";
import { transportFor } from "./config.ts";
import { pushImage } from "./push.ts";
import { listTags, pullImage } from "./pull.ts";
import { RegistryClient } from "./transport.ts";
import type { LoginOptions, PullOptions, PushOptions, PushResult } from "../types/registry.ts";

/** Docker Hub's API lives on another host than its name. */
function apiHost(domain: string): string {
  return domain === "docker.io" ? "registry-1.docker.io" : domain;
}

/** "localhost:5000", "https://reg.example/v1/" → "reg.example"; none → docker.io. */
function registryHost(s: string | undefined): string {
  if (!s) return "docker.io";
  const host = s.trim().replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  if (host === "" || /\s/.test(host)) throw invalid(`invalid registry address ${JSON.stringify(s)}`);
  return canonicalHost(host);
}

/** Where a pull can come from: a mirror (its repository path) or the registry itself. */
interface Source {
  domain: string;
  repo: string;
  mirror: boolean;
}

/** "what: detail" → "detail" (the combined mirror error names the image once). */
function withoutPrefix(message: string, what: string): string {
  return message.startsWith(`${what}: `) ? message.slice(what.length + 2) : message;
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

  private settings(): RegistriesConfig {
    return (this.config ??= loadRegistriesConfig(this.env));
  }

  /** The client for a registry; creds given: this operation's own (they replace the stored ones for it). */
  private async client(domain: string, creds?: Credentials): Promise<RegistryClient> {
    let c = this.clients.get(domain);
    if (!c) {
      const settings = transportFor(domain, this.settings(), this.env);
      c = new RegistryClient(apiHost(domain), settings, creds ?? (await this.auth.get(domain)));
      this.clients.set(domain, c);
    }
    return c;
  }

  /** The mirrors of ref's registry, in order, then the registry itself. */
  private sources(r: Reference): Source[] {
    const mirrors = this.settings().mirrors[r.domain] ?? [];
    return [...mirrors.map((m) => ({ domain: m.host, repo: m.prefix ? `${m.prefix}/${r.path}` : r.path, mirror: true })), { domain: r.domain, repo: r.path, mirror: false }];
  }

  /**
   * Runs fn against each source until one succeeds. Request credentials go
   * only to the image's own registry: a mirror uses what is stored for it.
   * All failed: one error naming each source's failure.
   */
  private async fromSources<T>(r: Reference, creds: Credentials | undefined, fn: (client: RegistryClient, repo: string) => Promise<T>): Promise<T> {
    const what = familiarString(r);
    const failures: string[] = [];
    for (const src of this.sources(r)) {
      try {
        return await fn(await this.client(src.domain, src.mirror ? undefined : creds), src.repo);
      } catch (e) {
        if (!src.mirror) {
          if (failures.length === 0) throw e;
          const err = e instanceof CapsaError ? e : new CapsaError("system", (e as Error).message);
          throw new CapsaError(err.kind, `${what}: ${failures.join("; ")}; then ${withoutPrefix(err.message, what)}`);
        }
        failures.push(`mirror ${src.domain}: ${withoutPrefix((e as Error).message, what)}`);
      }
    }
    throw new CapsaError("system", `${what}: no source to pull from`);
  }

  /** Pulls ref (a tag, default latest, or a digest) and returns the stored image. */
  async pull(ref: string, opts: PullOptions = {}): Promise<ImageRecord> {
    const r = withDefaultTag(parseReference(ref));
    return this.fromSources(r, opts.credentials, (client, repo) => pullImage(this.store, client, r, opts, repo));
  }

  /** Pulls every tag of a repository, in the registry's order. */
  async pullAllTags(repository: string, opts: PullOptions = {}): Promise<ImageRecord[]> {
    const r = parseReference(repository);
    if (r.tag !== undefined || r.digest !== undefined) throw invalid(`tag can't be used with --all-tags/-a`);
    const tags = await this.fromSources(r, opts.credentials, (client, repo) => listTags(client, repo, repositoryName(r)));
    if (tags.length === 0) throw invalid(`${repositoryName(r)}: the repository has no tags`);
    const out: ImageRecord[] = [];
    for (const tag of tags) out.push(await this.pull(referenceString({ ...r, tag }), opts));
    return out;
  }

  async listTags(repository: Reference | string): Promise<string[]> {
    const r = typeof repository === "string" ? parseReference(repository) : repository;
    return listTags(await this.client(r.domain), r.path, repositoryName(r));
  }

  /** Pushes a local image to dest (default: its own name, which then names a registry). Never to a mirror. */
  async push(localRef: string, destRef?: string, opts: PushOptions = {}): Promise<PushResult> {
    const dest = parseReference(destRef ?? localRef);
    const client = await this.client(dest.domain, opts.credentials);
    if (destRef === undefined && dest.tag === undefined && dest.digest === undefined) {
      // `push repo` pushes repo:latest as docker's single-tag push does.
      return pushImage(this.store, client, referenceString(withDefaultTag(dest)), dest, opts);
    }
    return pushImage(this.store, client, localRef, dest, opts);
  }

  /** Checks the credentials with the registry (GET /v2/, answering its challenge), then stores them unless save is false. */
  async login(registry: string | undefined, creds: LoginOptions): Promise<void> {
    const host = registryHost(registry);
    if (!creds.username) throw invalid("login: username is required");
    if (!creds.password) throw invalid("login: password is required");
    this.clients.get(host)?.close();
    this.clients.delete(host);
    const c = await this.client(host, { username: creds.username, password: creds.password });
    await c.checkLogin();
    if (creds.save !== false) await this.auth.set(host, { username: creds.username, password: creds.password });
  }

  logout(registry: string | undefined): Promise<boolean> {
    return this.auth.remove(registryHost(registry));
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
