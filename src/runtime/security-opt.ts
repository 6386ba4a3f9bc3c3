// --security-opt: seccomp=unconfined|<profile>, no-new-privileges[=true|false],
// label=… (accepted; a no-op without SELinux), apparmor=unconfined (the only
// AppArmor value capsa accepts: it applies no AppArmor profiles),
// systempaths=unconfined (no masked or read-only /proc and /sys paths).
//
// A seccomp profile is the profile's JSON text, as docker's CLI sends it (the
// client reads the file). Only callers on the engine's own host — the CLI, the
// SDK — may name a file instead; an API client's value is never a path (it
// would read any file as root), and no error quotes a file's bytes.
import fs from "node:fs";
import { invalid } from "../util/errors.ts";
import { parseSeccompProfile } from "./seccomp.ts";
import type { SeccompProfile } from "./seccomp-default.ts";

export interface SecurityOptions {
  /** "default", "unconfined", or a parsed profile. */
  seccomp: "default" | "unconfined" | SeccompProfile;
  noNewPrivileges: boolean;
  unmaskSystemPaths: boolean;
}

export interface ParseOptions {
  /** Whether a seccomp value that is not JSON names a profile file to read (default true; false for API clients). */
  profileFiles?: boolean;
}

export function parseSecurityOpts(opts: string[] | undefined, { profileFiles = true }: ParseOptions = {}): SecurityOptions {
  const out: SecurityOptions = { seccomp: "default", noNewPrivileges: false, unmaskSystemPaths: false };
  for (const raw of opts ?? []) {
    // docker accepts both key=value and the old key:value form.
    const m = /^([a-z-]+)(?:[=:]([\s\S]*))?$/.exec(raw);
    const key = m?.[1];
    const value = m?.[2];
    switch (key) {
      case "no-new-privileges":
        if (value === undefined || value === "true") out.noNewPrivileges = true;
        else if (value === "false") out.noNewPrivileges = false;
        else throw invalid(`invalid --security-opt 2: "${raw}"`);
        break;
      case "seccomp":
        if (!value) throw invalid(`invalid --security-opt: "${raw}": seccomp needs a value`);
        out.seccomp = seccompValue(value, profileFiles);
        break;
      case "label":
        // SELinux labels: capsa runs no SELinux policy; docker ignores them on such hosts too.
        if (!value) throw invalid(`invalid --security-opt: "${raw}"`);
        break;
      case "apparmor":
        if (value !== "unconfined") throw invalid(`--security-opt ${raw}: capsa does not apply AppArmor profiles; only apparmor=unconfined is accepted`);
        break;
      case "systempaths":
        if (value !== "unconfined") throw invalid(`invalid --security-opt: "${raw}": systempaths only takes "unconfined"`);
        out.unmaskSystemPaths = true;
        break;
      default:
        throw invalid(`invalid --security-opt: "${raw}"`);
    }
  }
  return out;
}

/** docker's CLI sends the profile's JSON text; the CLI's and SDK's callers may give a file path instead. */
function seccompValue(value: string, profileFiles: boolean): SecurityOptions["seccomp"] {
  if (value === "unconfined") return "unconfined";
  if (value === "builtin" || value === "default") return "default";
  if (value.trimStart().startsWith("{")) return profileFromText(value, "(inline)");
  if (!profileFiles) {
    throw invalid("Decoding seccomp profile failed: not a JSON object. The API takes the profile's JSON text, as the docker CLI sends it, never a path on the engine's host");
  }
  let text: string;
  try {
    text = fs.readFileSync(value, "utf8");
  } catch (e) {
    throw invalid(`opening seccomp profile (${value}) failed: ${(e as Error).message}`);
  }
  return profileFromText(text, value);
}

/** JSON.parse's message quotes the text; for a file that is not JSON, say so without showing any of it. */
function profileFromText(text: string, source: string): SeccompProfile {
  try {
    JSON.parse(text);
  } catch {
    throw invalid(`Decoding seccomp profile ${source} failed: not valid JSON`);
  }
  return parseSeccompProfile(text, source);
}
