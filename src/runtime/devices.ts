// Device nodes and the devices cgroup, as docker sets them: deny everything,
// allow the standard pseudo-devices and mknod of any node (using one still
// needs a rule), plus each --device; --privileged gets the host's devices.
import fs from "node:fs";
import path from "node:path";
import type { DeviceMapping } from "../types/records.ts";
import { invalid } from "../util/errors.ts";
import type { OciDevice, OciDeviceRule } from "./oci.ts";

/** docker's default device rules (moby oci/defaults.go). runc itself creates the nodes for null, zero, full, random, urandom, tty and /dev/ptmx. */
export function defaultDeviceRules(): OciDeviceRule[] {
  const c = (major: number, minor: number | undefined): OciDeviceRule =>
    minor === undefined ? { allow: true, type: "c", major, access: "rwm" } : { allow: true, type: "c", major, minor, access: "rwm" };
  return [
    { allow: false, access: "rwm" },
    { allow: true, type: "c", access: "m" },
    { allow: true, type: "b", access: "m" },
    c(1, 3), // null
    c(1, 5), // zero
    c(1, 7), // full
    c(1, 8), // random
    c(1, 9), // urandom
    c(5, 0), // tty
    c(5, 1), // console
    c(5, 2), // ptmx
    c(136, undefined), // pts/*
  ];
}

/** Linux's dev_t encoding (glibc's major()/minor()). */
export function splitDevNumber(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

function deviceAt(hostPath: string, containerPath: string): OciDevice | undefined {
  const st = fs.statSync(hostPath, { bigint: true });
  const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : st.isFIFO() ? "p" : undefined;
  if (!type) return undefined;
  const { major, minor } = splitDevNumber(st.rdev);
  return { type, path: containerPath, major, minor, fileMode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
}

/** A --device mapping: one node, or every node below a directory (as docker does). */
export function mappedDevices(m: DeviceMapping): { devices: OciDevice[]; rules: OciDeviceRule[] } {
  const perms = m.CgroupPermissions || "rwm";
  if (!/^[rwm]{1,3}$/.test(perms)) throw invalid(`invalid device mode: ${perms}`);
  let st: fs.Stats;
  try {
    st = fs.statSync(m.PathOnHost);
  } catch {
    throw invalid(`error gathering device information while adding custom device "${m.PathOnHost}": no such file or directory`);
  }
  const pairs: [string, string][] = [];
  if (st.isDirectory()) {
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else pairs.push([p, path.join(m.PathInContainer || m.PathOnHost, path.relative(m.PathOnHost, p))]);
      }
    };
    walk(m.PathOnHost);
  } else {
    pairs.push([m.PathOnHost, m.PathInContainer || m.PathOnHost]);
  }
  const devices: OciDevice[] = [];
  const rules: OciDeviceRule[] = [];
  for (const [host, ctr] of pairs) {
    const d = deviceAt(host, ctr);
    if (!d) {
      if (pairs.length === 1) throw invalid(`${m.PathOnHost} is not a device node`);
      continue;
    }
    devices.push(d);
    if (d.type === "c" || d.type === "b") rules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: perms });
  }
  return { devices, rules };
}

/** Every device node of the host's /dev, for --privileged (runc's HostDevices: skips pts, shm, mqueue, fd, console). */
export function hostDevices(root = "/dev"): OciDevice[] {
  const skipDirs = new Set(["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]);
  const out: OciDevice[] = [];
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!skipDirs.has(e.name)) walk(p);
      } else if ((e.isCharacterDevice() || e.isBlockDevice()) && p !== "/dev/console") {
        try {
          const d = deviceAt(p, p);
          if (d) out.push(d);
        } catch {
          /* vanished */
        }
      }
    }
  };
  walk(root);
  return out;
}

const DEVICE_CGROUP_RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** docker's --device-cgroup-rule ("c 1:3 rwm", "b 8:* r", "a *:* m") as devices cgroup rules; dockerd's error for a malformed one. */
export function parseDeviceCgroupRules(rules: string[] | undefined): OciDeviceRule[] {
  return (rules ?? []).map((rule) => {
    const m = DEVICE_CGROUP_RULE.exec(rule);
    if (!m) throw invalid(`invalid device cgroup rule format: '${rule}'`);
    const [, type, major, minor, access] = m as unknown as [string, "a" | "b" | "c", string, string, string];
    return { allow: true, type, ...(major === "*" ? {} : { major: Number(major) }), ...(minor === "*" ? {} : { minor: Number(minor) }), access };
  });
}
