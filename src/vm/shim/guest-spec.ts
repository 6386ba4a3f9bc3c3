// What the guest agent needs to run a process, from the OCI spec capsa wrote:
// a list of NUL-terminated "key=value" entries (guest/agent.c parse_spec).
// Mounts and files use \x1f between their fields.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { OciCapabilities, OciMount, OciProcess, OciSeccomp, RuntimeSpec } from "../../runtime/oci.ts";
import { ALL_CAPABILITIES } from "../../runtime/caps.ts";

const SEP = "\x1f";

/** A directory shared into the guest over virtio-fs. */
export interface SharedDir {
  tag: string;
  source: string;
  destination: string;
  readOnly: boolean;
}

/** Mounts the guest agent sets up itself (proc, sys, dev, devpts, shm) or that have no meaning in a VM. */
const GUEST_OWN = new Set(["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]);
/** Single files are copied in at start (virtio-fs shares directories); larger ones are not worth a copy. */
const MAX_COPIED_FILE = 1024 * 1024;

/** Splits the spec's mounts into shared directories, copied files and guest-side mounts. */
export function planMounts(spec: RuntimeSpec): { shared: SharedDir[]; files: { destination: string; content: string; mode: number }[]; guest: OciMount[] } {
  const shared: SharedDir[] = [];
  const files: { destination: string; content: string; mode: number }[] = [];
  const guest: OciMount[] = [];
  for (const m of spec.mounts ?? []) {
    if (GUEST_OWN.has(m.destination)) continue;
    if (m.type === "bind") {
      let st: fs.Stats;
      try {
        st = fs.statSync(m.source);
      } catch {
        continue;
      }
      const readOnly = (m.options ?? []).includes("ro");
      if (st.isDirectory()) shared.push({ tag: `capsa${shared.length}`, source: m.source, destination: m.destination, readOnly });
      else if (st.isFile() && st.size <= MAX_COPIED_FILE) files.push({ destination: m.destination, content: fs.readFileSync(m.source, "utf8"), mode: st.mode & 0o7777 });
    } else if (m.type === "tmpfs") {
      guest.push(m);
    }
  }
  return { shared, files, guest };
}

function flagsAndData(options: string[] = []): { flags: string; data: string } {
  const flagNames = new Set(["ro", "nosuid", "nodev", "noexec"]);
  const flags = options.filter((o) => flagNames.has(o));
  const data = options.filter((o) => o.includes("=") );
  return { flags: flags.join(","), data: data.join(",") };
}

export interface GuestProcessOptions {
  hostname?: string;
  pidsLimit?: number;
  detach?: boolean;
  rows?: number;
  cols?: number;
}

/** What confines the workload inside the guest, from the OCI spec (sent with the run request only; execs join it). */
export interface GuestConfinement {
  readonlyRoot: boolean;
  /** sysfs writable: only when the spec mounts /sys without "ro" (a privileged spec; the engine refuses --privileged for VMs today). */
  sysRw: boolean;
  maskedPaths: string[];
  readonlyPaths: string[];
  /** The spec's sysctls, applied to the whole guest (its kernel is the workload's alone). */
  sysctl: Record<string, string>;
  seccomp?: OciSeccomp;
  /** The seccomp filter already compiled to BPF on the host (hostSeccompBpf); the guest compiles `seccomp` itself without it. */
  seccompBpf?: Buffer;
}

/** The agent binary beside the VM's initramfs (scripts/vm-assets.sh installs it there). */
export function hostAgent(spec: RuntimeSpec): string | undefined {
  const initramfs = spec.annotations?.["capsa.vm.initramfs"];
  return initramfs ? path.join(path.dirname(initramfs), "capsa-agent") : undefined;
}

/**
 * The spec's seccomp filter as BPF, compiled by the agent's own libseccomp
 * code running on the host (`capsa-agent seccomp-bpf`): the same program the
 * guest would make, in ~10 ms instead of ~0.3 s under TCG. Undefined when the
 * assets have no host copy of the agent; the guest compiles it then.
 */
export function hostSeccompBpf(agent: string | undefined, sc: OciSeccomp): Buffer | undefined {
  if (!agent || !fs.existsSync(agent)) return undefined;
  const input = Buffer.from(seccompEntries(sc).map((e) => e + "\0").join(""));
  const r = spawnSync(agent, ["seccomp-bpf"], { input, maxBuffer: 1024 * 1024, timeout: 30_000 });
  if (r.status !== 0 || !r.stdout.length || r.stdout.length % 8) {
    throw new Error(`compiling the VM's seccomp filter: ${r.stderr.toString().trim() || r.error?.message || `${agent} exited ${r.status}`}`);
  }
  return r.stdout;
}

export function confinementFromSpec(spec: RuntimeSpec): GuestConfinement {
  const seccomp = spec.linux.seccomp;
  return {
    readonlyRoot: spec.root.readonly,
    sysRw: !(spec.mounts.find((m) => m.destination === "/sys")?.options ?? ["ro"]).includes("ro"),
    maskedPaths: spec.linux.maskedPaths ?? [],
    sysctl: spec.linux.sysctl ?? {},
    readonlyPaths: spec.linux.readonlyPaths ?? [],
    seccomp,
    seccompBpf: seccomp ? hostSeccompBpf(hostAgent(spec), seccomp) : undefined,
  };
}

/** A capability set as the hexadecimal bit mask capset(2) takes (bit n = capability n). */
export function capMask(names: string[] = []): string {
  let m = 0n;
  for (const n of names) {
    const bit = ALL_CAPABILITIES.indexOf(n as (typeof ALL_CAPABILITIES)[number]);
    if (bit >= 0) m |= 1n << BigInt(bit);
  }
  return m.toString(16);
}

function capsEntry(c: OciCapabilities): string {
  return `caps=${[c.bounding, c.effective, c.permitted, c.inheritable, c.ambient].map(capMask).join(",")}`;
}

/**
 * The spec's seccomp section as the agent compiles it with libseccomp:
 * "scdef=ACTION ERRNO", "scarch=NAME", and per rule "sc=ACTION ERRNO NAME[,NAME…] [INDEX:OP:VALUE:VALUE2]…"
 * (names without their SCMP_ACT_/SCMP_CMP_/SCMP_ARCH_ prefixes; values in decimal, 64-bit).
 */
export function seccompEntries(sc: OciSeccomp): string[] {
  const action = (a: string): string => a.replace(/^SCMP_ACT_/, "");
  const e = [`scdef=${action(sc.defaultAction)} ${sc.defaultErrnoRet ?? 1}`];
  for (const a of sc.architectures ?? []) e.push(`scarch=${a.replace(/^SCMP_ARCH_/, "")}`);
  for (const r of sc.syscalls ?? []) {
    if (!r.names.length) continue;
    const args = (r.args ?? []).map((a) => `${a.index}:${a.op.replace(/^SCMP_CMP_/, "")}:${BigInt.asUintN(64, BigInt(a.value))}:${BigInt.asUintN(64, BigInt(a.valueTwo ?? 0))}`);
    e.push(`sc=${[action(r.action), String(r.errnoRet ?? 1), r.names.join(","), ...args].join(" ")}`);
  }
  return e;
}

/** The payload of a run ('R') or exec ('X') request. */
export function encodeProcess(proc: OciProcess, opts: GuestProcessOptions, mounts?: ReturnType<typeof planMounts>, confine?: GuestConfinement): Buffer {
  const e: string[] = [];
  for (const a of proc.args) e.push(`arg=${a}`);
  e.push(capsEntry(proc.capabilities));
  if (proc.noNewPrivileges) e.push("nnp=1");
  for (const v of proc.env) e.push(`env=${v}`);
  e.push(`cwd=${proc.cwd || "/"}`, `uid=${proc.user.uid}`, `gid=${proc.user.gid}`);
  if (proc.user.additionalGids?.length) e.push(`gids=${proc.user.additionalGids.join(",")}`);
  if (proc.terminal) e.push("tty=1");
  if (opts.detach) e.push("detach=1");
  if (opts.rows && opts.cols) e.push(`rows=${opts.rows}`, `cols=${opts.cols}`);
  if (opts.hostname) e.push(`hostname=${opts.hostname}`);
  if (opts.pidsLimit && opts.pidsLimit > 0) e.push(`pids=${opts.pidsLimit}`);
  if (mounts) {
    for (const s of mounts.shared) e.push(`mount=${["virtiofs", s.tag, s.destination, s.readOnly ? "ro" : "", ""].join(SEP)}`);
    for (const m of mounts.guest) {
      const { flags, data } = flagsAndData(m.options);
      e.push(`mount=${[m.type, m.source, m.destination, flags, data].join(SEP)}`);
    }
    for (const f of mounts.files) e.push(`file=${[f.destination, f.mode.toString(8), f.content].join(SEP)}`);
  }
  if (confine) {
    if (confine.readonlyRoot) e.push("readonly=1");
    if (confine.sysRw) e.push("sysrw=1");
    for (const p of confine.maskedPaths) e.push(`mask=${p}`);
    for (const p of confine.readonlyPaths) e.push(`ropath=${p}`);
    for (const [k, v] of Object.entries(confine.sysctl)) e.push(`sysctl=${k}=${v}`);
    if (confine.seccompBpf) e.push(`scbpf=${confine.seccompBpf.toString("hex")}`);
    else if (confine.seccomp) e.push(...seccompEntries(confine.seccomp));
  }
  for (const x of e) if (x.includes("\0")) throw new Error(`a NUL byte cannot cross into the VM: ${x.slice(0, 40)}`);
  return Buffer.from(e.map((x) => x + "\0").join(""));
}
