// What front ends pass to, and get from, the registry client.
export interface Credentials {
  username: string;
  password: string;
  /** An OAuth2 refresh token (docker's "identitytoken"), traded for bearer tokens instead of the password. */
  identityToken?: string;
}

/** One progress line, shaped like docker's JSON progress messages (id = short digest). */
export interface ProgressEvent {
  id?: string;
  status: string;
  /** Bytes so far and in total, while downloading or uploading. */
  current?: number;
  total?: number;
}

export type ProgressFn = (e: ProgressEvent) => void;

export interface PullOptions {
  /** "os/arch[/variant]"; default: this machine's. An explicit platform must match a single-platform image. */
  platform?: string;
  progress?: ProgressFn;
  /**
   * Credentials for this pull only (the API's X-Registry-Auth), used for the
   * image's own registry instead of the stored ones; never stored. Mirrors use their own.
   */
  credentials?: Credentials;
}

export interface PushOptions {
  /** Manifest format to push: OCI (default) or Docker schema2 ("v2s2"). */
  format?: "oci" | "v2s2";
  progress?: ProgressFn;
  /** Credentials for this push only (the API's X-Registry-Auth); never stored. */
  credentials?: Credentials;
}

export interface PushResult {
  /** The full destination reference, e.g. "localhost:5000/app:1". */
  ref: string;
  tag: string;
  /** Digest and size of the pushed manifest. */
  digest: string;
  size: number;
}

export interface LoginOptions {
  username: string;
  password: string;
  /** false: only check them with the registry, store nothing (the API's /auth, as dockerd). Default true. */
  save?: boolean;
}
