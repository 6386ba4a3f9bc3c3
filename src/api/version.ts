// API version negotiation, as dockerd does it: clients ping, read `Api-Version`,
// and use min(their own, ours) as a `/vX.Y` path prefix. Requests outside the
// supported range get docker's words.
import { API_VERSION } from "../engine/index.ts";
import { HttpError } from "./http.ts";

/** The version capsa advertises (the engine's) and the oldest it serves. */
export const DEFAULT_VERSION = API_VERSION;
export const MIN_VERSION = "1.24";
/**
 * The newest version accepted when a client pins one (docker 28.x CLIs send up
 * to 1.51 with DOCKER_API_VERSION). The endpoints served keep 1.43's shapes,
 * which later versions only extend.
 */
export const MAX_VERSION = "1.51";

export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Splits "/v1.43/containers/json" into ["1.43", "/containers/json"]; unversioned paths get the default. */
export function splitVersion(pathname: string): { version: string; path: string } {
  const m = /^\/v([0-9]+\.[0-9]+)(\/.*)?$/.exec(pathname);
  if (!m) return { version: DEFAULT_VERSION, path: pathname };
  const version = m[1] ?? DEFAULT_VERSION;
  if (compareVersions(version, MAX_VERSION) > 0) throw new HttpError(400, `client version ${version} is too new. Maximum supported API version is ${MAX_VERSION}`);
  if (compareVersions(version, MIN_VERSION) < 0) throw new HttpError(400, `client version ${version} is too old. Minimum supported API version is ${MIN_VERSION}, please upgrade your client to a newer version`);
  return { version, path: m[2] ?? "/" };
}
