// Where each v1 controller's hierarchy is mounted, from /proc/self/mountinfo.
import fs from "node:fs";

/** controller name (memory, cpuacct, name=systemd, …, and `unified` for a hybrid host's cgroup2 tree) → mount point. */
export type V1Mounts = Record<string, string>;

export function parseV1Mounts(mountinfo: string): V1Mounts {
  const out: V1Mounts = {};
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const [fstype, , superOpts = ""] = line.slice(sep + 3).split(" ");
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const mountPoint = line.slice(0, sep).split(" ")[4];
    if (!mountPoint) continue;
    if (fstype === "cgroup2") {
      // A hybrid host's cgroup2 tree (/sys/fs/cgroup/unified): no controllers, but
      // runc makes each container's cgroup there too, so cleanup must know it.
      out.unified ??= mountPoint.replace(/\\040/g, " ");
      continue;
    }
    for (const opt of superOpts.split(",")) {
      if (opt === "rw" || opt === "ro" || opt.startsWith("release_agent=") || opt === "clone_children" || opt === "noprefix" || opt === "xattr") continue;
      out[opt] ??= mountPoint.replace(/\\040/g, " ");
    }
  }
  return out;
}

export function hostV1Mounts(): V1Mounts {
  return parseV1Mounts(fs.readFileSync("/proc/self/mountinfo", "utf8"));
}

/** A fake tree for tests: every listed controller at root/<controller>. */
export function fakeV1Mounts(root: string, controllers = ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer", "name=systemd"]): V1Mounts {
  return Object.fromEntries(controllers.map((c) => [c, `${root}/${c.replace(/^name=/, "")}`]));
}
