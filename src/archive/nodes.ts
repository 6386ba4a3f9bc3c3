// Device nodes, fifos, overlay whiteouts (char devices 0/0) and xattrs of one
// extraction, made together at its end: Node has no mknod or setxattr, and a
// process per node cost ~6 ms here (a layer deleting a few hundred files holds
// as many whiteouts). One small fixed perl script (perl-base is essential in
// Debian) makes them all through the mknodat and lsetxattr system calls, which
// never follow the last component. Where it cannot run, each is made by the
// `mknod` and `setfattr` tools as before.
//
// Only for extraction by path into a tree no one else writes to: a deferred
// path was resolved inside the root when its entry was read, its parents are
// real directories, and every later removal under it drops it here (drop,
// dropBelow), so the directories it names stay the ones that were checked.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { setXattr } from "./xattr.ts";

export type NodeKind = "c" | "b" | "p";

interface NodeOp {
  kind: NodeKind;
  mode: number;
  major: number;
  minor: number;
  /** Metadata work once the node exists (chown, chmod, times). */
  after?: () => void;
}

interface XattrOp {
  name: string;
  value: Buffer;
  /** Called with the reason when the attribute cannot be set; absent: the extraction fails. */
  onError?: (reason: string) => void;
}

const S_IFMT: Record<NodeKind, number> = { c: 0o020000, b: 0o060000, p: 0o010000 };

/** mknodat and lsetxattr per architecture (asm-generic numbers for arm64). */
const SYSCALLS: Partial<Record<string, { mknodat: number; lsetxattr: number }>> = {
  x64: { mknodat: 259, lsetxattr: 189 },
  arm64: { mknodat: 33, lsetxattr: 6 },
};

// Records on stdin, fields NUL-terminated: "n" path mode dev | "x" path name hex.
// A node that cannot be made stops the script (exit status 1, reason on
// stderr); an attribute that cannot be set is reported on stdout and skipped.
const SCRIPT = `use strict; umask 0; local $/ = "\\0";
my ($mknodat, $lsetxattr) = @ARGV;
sub field { my $f = <STDIN>; defined $f or die "truncated request\\n"; chomp $f; return $f; }
while (defined(my $op = <STDIN>)) {
  chomp $op; my $path = field();
  if ($op eq "n") {
    my $mode = field() + 0; my $dev = field() + 0;
    syscall($mknodat, -100, $path, $mode, $dev) == 0 or die "mknod $path: $!\\n";
  } else {
    my $name = field(); my $value = pack("H*", field());
    syscall($lsetxattr, $path, $name, $value, length($value), 0) == 0 or print "$path\\0$name\\0$!\\0";
  }
}`;

/** The kernel's encoding of a device number for mknodat (unsigned int: major < 4096, minor < 2^20). */
function encodeDev(major: number, minor: number, p: string): number {
  if (major > 0xfff || minor > 0xfffff || major < 0 || minor < 0) throw new Error(`mknod ${p}: device number ${major}:${minor} out of range`);
  return ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & 0xfff00) << 12);
}

/** One node made now by the mknod tool (confined extraction, or no perl here). */
export function mknod(p: string, kind: NodeKind, mode: number, major = 0, minor = 0): void {
  const args = ["-m", (mode & 0o7777).toString(8), "--", p, kind];
  if (kind !== "p") args.push(String(major), String(minor));
  const r = spawnSync("mknod", args, { encoding: "utf8" });
  if (r.error) throw new Error(`mknod ${p}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`mknod ${p}: ${r.stderr.trim()}`);
}

let perlWorks: boolean | undefined;

function runScript(input: string[]): { ok: boolean; stdout: string; stderr: string } {
  const nums = SYSCALLS[process.arch]!;
  const r = spawnSync("perl", ["-e", SCRIPT, String(nums.mknodat), String(nums.lsetxattr)], {
    input: input.join("\0") + "\0",
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw new Error(`perl: ${r.error.message}`);
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr.trim() };
}

function havePerl(): boolean {
  if (perlWorks === undefined) {
    perlWorks = !!SYSCALLS[process.arch] && !process.env.CAPSA_NO_NODE_SCRIPT;
    if (perlWorks) {
      const r = spawnSync("perl", ["-e", "exit 0"]);
      perlWorks = !r.error && r.status === 0;
    }
  }
  return perlWorks;
}

/** The nodes and xattrs an extraction has yet to make, by path. */
export class DeferredNodes {
  private nodes = new Map<string, NodeOp>();
  private xattrs = new Map<string, XattrOp[]>();

  node(p: string, kind: NodeKind, mode: number, major = 0, minor = 0, after?: () => void): void {
    this.nodes.set(p, { kind, mode, major, minor, after });
  }

  xattr(p: string, name: string, value: Buffer, onError?: (reason: string) => void): void {
    if (name.includes("\0")) {
      const reason = `xattr name ${JSON.stringify(name)} contains a NUL byte`;
      if (!onError) throw new Error(reason);
      return onError(reason);
    }
    const list = this.xattrs.get(p);
    if (list) list.push({ name, value, onError });
    else this.xattrs.set(p, [{ name, value, onError }]);
  }

  /** A node is yet to be made at p. */
  hasNode(p: string): boolean {
    return this.nodes.has(p);
  }

  /** Anything is yet to be done at p. */
  has(p: string): boolean {
    return this.nodes.has(p) || this.xattrs.has(p);
  }

  /** What is at p was replaced: forget what was to be done there. */
  drop(p: string): void {
    this.nodes.delete(p);
    this.xattrs.delete(p);
  }

  /** p was removed with everything below it. */
  dropBelow(p: string): void {
    if (this.nodes.size === 0 && this.xattrs.size === 0) return;
    const prefix = p.endsWith(path.sep) ? p : p + path.sep;
    for (const map of [this.nodes, this.xattrs] as Map<string, unknown>[]) {
      for (const k of map.keys()) if (k === p || k.startsWith(prefix)) map.delete(k);
    }
  }

  /** Makes every pending node (then its metadata), then sets every pending xattr. */
  flush(): void {
    const nodes = [...this.nodes];
    this.nodes.clear();
    if (nodes.length > 0) {
      if (havePerl()) {
        const input: string[] = [];
        for (const [p, n] of nodes) input.push("n", p, String(S_IFMT[n.kind] | (n.mode & 0o7777)), String(n.kind === "p" ? 0 : encodeDev(n.major, n.minor, p)));
        const r = runScript(input);
        if (!r.ok) throw new Error(r.stderr || "making device nodes failed");
      } else {
        for (const [p, n] of nodes) mknod(p, n.kind, n.mode, n.major, n.minor);
      }
      // The nodes' own xattrs are queued here, after their chown (which would clear some).
      for (const [, n] of nodes) n.after?.();
    }
    const xattrs = [...this.xattrs];
    this.xattrs.clear();
    if (xattrs.length === 0) return;
    if (!havePerl()) {
      for (const [p, list] of xattrs) {
        for (const x of list) {
          try {
            setXattr(p, x.name, x.value);
          } catch (e) {
            if (!x.onError) throw e;
            x.onError(e instanceof Error ? e.message : String(e));
          }
        }
      }
      return;
    }
    const input: string[] = [];
    for (const [p, list] of xattrs) for (const x of list) input.push("x", p, x.name, x.value.toString("hex"));
    const r = runScript(input);
    if (!r.ok) throw new Error(r.stderr || "setting xattrs failed");
    const failed = r.stdout.split("\0");
    for (let i = 0; i + 2 < failed.length; i += 3) {
      const [p, name, reason] = [failed[i]!, failed[i + 1]!, failed[i + 2]!];
      const x = xattrs.find(([q]) => q === p)?.[1].find((o) => o.name === name);
      const msg = `setfattr ${name} on ${p}: ${reason}`;
      if (!x?.onError) throw new Error(msg);
      x.onError(msg);
    }
  }
}
