// Image references, normalised as docker's distribution/reference does:
//   busybox            → docker.io/library/busybox:latest
//   me/app:1           → docker.io/me/app:1
//   localhost:5000/x   → localhost:5000/x:latest
//   x@sha256:<64 hex>  → docker.io/library/x@sha256:…
// The first path component is a registry domain only when it contains "." or
// ":" or is "localhost" (or has upper case letters); repository paths are lower case.
//
// Unqualified names mean docker.io unless registries.json names one
// "unqualified-search-registries" entry R: then busybox → R/busybox:latest
// (no "library/", which is Docker Hub's), R's names print short and docker.io's
// in full. Read once per process. See docs/decisions/0008-mirrors-and-short-names.md.
import { loadRegistriesConfig } from "./registries-config.ts";
import { invalid } from "../util/errors.ts";

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";
const DEFAULT_TAG = "latest";

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const NAME_TOTAL_MAX = 255;

export interface Reference {
  /** Registry host[:port], e.g. "docker.io", "localhost:5000". */
  domain: string;
  /** Repository path inside the registry, e.g. "library/busybox". */
  path: string;
  tag?: string;
  digest?: string;
}

export function isSha256Digest(s: string): boolean {
  return SHA256_DIGEST.test(s);
}

let shortNameDomain: string | undefined;

/** The registry an unqualified name resolves to: docker.io, or the one registries.json names. */
export function shortNameRegistry(): string {
  return (shortNameDomain ??= loadRegistriesConfig().shortNameRegistry ?? DEFAULT_DOMAIN);
}

function splitDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf("/");
  let domain: string;
  let remainder: string;
  const first = i === -1 ? "" : name.slice(0, i);
  if (i === -1 || (!first.includes(".") && !first.includes(":") && first !== "localhost" && first.toLowerCase() === first)) {
    domain = shortNameRegistry();
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes("/")) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Parses a reference as users write it (docker's ParseNormalizedNamed) and
 * normalises it. No tag is added here: see withDefaultTag.
 */
export function parseReference(input: string): Reference {
  const s = input.trim();
  if (s === "") throw invalid("invalid reference format: empty reference");
  if (/^[a-f0-9]{64}$/.test(s)) throw invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(`invalid reference format: bad digest in ${JSON.stringify(input)}`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(`invalid reference format: bad tag in ${JSON.stringify(input)}`);
  }
  const { domain, remainder } = splitDomain(rest);
  if (remainder.toLowerCase() !== remainder) {
    throw invalid(`invalid reference format: repository name (${remainder}) must be lowercase`);
  }
  if (!DOMAIN.test(domain)) throw invalid(`invalid reference format: bad registry ${JSON.stringify(domain)} in ${JSON.stringify(input)}`);
  const parts = remainder.split("/");
  if (parts.some((p) => !PATH_COMPONENT.test(p))) throw invalid(`invalid reference format: ${JSON.stringify(input)}`);
  if (domain.length + 1 + remainder.length > NAME_TOTAL_MAX) throw invalid(`invalid reference format: repository name must not be more than ${NAME_TOTAL_MAX} characters`);
  const ref: Reference = { domain, path: remainder };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Adds ":latest" when the reference has neither tag nor digest (docker's TagNameOnly). */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** "docker.io/library/busybox" */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalised string: "docker.io/library/busybox:latest", "localhost:5000/x@sha256:…". */
export function referenceString(ref: Reference): string {
  return repositoryName(ref) + (ref.tag !== undefined ? ":" + ref.tag : "") + (ref.digest !== undefined ? "@" + ref.digest : "");
}

/** Parses, adds ":latest" when needed and returns the full normalised string. */
export function normalizeReference(input: string): string {
  return referenceString(withDefaultTag(parseReference(input)));
}

/**
 * The repository as docker prints it: "busybox", "me/app", "localhost:5000/x".
 * The registry stays when the short form would read as another registry's
 * name (docker.io/a.b/c is not a.b/c, which means registry a.b): the short
 * form is fed back as a reference (RepoTags, saved archives).
 */
export function familiarRepository(ref: Reference): string {
  if (ref.domain !== shortNameRegistry()) return repositoryName(ref);
  let short = ref.path;
  if (ref.domain === DEFAULT_DOMAIN && ref.path.startsWith(OFFICIAL_REPO_PREFIX) && ref.path.split("/").length === 2) short = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
  return splitDomain(short).domain === ref.domain ? short : repositoryName(ref);
}

/** The display form docker prints in `images`: "busybox:latest", "me/app@sha256:…". */
export function familiarString(refOrString: Reference | string): string {
  const ref = typeof refOrString === "string" ? parseReference(refOrString) : refOrString;
  return familiarRepository(ref) + (ref.tag !== undefined ? ":" + ref.tag : "") + (ref.digest !== undefined ? "@" + ref.digest : "");
}
