// What is mounted where in this process's mount namespace, read from
// /proc/self/mountinfo (the kernel writes space, tab, newline and backslash in
// paths as octal escapes such as \040).
import fs from "node:fs";
import path from "node:path";

function unescapeMountPath(p: string): string {
  return p.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Every mount point, in mountinfo's order (a path mounted over shows more than once). Throws when mountinfo cannot be read. */
export function mountPoints(): string[] {
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => unescapeMountPath(line.split(" ")[4] ?? ""));
}

/** Whether something is mounted on `target` (a relative path is taken from the working directory); false when mountinfo cannot be read. */
export function isMounted(target: string): boolean {
  const abs = path.resolve(target);
  try {
    return mountPoints().includes(abs);
  } catch {
    return false;
  }
}
