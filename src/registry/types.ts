// What front ends pass to, and get from, the registry client.

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
}

export interface PushOptions {
  /** Manifest format to push: OCI (default) or Docker schema2 ("v2s2"). */
  format?: "oci" | "v2s2";
  progress?: ProgressFn;
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
}
