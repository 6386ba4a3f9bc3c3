// Compiles a seccomp profile in docker's format (the default one or a user's
// `--security-opt seccomp=…`) into the OCI runtime-spec form for this host:
// rules whose capability, architecture or kernel conditions do not hold are
// dropped here, as docker does, so the runtime sees a plain filter.
import os from "node:os";
import { invalid } from "../util/errors.ts";
import type { OciSeccomp, SeccompAction, SeccompArg, SeccompOperator, SeccompSyscall } from "./oci.ts";
import type { ProfileCondition, ProfileRule, SeccompProfile } from "./seccomp-default.ts";

export interface SeccompContext {
  /** The container's effective capability set (CAP_… names). */
  caps: string[];
  /** docker's arch name (amd64, arm64, …); default: this host's. */
  arch?: string;
  /** Kernel release; default: this host's. */
  kernel?: string;
}

const NATIVE_SCMP_ARCH: Record<string, string> = {
  amd64: "SCMP_ARCH_X86_64",
  x86: "SCMP_ARCH_X86",
  arm64: "SCMP_ARCH_AARCH64",
  arm: "SCMP_ARCH_ARM",
  ppc64le: "SCMP_ARCH_PPC64LE",
  s390x: "SCMP_ARCH_S390X",
  riscv64: "SCMP_ARCH_RISCV64",
};

/** docker's name for this host's architecture. */
export function dockerArch(nodeArch: string = process.arch): string {
  const map: Record<string, string> = { x64: "amd64", ia32: "x86", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  return map[nodeArch] ?? nodeArch;
}

function kernelAtLeast(release: string, min: string): boolean {
  const parse = (v: string): number[] => (/^(\d+)\.(\d+)/.exec(v) ?? ["", "0", "0"]).slice(1, 3).map(Number);
  const [a = 0, b = 0] = parse(release);
  const [x = 0, y = 0] = parse(min);
  return a > x || (a === x && b >= y);
}

function applies(rule: ProfileRule, ctx: Required<SeccompContext>): boolean {
  const inc: ProfileCondition = rule.includes ?? {};
  const exc: ProfileCondition = rule.excludes ?? {};
  if (inc.caps?.length && !inc.caps.every((c) => ctx.caps.includes(c))) return false;
  if (inc.arches?.length && !inc.arches.includes(ctx.arch)) return false;
  if (inc.minKernel && !kernelAtLeast(ctx.kernel, inc.minKernel)) return false;
  if (exc.caps?.some((c) => ctx.caps.includes(c))) return false;
  if (exc.arches?.includes(ctx.arch)) return false;
  return true;
}

export function compileSeccomp(profile: SeccompProfile, context: SeccompContext): OciSeccomp {
  const ctx: Required<SeccompContext> = { caps: context.caps, arch: context.arch ?? dockerArch(), kernel: context.kernel ?? os.release() };
  let architectures = profile.architectures;
  if (!architectures && profile.archMap) {
    const native = NATIVE_SCMP_ARCH[ctx.arch];
    const entry = profile.archMap.find((a) => a.architecture === native);
    if (entry) architectures = [entry.architecture, ...(entry.subArchitectures ?? [])];
  }
  const syscalls: SeccompSyscall[] = [];
  for (const rule of profile.syscalls ?? []) {
    if (!applies(rule, ctx)) continue;
    const s: SeccompSyscall = { names: [...rule.names], action: rule.action };
    if (rule.errnoRet !== undefined) s.errnoRet = rule.errnoRet;
    if (rule.args?.length) s.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(s);
  }
  const out: OciSeccomp = { defaultAction: profile.defaultAction, syscalls };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  if (architectures?.length) out.architectures = architectures;
  return out;
}

const ACTIONS = new Set<string>([
  "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
]);
const OPERATORS = new Set<string>(["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

function condition(v: unknown, where: string): ProfileCondition | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new Error(`${where} must be an object`);
  const c: ProfileCondition = {};
  if (v.caps !== undefined && v.caps !== null) {
    if (!isStringArray(v.caps)) throw new Error(`${where}.caps must be a list of strings`);
    c.caps = v.caps;
  }
  if (v.arches !== undefined && v.arches !== null) {
    if (!isStringArray(v.arches)) throw new Error(`${where}.arches must be a list of strings`);
    c.arches = v.arches;
  }
  if (typeof v.minKernel === "string" && v.minKernel) c.minKernel = v.minKernel;
  return c;
}

/**
 * Parses a profile as docker's CLI sends it (the JSON text of the file) or in
 * the OCI form; `source` names it in errors. Unknown actions and operators
 * are rejected here rather than by the runtime at start.
 */
export function parseSeccompProfile(text: string, source: string): SeccompProfile {
  try {
    const raw: unknown = JSON.parse(text);
    if (!isObject(raw)) throw new Error("not a JSON object");
    if (typeof raw.defaultAction !== "string" || !ACTIONS.has(raw.defaultAction)) throw new Error(`defaultAction ${JSON.stringify(raw.defaultAction)} is not a seccomp action`);
    if (raw.architectures !== undefined && raw.architectures !== null && raw.archMap !== undefined && raw.archMap !== null) {
      throw new Error("use either architectures or archMap, not both");
    }
    const profile: SeccompProfile = { defaultAction: raw.defaultAction as SeccompAction };
    if (typeof raw.defaultErrnoRet === "number") profile.defaultErrnoRet = raw.defaultErrnoRet;
    if (raw.architectures !== undefined && raw.architectures !== null) {
      if (!isStringArray(raw.architectures)) throw new Error("architectures must be a list of strings");
      profile.architectures = raw.architectures;
    }
    if (Array.isArray(raw.archMap)) {
      profile.archMap = raw.archMap.map((a: unknown, i) => {
        if (!isObject(a) || typeof a.architecture !== "string") throw new Error(`archMap[${i}] needs an architecture`);
        return { architecture: a.architecture, subArchitectures: isStringArray(a.subArchitectures) ? a.subArchitectures : [] };
      });
    }
    const syscalls: unknown = raw.syscalls ?? [];
    if (!Array.isArray(syscalls)) throw new Error("syscalls must be a list");
    profile.syscalls = syscalls.map((r: unknown, i): ProfileRule => {
      const where = `syscalls[${i}]`;
      if (!isObject(r)) throw new Error(`${where} must be an object`);
      const names = r.names ?? (typeof r.name === "string" ? [r.name] : undefined);
      if (!isStringArray(names) || names.length === 0) throw new Error(`${where} needs names`);
      if (typeof r.action !== "string" || !ACTIONS.has(r.action)) throw new Error(`${where}.action ${JSON.stringify(r.action)} is not a seccomp action`);
      const rule: ProfileRule = { names, action: r.action as SeccompAction };
      if (typeof r.errnoRet === "number") rule.errnoRet = r.errnoRet;
      if (r.args !== undefined && r.args !== null) {
        if (!Array.isArray(r.args)) throw new Error(`${where}.args must be a list`);
        rule.args = r.args.map((a: unknown, j): SeccompArg => {
          if (!isObject(a) || typeof a.index !== "number" || typeof a.value !== "number" || typeof a.op !== "string" || !OPERATORS.has(a.op)) {
            throw new Error(`${where}.args[${j}] needs index, value and a SCMP_CMP_* op`);
          }
          const arg: SeccompArg = { index: a.index, value: a.value, op: a.op as SeccompOperator };
          if (typeof a.valueTwo === "number") arg.valueTwo = a.valueTwo;
          return arg;
        });
      }
      const inc = condition(r.includes, `${where}.includes`);
      const exc = condition(r.excludes, `${where}.excludes`);
      if (inc) rule.includes = inc;
      if (exc) rule.excludes = exc;
      return rule;
    });
    return profile;
  } catch (e) {
    throw invalid(`seccomp profile ${source}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
