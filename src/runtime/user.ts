// `--user` and `--group-add` resolved against the image's own /etc/passwd and
// /etc/group, read inside the rootfs (symlinks resolved within it), with
// docker's rules: numeric ids need no entry; a named user or group must exist;
// supplementary groups come from /etc/group membership only when no group was
// given explicitly, plus every --group-add.
import { invalid } from "../util/errors.ts";
import { readFileInRoot } from "./rootfs-path.ts";

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The user's home directory (for HOME), "/" when the user has no passwd entry. */
  home: string;
  /** The passwd name, when there is an entry. */
  name?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (n > MAX_ID) throw invalid(`${s}: uids and gids must be in range 0-${MAX_ID}`);
  return n;
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (f.length < 4 || !Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0] ?? "", uid, gid, home: f[5] || "/" });
  }
  return out;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    const gid = Number(f[2]);
    if (f.length < 3 || !Number.isInteger(gid)) continue;
    out.push({ name: f[0] ?? "", gid, members: (f[3] ?? "").split(",").map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

function lookupGroup(groups: GroupEntry[], spec: string): number {
  const byName = groups.find((g) => g.name === spec);
  if (byName) return byName.gid;
  const id = parseId(spec);
  if (id !== undefined) return id;
  throw invalid(`unable to find group ${spec}: no matching entries in group file`);
}

export function resolveUser(rootfs: string, user: string | undefined, groupAdd: string[] = []): ResolvedUser {
  const spec = user ?? "";
  const colon = spec.indexOf(":");
  const userPart = colon >= 0 ? spec.slice(0, colon) : spec;
  const groupPart = colon >= 0 ? spec.slice(colon + 1) : "";
  // Read passwd even for the default user: HOME and root's groups come from it.
  const passwd = parsePasswd(readFileInRoot(rootfs, "/etc/passwd"));
  const groups = parseGroup(readFileInRoot(rootfs, "/etc/group"));

  let uid = 0;
  let gid = 0;
  let home = "/";
  let name: string | undefined;
  const target = userPart === "" ? "0" : userPart;
  // A name wins over a number, as in runc's lookup: a user may be called "1000".
  const entry = passwd.find((p) => p.name === target) ?? (parseId(target) !== undefined ? passwd.find((p) => p.uid === parseId(target)) : undefined);
  if (entry) {
    ({ uid, gid, home, name } = entry);
  } else {
    const id = parseId(target);
    if (id === undefined) throw invalid(`unable to find user ${target}: no matching entries in passwd file`);
    uid = id;
  }

  const additional: number[] = [];
  if (groupPart !== "") {
    gid = lookupGroup(groups, groupPart);
  } else if (name !== undefined) {
    for (const g of groups) if (g.members.includes(name)) additional.push(g.gid);
  }
  for (const g of groupAdd) additional.push(lookupGroup(groups, g));
  const additionalGids = [...new Set(additional)];
  const out: ResolvedUser = { uid, gid, additionalGids, home };
  if (name !== undefined) out.name = name;
  return out;
}
