// Whether a process exists: signal 0 checks without sending anything (EPERM
// means it exists but belongs to someone else).
export function pidAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
