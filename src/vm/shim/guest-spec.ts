// What the guest agent needs to run a process, from the OCI spec capsa wrote:
// a list of NUL-terminated "key=value" entries (guest/agent.c parse_spec).
// Mounts and files use \x1f between their fields.
import fs from "node:fs";
import type { OciMount, OciProcess, RuntimeSpec } from "../../runtime/oci.ts";

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

/** The payload of a run ('R') or exec ('X') request. */
export function encodeProcess(proc: OciProcess, opts: GuestProcessOptions, mounts?: ReturnType<typeof planMounts>): Buffer {
  const e: string[] = [];
  for (const a of proc.args) e.push(`arg=${a}`);
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
  for (const x of e) if (x.includes("\0")) throw new Error(`a NUL byte cannot cross into the VM: ${x.slice(0, 40)}`);
  return Buffer.from(e.map((x) => x + "\0").join(""));
}
