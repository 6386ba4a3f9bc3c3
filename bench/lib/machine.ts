// A description of the machine a result was measured on.
import fs from "node:fs";
import os from "node:os";

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  kernel: string;
  os: string;
  cgroup: "v2" | "v1 (hybrid)" | "v1";
  node: string;
  /** Whether /dev/kvm exists (not whether it boots a guest). */
  kvm: boolean;
}

export function cgroupVersion(): Machine["cgroup"] {
  if (fs.existsSync("/sys/fs/cgroup/cgroup.controllers")) return "v2";
  if (fs.existsSync("/sys/fs/cgroup/unified")) return "v1 (hybrid)";
  return "v1";
}

export function describeMachine(): Machine {
  const osRelease = fs.existsSync("/etc/os-release") ? fs.readFileSync("/etc/os-release", "utf8") : "";
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    os: /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? os.type(),
    cgroup: cgroupVersion(),
    node: process.version,
    kvm: fs.existsSync("/dev/kvm"),
  };
}
