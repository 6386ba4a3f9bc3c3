// Manifests as a registry serves them: OCI manifest and index, Docker schema2
// manifest and manifest list. Parsed strictly enough that a malformed or
// hostile document fails with one clear line before anything is downloaded.
import { invalid } from "../util/errors.ts";
import { isSha256Digest } from "../image/reference.ts";
import { MEDIA, type Descriptor, type Index, type Manifest, type Platform } from "../image/oci.ts";

/** Larger manifests are refused (docker's and containerd's limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Image configs larger than this are refused. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** What we ask for, best first. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerManifestList, MEDIA.dockerManifest].join(", ");

const LAYER_TYPES = new Set<string>([
  MEDIA.ociLayer,
  MEDIA.ociLayerGzip,
  MEDIA.ociLayerZstd,
  MEDIA.dockerLayer,
  MEDIA.dockerLayerGzip,
  // Non-distributable ("foreign") layers are pulled like any other when the registry has them.
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
]);

export type Parsed = { kind: "index"; mediaType: string; index: Index } | { kind: "manifest"; mediaType: string; manifest: Manifest };

function checkDescriptor(d: unknown, what: string): Descriptor {
  const x = d as Partial<Descriptor> | null;
  if (!x || typeof x !== "object") throw invalid(`${what}: not an object`);
  if (typeof x.mediaType !== "string") throw invalid(`${what}: no mediaType`);
  if (typeof x.digest !== "string" || !isSha256Digest(x.digest)) throw invalid(`${what}: unsupported or malformed digest ${JSON.stringify(x.digest)}`);
  if (typeof x.size !== "number" || !Number.isSafeInteger(x.size) || x.size < 0) throw invalid(`${what}: bad size ${JSON.stringify(x.size)}`);
  return x as Descriptor;
}

/**
 * Parses manifest bytes. The media type comes from the document, else from the
 * Content-Type header; an index is recognised by `manifests`, a manifest by `config`.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what: string): Parsed {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw invalid(`${what}: malformed manifest: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw invalid(`${what}: malformed manifest: not a JSON object`);
  const d = doc as { schemaVersion?: unknown; mediaType?: unknown; manifests?: unknown; config?: unknown; layers?: unknown };
  const ct = contentType?.split(";")[0]?.trim();
  const mediaType = typeof d.mediaType === "string" ? d.mediaType : Array.isArray(d.manifests) ? MEDIA.ociIndex : d.config !== undefined ? MEDIA.ociManifest : (ct ?? "");
  if (d.schemaVersion === 1 || mediaType.startsWith("application/vnd.docker.distribution.manifest.v1")) throw invalid(`${what}: Docker schema 1 manifests are not supported (deprecated format)`);
  if (d.schemaVersion !== 2) throw invalid(`${what}: malformed manifest: schemaVersion ${JSON.stringify(d.schemaVersion)} (want 2)`);
  if (mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerManifestList) {
    if (!Array.isArray(d.manifests)) throw invalid(`${what}: malformed index: no manifests`);
    const manifests = d.manifests.map((m, i) => checkDescriptor(m, `${what}: index entry ${i}`));
    return { kind: "index", mediaType, index: { ...(doc as Index), manifests } };
  }
  if (mediaType === MEDIA.ociManifest || mediaType === MEDIA.dockerManifest) {
    const config = checkDescriptor(d.config, `${what}: config`);
    if (!Array.isArray(d.layers)) throw invalid(`${what}: malformed manifest: no layers`);
    const layers = d.layers.map((l, i) => checkDescriptor(l, `${what}: layer ${i + 1}`));
    for (const l of layers) if (!LAYER_TYPES.has(l.mediaType)) throw invalid(`${what}: unsupported layer media type ${l.mediaType}`);
    if (config.mediaType !== MEDIA.ociConfig && config.mediaType !== MEDIA.dockerConfig) {
      throw invalid(`${what}: not a container image (config media type ${config.mediaType})`);
    }
    return { kind: "manifest", mediaType, manifest: { ...(doc as Manifest), config, layers } };
  }
  throw invalid(`${what}: unsupported manifest media type ${JSON.stringify(mediaType)}`);
}

/** This machine's platform in OCI terms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64" };
  const p: Platform = { os: "linux", architecture: arch[process.arch] ?? process.arch };
  if (process.arch === "arm") p.variant = `v${String((process.config.variables as { arm_version?: string | number }).arm_version ?? "7")}`;
  if (process.arch === "arm64") p.variant = "v8";
  return p;
}

/** "linux/arm64/v8" → platform; os alone is not enough. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) throw invalid(`invalid platform ${JSON.stringify(s)}: expected os/arch[/variant]`);
  const arch = parts[1] === "x86_64" || parts[1] === "x86-64" ? "amd64" : parts[1] === "aarch64" ? "arm64" : parts[1]!;
  const p: Platform = { os: parts[0]!, architecture: arch };
  if (parts[2]) p.variant = parts[2];
  return p;
}

export function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

const normVariant = (p: Platform): string | undefined => (p.architecture === "arm64" && (p.variant === undefined || p.variant === "v8") ? undefined : p.variant);

export function platformEquals(have: Platform, want: Platform): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  const wv = normVariant(want);
  return wv === undefined || normVariant(have) === wv;
}

/** The index entry for `want`, skipping attestations ("unknown/unknown") and non-image entries. */
export function selectFromIndex(index: Index, want: Platform, what: string): Descriptor {
  const images = index.manifests.filter((m) => m.mediaType === MEDIA.ociManifest || m.mediaType === MEDIA.dockerManifest || m.mediaType === MEDIA.ociIndex || m.mediaType === MEDIA.dockerManifestList);
  const candidates = images.filter((m) => m.platform && platformEquals(m.platform, want));
  // A variant-less request takes the first match; a variant-specific one already filtered.
  const exact = candidates.find((m) => m.platform?.variant === want.variant) ?? candidates[0];
  if (exact) return exact;
  const offered = [...new Set(images.map((m) => (m.platform ? platformString(m.platform) : "unknown")))].filter((p) => p !== "unknown/unknown");
  throw invalid(`${what}: no matching manifest for ${platformString(want)} in the manifest list entries (available: ${offered.join(", ") || "none"})`);
}
