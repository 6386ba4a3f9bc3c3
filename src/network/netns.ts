// Network namespaces, one per container, kept alive by a bind mount of the
// namespace file under the run root (<runRoot>/netns/<id>), so each state root
// holds its own and `ip netns` (a host-wide list) stays untouched.
// docs/decisions/0004-networks-cni-netns-hosts.md says why.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { systemError } from "../util/errors.ts";
import { isMounted } from "../util/mounts.ts";

export function netnsDir(runRoot: string): string {
  return path.join(runRoot, "netns");
}

export function netnsPath(runRoot: string, id: string): string {
  return path.join(netnsDir(runRoot), id);
}

/** Creates (or finds) the namespace file; loopback is brought up by the CNI loopback plugin. */
export function createNetns(runRoot: string, id: string): string {
  const file = netnsPath(runRoot, id);
  if (isMounted(file)) return file;
  fs.mkdirSync(netnsDir(runRoot), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, "", { mode: 0o400 });
  try {
    execFileSync("unshare", [`--net=${file}`, "true"], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    fs.rmSync(file, { force: true });
    throw systemError(`create network namespace ${file}`, (e as { stderr?: Buffer }).stderr?.toString().trim() || e);
  }
  return file;
}

/** Unmounts and deletes the namespace file; the kernel frees the namespace (and its veth ends) with its last user. Idempotent. */
export function removeNetns(file: string): void {
  for (let i = 0; i < 5 && isMounted(file); i++) {
    try {
      execFileSync("umount", ["-l", file], { stdio: "ignore" });
    } catch {
      break;
    }
  }
  fs.rmSync(file, { force: true });
}

/** Namespace files under the run root (for reconciling after a crash). */
export function listNetns(runRoot: string): string[] {
  try {
    return fs.readdirSync(netnsDir(runRoot)).map((f) => path.join(netnsDir(runRoot), f));
  } catch {
    return [];
  }
}
