// Installs the peers the harness compares against from the Debian package
// mirror, only when they are missing. Nothing else is downloaded.
import { spawnSync } from "node:child_process";

export function missingPackages(names: readonly string[]): string[] {
  return names.filter((n) => {
    const r = spawnSync("dpkg-query", ["-W", "-f=${db:Status-Abbrev}", n], { encoding: "utf8" });
    return !(r.status === 0 && r.stdout.startsWith("ii"));
  });
}

/** apt-get installs what is missing (refreshing the index first); returns what failed to install. */
export function ensurePackages(names: readonly string[], log: (s: string) => void): string[] {
  const missing = missingPackages(names);
  if (missing.length === 0) return [];
  log(`installing from the package mirror: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const opts = { env, stdio: ["ignore", "ignore", "inherit"] as ("ignore" | "inherit")[], timeout: 30 * 60_000 };
  spawnSync("apt-get", ["update", "-qq"], opts);
  spawnSync("apt-get", ["install", "-y", "-qq", "-o", "Dpkg::Use-Pty=0", "--no-install-recommends", ...missing], opts);
  return missingPackages(missing);
}
