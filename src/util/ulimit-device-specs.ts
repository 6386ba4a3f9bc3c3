// docker's --ulimit and --device strings (its CLI's opts), parsed into the
// HostConfig records the engine takes. Errors go through `fail`, so the CLI can
// report them as flag errors; by default they are "invalid" errors.
import path from "node:path";
import type { DeviceMapping, Ulimit } from "../types/records.ts";
import { invalid } from "./errors.ts";

type Fail = (why: string) => Error;

const RLIMITS = ["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"];

/** --ulimit name=soft[:hard] (hard defaults to soft; -1 is unlimited). */
export function parseUlimit(u: string, fail: Fail = invalid): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(u);
  if (!m) throw fail(`invalid ulimit argument: ${u}`);
  const name = m[1] ?? "";
  if (!RLIMITS.includes(name)) throw fail(`invalid ulimit type: ${name}`);
  const soft = Number(m[2]);
  const hard = m[3] !== undefined ? Number(m[3]) : soft;
  if (soft > hard && hard !== -1) throw fail(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: name, Soft: soft, Hard: hard };
}

/** --device /dev/host[:/dev/ctr][:rwm]. */
export function parseDevice(d: string, fail: Fail = invalid): DeviceMapping {
  const parts = d.split(":");
  const isPerm = (s: string | undefined): boolean => !!s && /^[rwm]{1,3}$/.test(s);
  let host = parts[0] ?? "";
  let ctr = host;
  let perms = "rwm";
  if (parts.length === 2) {
    if (isPerm(parts[1])) perms = parts[1] as string;
    else ctr = parts[1] as string;
  } else if (parts.length === 3) {
    ctr = parts[1] as string;
    if (!isPerm(parts[2])) throw fail(`invalid device mode: ${parts[2]}`);
    perms = parts[2] as string;
  } else if (parts.length > 3) throw fail(`invalid device specification: ${d}`);
  if (!host.startsWith("/")) throw fail(`not an absolute path: ${host}`);
  if (!ctr.startsWith("/")) throw fail(`not an absolute path: ${ctr}`);
  host = path.normalize(host);
  return { PathOnHost: host, PathInContainer: ctr, CgroupPermissions: perms };
}
