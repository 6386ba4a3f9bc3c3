// Moving a prepared directory into place, atomically; kept free of tar code
// so the image store's commit path can use it without loading tar-stream.
import fs from "node:fs";
import path from "node:path";

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/**
 * Moves a fully prepared directory into place atomically. If finalDir already
 * exists (a concurrent writer won the race) the prepared copy is discarded.
 * Returns true when this call installed it.
 */
export function installDir(preparedDir: string, finalDir: string): boolean {
  fs.mkdirSync(path.dirname(finalDir), { recursive: true });
  if (fs.existsSync(finalDir)) {
    fs.rmSync(preparedDir, { recursive: true, force: true });
    return false;
  }
  try {
    fs.renameSync(preparedDir, finalDir);
    return true;
  } catch (e) {
    if (errno(e) === "ENOTEMPTY" || errno(e) === "EEXIST") {
      fs.rmSync(preparedDir, { recursive: true, force: true });
      return false;
    }
    throw e;
  }
}
