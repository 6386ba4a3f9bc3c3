// Writing cgroup interface files, with the file named in the error (the
// kernel answers EINVAL or EBUSY and nothing more).
import fs from "node:fs";
import path from "node:path";

export function writeCgroupFile(dir: string, file: string, value: string | number): void {
  try {
    fs.writeFileSync(path.join(dir, file), String(value));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT" && !fs.existsSync(dir)) throw new Error(`the container's cgroup ${dir} does not exist`);
    throw new Error(`cannot set ${file} to ${value}: ${err.code === "EBUSY" ? "the container uses more than that now" : (err.code ?? err.message)}`);
  }
}
