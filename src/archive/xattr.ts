// Extended attributes through the `attr` package's tools (Node has no xattr
// syscalls). Used for overlayfs opaque directories and PAX xattrs.
import { spawnSync } from "node:child_process";
import path from "node:path";

/** overlayfs marks a directory that hides the lower layers' content with this. */
export const OPAQUE_XATTRS = ["trusted.overlay.opaque", "user.overlay.opaque"];

function run(cmd: string, args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new Error(code === "ENOENT" ? `${cmd} not found: install the "attr" package` : `${cmd}: ${r.error.message}`);
  }
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** Sets an xattr on path itself (never through a symlink, unless `deref`: for /proc/<pid>/fd/<n>, which must be followed). */
export function setXattr(file: string, name: string, value: Buffer, opts: { deref?: boolean } = {}): void {
  const r = run("setfattr", [...(opts.deref ? [] : ["-h"]), "-n", name, "-v", "0x" + value.toString("hex"), "--", file]);
  if (r.status !== 0) throw new Error(`setfattr ${name} on ${file}: ${r.stderr.trim()}`);
}

/** Decodes getfattr's octal escapes (\012, \\) in file names. */
function unescapeName(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\" && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (s[i] === "\\" && s[i + 1] === "\\") {
      bytes.push(0x5c);
      i++;
    } else {
      for (const b of Buffer.from(s[i]!, "utf8")) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/**
 * Every file below root (root included) carrying an xattr whose name matches
 * `pattern` (a getfattr regex), with hex values, keyed by path relative to
 * root ("" for root itself). One getfattr walk, symlinks not followed.
 */
export function findXattrs(root: string, pattern: string): Map<string, Map<string, Buffer>> {
  const r = run("getfattr", ["-R", "-P", "-h", "--absolute-names", "-d", "-m", pattern, "-e", "hex", "--", root]);
  if (r.status !== 0 && r.stdout === "") {
    // Files that vanish during the walk (a running container's tree) are not an error.
    const msg = r.stderr
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.endsWith("No such file or directory"))
      .join("\n");
    if (msg) throw new Error(`getfattr ${root}: ${msg.split("\n")[0]}`);
  }
  const out = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | undefined;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("# file: ")) {
      const abs = unescapeName(line.slice(8));
      const rel = path.relative(root, abs);
      current = new Map();
      out.set(rel, current);
    } else if (current && line.includes("=")) {
      const eq = line.indexOf("=");
      const v = line.slice(eq + 1);
      current.set(line.slice(0, eq), v.startsWith("0x") ? Buffer.from(v.slice(2), "hex") : Buffer.from(v.replace(/^"|"$/g, "")));
    }
  }
  return out;
}

/** One xattr of file itself (never through a symlink); undefined when it has none. */
export function getXattr(file: string, name: string): Buffer | undefined {
  const r = run("getfattr", ["-h", "--absolute-names", "-n", name, "-e", "hex", "--", file]);
  if (r.status !== 0) return undefined;
  const line = r.stdout.split("\n").find((l) => l.startsWith(name + "="));
  const v = line?.slice(name.length + 1);
  return v?.startsWith("0x") ? Buffer.from(v.slice(2), "hex") : v !== undefined ? Buffer.from(v.replace(/^"|"$/g, "")) : undefined;
}

/**
 * Relative paths of the directories below root that overlayfs treats as
 * opaque. One path-based walk: when the tree may change meanwhile, check each
 * hit again with isOpaque on the directory as actually opened.
 */
export function opaqueDirs(root: string): Set<string> {
  const found = findXattrs(root, "^(trusted|user)\\.overlay\\.opaque$");
  const dirs = new Set<string>();
  for (const [rel, attrs] of found) {
    for (const v of attrs.values()) if (v.toString() === "y") dirs.add(rel);
  }
  return dirs;
}

/** Whether the directory at `file` (itself, never through a symlink) is marked opaque. */
export function isOpaque(file: string): boolean {
  return OPAQUE_XATTRS.some((n) => getXattr(file, n)?.toString() === "y");
}
