// OCI and Docker image formats: media types, manifests, indexes and the
// arithmetic on them (chain ids, platform choice).
import crypto from "node:crypto";
import type { Compression } from "../archive/compression.ts";

export const MEDIA = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";
export const ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name";

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** One entry of a `docker save` manifest.json. */
export interface DockerArchiveManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

export const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };

/** Layer media type for a blob with this compression (OCI types: what we write). */
export function layerMediaType(c: Compression): string {
  switch (c) {
    case "gzip":
      return MEDIA.ociLayerGzip;
    case "zstd":
      return MEDIA.ociLayerZstd;
    default:
      return MEDIA.ociLayer;
  }
}

/** The OCI equivalent of a Docker layer media type (other types pass through). */
export function toOciLayerType(mediaType: string): string {
  if (mediaType === MEDIA.dockerLayer) return MEDIA.ociLayer;
  if (mediaType === MEDIA.dockerLayerGzip) return MEDIA.ociLayerGzip;
  return mediaType;
}

export const isIndexType = (t: string | undefined): boolean => t === MEDIA.ociIndex || t === MEDIA.dockerManifestList;

/** chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : "sha256:" + crypto.createHash("sha256").update(`${prev} ${d}`).digest("hex"));
  }
  return out;
}

export function platformMatches(p: Platform | undefined, want: Platform = DEFAULT_PLATFORM): boolean {
  if (!p) return true;
  return p.os === want.os && p.architecture === want.architecture;
}

/** Canonical JSON bytes for blobs we create (stable key order as written). */
export function jsonBytes(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

/** The OCI manifest of an image capsa made (or loaded without one): its config and layer blobs. */
export function manifestFor(configDigest: string, configSize: number, layers: { mediaType: string; blobDigest: string; blobSize: number }[]): Buffer {
  const m: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: configSize },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.blobDigest, size: l.blobSize })),
  };
  return jsonBytes(m);
}
