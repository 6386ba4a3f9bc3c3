// The security flags of run/create: --privileged, capabilities, --security-opt,
// --group-add, sysctls, devices, OCI annotations, --init, the runtime and the
// isolation level.
import type { FlagParse } from "./types.ts";
import { parseDevice } from "../../util/ulimit-device-specs.ts";

export function applySecurityFlags(p: FlagParse): void {
  const { o, hostConfig, fail, bad } = p;
  if (o.privileged) hostConfig.Privileged = true;
  if (o.capAdd) hostConfig.CapAdd = o.capAdd.map(normalizeCap);
  if (o.capDrop) hostConfig.CapDrop = o.capDrop.map(normalizeCap);
  if (o.securityOpt) hostConfig.SecurityOpt = o.securityOpt;
  if (o.groupAdd) hostConfig.GroupAdd = o.groupAdd;
  const sysctls = p.keyValues("sysctl", o.sysctl, true);
  if (sysctls) hostConfig.Sysctls = sysctls;
  if (o.device) hostConfig.Devices = o.device.map((d) => parseDevice(d, (why) => bad("device", d, why)));
  const annotations = p.keyValues("annotation", o.annotation, true);
  if (annotations) hostConfig.Annotations = annotations;
  if (o.init) hostConfig.Init = true;
  if (o.runtime !== undefined) hostConfig.Runtime = o.runtime;
  if (o.isolation !== undefined) {
    if (!["container", "sandbox", "vm", "default"].includes(o.isolation)) {
      throw fail(`invalid isolation: ${o.isolation} (use container, sandbox or vm)`);
    }
    hostConfig.Isolation = o.isolation;
  }
}


/** CAP_ prefix and upper case, as docker's CLI normalises (ALL stays ALL). */
export function normalizeCap(c: string): string {
  const u = c.toUpperCase();
  return u === "ALL" || u.startsWith("CAP_") ? u : `CAP_${u}`;
}
