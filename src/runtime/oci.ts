// The subset of the OCI runtime-spec 1.0 config.json that capsa writes.
// Field names are the spec's (camelCase, lower-case keys), so a RuntimeSpec
// serialises straight to config.json.

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface OciUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface OciRlimit {
  /** RLIMIT_NOFILE, RLIMIT_NPROC, … */
  type: string;
  soft: number;
  hard: number;
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface OciProcess {
  terminal: boolean;
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
}

export type OciNamespaceType = "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup";

export interface OciNamespace {
  type: OciNamespaceType;
  /** Join this namespace (a /proc/<pid>/ns/* or bind-mounted nsfs path) instead of creating one. */
  path?: string;
}

export interface OciDevice {
  type: "c" | "b" | "u" | "p";
  path: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciDeviceRule {
  allow: boolean;
  type?: "a" | "c" | "b";
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciResources {
  devices?: OciDeviceRule[];
  memory?: { limit?: number; reservation?: number; swap?: number; disableOOMKiller?: boolean; swappiness?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
  blockIO?: { weight?: number };
}

export type SeccompAction =
  | "SCMP_ACT_KILL"
  | "SCMP_ACT_KILL_PROCESS"
  | "SCMP_ACT_KILL_THREAD"
  | "SCMP_ACT_TRAP"
  | "SCMP_ACT_ERRNO"
  | "SCMP_ACT_TRACE"
  | "SCMP_ACT_ALLOW"
  | "SCMP_ACT_LOG"
  | "SCMP_ACT_NOTIFY";

export type SeccompOperator =
  | "SCMP_CMP_NE"
  | "SCMP_CMP_LT"
  | "SCMP_CMP_LE"
  | "SCMP_CMP_EQ"
  | "SCMP_CMP_GE"
  | "SCMP_CMP_GT"
  | "SCMP_CMP_MASKED_EQ";

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

export interface SeccompSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface OciSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: SeccompSyscall[];
}

export interface OciLinux {
  namespaces: OciNamespace[];
  cgroupsPath?: string;
  resources?: OciResources;
  devices?: OciDevice[];
  sysctl?: Record<string, string>;
  seccomp?: OciSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
}

export interface RuntimeSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  linux: OciLinux;
  annotations?: Record<string, string>;
}

/** RLIM_INFINITY as the spec's uint64. JavaScript numbers cannot hold it exactly. */
export const RLIM_INFINITY = Number.POSITIVE_INFINITY;

/**
 * config.json text for a spec. rlimits of RLIM_INFINITY are written as the
 * exact uint64 18446744073709551615 (a JSON number that a Go runtime parses).
 */
export function specToJson(spec: RuntimeSpec): string {
  const marker = "__capsa_rlim_infinity__";
  const text = JSON.stringify(spec, (_key, value: unknown) => (value === RLIM_INFINITY ? marker : value), 2);
  return text.replaceAll(`"${marker}"`, "18446744073709551615");
}
