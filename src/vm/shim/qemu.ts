// The micro-VM's QEMU command line and the small shell wrapper that is the
// "container process" conmon watches. The wrapper runs QEMU in the
// foreground and then exits with the workload's exit code, which the guest
// agent wrote to the status port (a file here): conmon records it like any
// container's. A VM killed hard (SIGKILL to QEMU) exits 137, as a container.
import crypto from "node:crypto";
import path from "node:path";
import type { SharedDir } from "./guest-spec.ts";
import { baseKernelArgs } from "../kernel-args.ts";
import { shellQuote as q } from "../../util/shell.ts";

/** Exec sessions that can run at once in one VM (virtio-serial ports made at boot). */
export const EXEC_SLOTS = 4; // = MAX_EXEC in guest/agent.c

/** The workload's virtio-serial ports: stdin, stdout, stderr, status and ctl (the exec ports are on a device of their own). */
const WORKLOAD_PORTS = 5;

export interface VmLaunch {
  qemu: string;
  virtiofsd: string;
  kernel: string;
  initramfs: string;
  disk: string;
  accel: "kvm" | "tcg";
  memoryMiB: number;
  cpus: number;
  runDir: string;
  shared: SharedDir[];
  /** Network namespace to run QEMU in (the container's), with a tap device bridged to its eth0. */
  netns?: string;
  /** Host cgroup directories the VM's processes join, so top and stats see QEMU (no limits: -m and --cpus size the guest). */
  cgroupDirs?: string[];
  /** The unprivileged user QEMU switches to once it has opened its files, sockets and devices (-runas); none: it stays root. */
  runAs?: string;
  /** The guest's address configuration, for the kernel command line. */
  ip?: { address: string; prefix: number; gateway?: string; mac: string };
}

/**
 * Short per-VM directory for sockets (sun_path holds 108 bytes; bundle paths
 * are longer): /run/capsa-vm/<hash of the runtime root and the id>.
 */
export function vmRunDir(runtimeRoot: string, id: string): string {
  const h = crypto.createHash("sha256").update(`${runtimeRoot}\0${id}`).digest("hex").slice(0, 16);
  return path.join("/run/capsa-vm", h);
}

export const runFiles = (dir: string) => ({
  ctl: path.join(dir, "ctl.sock"),
  qmp: path.join(dir, "qmp.sock"),
  exec: (i: number) => path.join(dir, `exec-${i}.sock`),
  execLock: (i: number) => path.join(dir, `exec-${i}.lock`),
  fs: (i: number) => path.join(dir, `fs-${i}.sock`),
  fsPid: (i: number) => path.join(dir, `fs-${i}.pid`),
  status: path.join(dir, "exit-status"),
  /** FIFOs QEMU writes the status port, the serial console and its own messages into; the wrapper caps what reaches the files. */
  statusPipe: path.join(dir, "exit-status.pipe"),
  consolePipe: path.join(dir, "console.pipe"),
  qemuLogPipe: path.join(dir, "qemu-log.pipe"),
  qemuPid: path.join(dir, "qemu.pid"),
  qemuLog: path.join(dir, "qemu.log"),
  console: path.join(dir, "console.log"),
});

function kernelCmdline(v: VmLaunch): string {
  const a = [...baseKernelArgs(v.accel), "rw"];
  // guest/init configures eth0 from these (Debian's kernel has no ip= autoconfiguration).
  if (v.ip) a.push(`capsa.ip=${v.ip.address}/${v.ip.prefix}`, ...(v.ip.gateway ? [`capsa.gw=${v.ip.gateway}`] : []));
  return a.join(" ");
}

export function qemuArgs(v: VmLaunch): string[] {
  const f = runFiles(v.runDir);
  const mem = `${v.memoryMiB}M`;
  const args = [
    "-M", `microvm,rtc=on,memory-backend=mem`,
    "-accel", v.accel === "kvm" ? "kvm" : "tcg,thread=multi",
    "-cpu", v.accel === "kvm" ? "host" : "max",
    "-m", mem,
    "-object", `memory-backend-memfd,id=mem,size=${mem},share=on`,
    "-smp", String(v.cpus),
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    // QEMU's own seccomp filter: no obsolete system calls, no fork/exec, no scheduler or priority
    // changes. set*uid stays allowed only for -runas, which needs it (docs/decisions/0012-vm-guest-confinement.md).
    "-sandbox", `on,obsolete=deny,elevateprivileges=${v.runAs ? "allow" : "deny"},spawn=deny,resourcecontrol=deny`,
    ...(v.runAs ? ["-runas", v.runAs] : []),
    // microvm's virtio-mmio devices default to the legacy interface, which vhost-user (virtiofsd) refuses
    "-global", "virtio-mmio.force-legacy=false",
    "-kernel", v.kernel,
    "-initrd", v.initramfs,
    "-append", kernelCmdline(v),
    "-serial", `file:${f.consolePipe}`,
    "-pidfile", f.qemuPid,
    "-qmp", `unix:${f.qmp},server=on,wait=off`,
    "-drive", `id=root,file=${v.disk},format=qcow2,if=none,cache=writeback,discard=unmap`,
    "-device", "virtio-blk-device,drive=root",
    // Two virtio-serial devices: the guest's driver learns the ports' names only
    // after it has set up every port of a device, so the exec ports, which no
    // workload waits for, sit on a second device and do not delay the first.
    // As many ports as there are (port 0 stays free, for a console): each port
    // is two virtqueues the guest sets up at boot.
    "-device", `virtio-serial-device,id=ser0,max_ports=${WORKLOAD_PORTS + 1}`,
    "-chardev", "stdio,id=stdin,signal=off",
    "-device", "virtserialport,bus=ser0.0,chardev=stdin,name=capsa.stdin",
    // conmon's pipes, reopened through /proc: stdout is fd 1, the workload's stderr fd 3 (see the wrapper)
    "-chardev", "file,id=stdout,path=/proc/self/fd/1",
    "-device", "virtserialport,bus=ser0.0,chardev=stdout,name=capsa.stdout",
    "-chardev", "file,id=stderr,path=/proc/self/fd/3",
    "-device", "virtserialport,bus=ser0.0,chardev=stderr,name=capsa.stderr",
    "-chardev", `file,id=status,path=${f.statusPipe}`,
    "-device", "virtserialport,bus=ser0.0,chardev=status,name=capsa.status",
    "-chardev", `socket,id=ctl,path=${f.ctl},server=on,wait=off`,
    "-device", "virtserialport,bus=ser0.0,chardev=ctl,name=capsa.ctl",
  ];
  args.push("-device", `virtio-serial-device,id=ser1,max_ports=${EXEC_SLOTS + 1}`);
  for (let i = 0; i < EXEC_SLOTS; i++) {
    args.push("-chardev", `socket,id=exec${i},path=${f.exec(i)},server=on,wait=off`, "-device", `virtserialport,bus=ser1.0,chardev=exec${i},name=capsa.exec.${i}`);
  }
  v.shared.forEach((s, i) => {
    args.push("-chardev", `socket,id=fs${i},path=${f.fs(i)}`, "-device", `vhost-user-fs-device,chardev=fs${i},tag=${s.tag}`);
  });
  if (v.ip) {
    args.push("-netdev", "tap,id=net0,ifname=tap0,script=no,downscript=no", "-device", `virtio-net-device,netdev=net0,mac=${v.ip.mac}`);
  }
  return args;
}

/**
 * What the host keeps of guest-fed streams: the guest is not trusted, so the
 * files under /run stay this small whatever it writes (the rest is read and
 * dropped, so QEMU never blocks on a full pipe).
 */
export const GUEST_FILE_CAPS = { console: 1024 * 1024, qemuLog: 1024 * 1024, status: 4096 };

/**
 * A background reader that copies the first `limit` bytes of a FIFO into `file` and drops the rest; $! is its pid.
 * dd writes each block as it reads it (head would hold its output until the end), so the file is current while the VM runs.
 */
function cappedReader(fifo: string, file: string, limit: number): string {
  return `(exec <${q(fifo)}; dd of=${q(file)} bs=4096 count=${limit} iflag=count_bytes status=none; exec cat >/dev/null) >/dev/null 2>&1 &`;
}

/**
 * The wrapper script. fd 0-2 are conmon's (the workload's stdio); QEMU's own
 * messages go to qemu.log so they never mix with the workload's stderr.
 */
export function wrapperScript(v: VmLaunch): string {
  const f = runFiles(v.runDir);
  const lines = [
    "#!/bin/sh",
    "# capsa VM: runs QEMU, then exits with the workload's exit code.",
    // a fresh run directory: sockets, pid files and logs of an earlier boot go
    `rm -rf ${q(v.runDir)}; mkdir -p -m 0700 ${q(v.runDir)} || exit 1`,
    `mkfifo -m 0600 ${q(f.statusPipe)} ${q(f.consolePipe)} ${q(f.qemuLogPipe)} || exit 1`,
    cappedReader(f.qemuLogPipe, f.qemuLog, GUEST_FILE_CAPS.qemuLog),
    cappedReader(f.consolePipe, f.console, GUEST_FILE_CAPS.console),
    cappedReader(f.statusPipe, f.status, GUEST_FILE_CAPS.status),
    "status_reader=$!",
    `exec 3>&2 2>${q(f.qemuLogPipe)}`,
  ];
  for (const d of v.cgroupDirs ?? []) {
    // create made the directories (a mkdir here would be a fork per controller). cpuset refuses
    // members until it has cpus and mems; joining the others is enough for top and stats.
    lines.push(`{ echo $$ > ${q(path.join(d, "cgroup.procs"))}; } 2>/dev/null`);
  }
  v.shared.forEach((s, i) => {
    const ro = s.readOnly ? " -o readonly" : "";
    // virtiofsd serves one directory and exits when QEMU goes away.
    lines.push(`${q(v.virtiofsd)} --socket-path=${q(f.fs(i))} -o source=${q(s.source)} -o cache=auto -o xattr -o log_level=err${ro} </dev/null >/dev/null &`, `echo $! > ${q(f.fsPid(i))}`);
  });
  if (v.shared.length) {
    lines.push(`i=0; while [ $i -lt 250 ]; do ok=1; for s in ${v.shared.map((_, i) => q(f.fs(i))).join(" ")}; do [ -S "$s" ] || ok=; done; [ -n "$ok" ] && break; sleep 0.02; i=$((i+1)); done`);
  }
  const qemu = [q(v.qemu), ...qemuArgs(v).map(q)].join(" ");
  if (v.netns) {
    // QEMU runs in the container's network namespace, on a tap device wired to its eth0 (see network.ts).
    lines.push(`nsenter --net=${q(v.netns)} ${qemu}`);
  } else {
    lines.push(qemu);
  }
  lines.push(
    "rc=$?",
    // a reader still waiting for QEMU to open its FIFO (QEMU failed early) gets an end of file
    `for p in ${q(f.statusPipe)} ${q(f.consolePipe)}; do exec 4<>"$p" 4>&-; done`,
    'wait "$status_reader"',
    `code=; [ -s ${q(f.status)} ] && read _ code < ${q(f.status)}`,
    'exit "${code:-$rc}"',
  );
  return lines.join("\n") + "\n";
}
