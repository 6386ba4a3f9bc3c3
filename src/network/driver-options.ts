// The bridge driver's options (docker's `network create -o`, the API's
// Options): the ones capsa applies, the ones it refuses because ignoring them
// would give a network other than the one asked for, and the rest, kept and
// shown by inspect as dockerd keeps options no driver reads.
import { invalid } from "../util/errors.ts";

export const MTU_OPTION = "com.docker.network.driver.mtu";

/** Go's strconv.ParseBool, as dockerd reads these options. */
function goBool(key: string, v: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(v)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(v)) return false;
  throw invalid(`failed to parse ${key} value: ${v} (strconv.ParseBool: parsing "${v}": invalid syntax)`);
}

/** Options whose docker default is the only behaviour capsa's bridges have: any other value is refused. */
const FIXED: Record<string, { ok: (key: string, v: string) => boolean; why: string }> = {
  "com.docker.network.bridge.enable_icc": { ok: goBool, why: "containers on a capsa network always reach each other" },
  "com.docker.network.bridge.enable_ip_masquerade": { ok: goBool, why: "a capsa network that is not --internal always masquerades" },
  "com.docker.network.bridge.host_binding_ipv4": { ok: (_k, v) => v === "0.0.0.0" || v === "", why: "publish ports on an address with -p ADDR:PORT:PORT instead" },
  "com.docker.network.bridge.name": { ok: () => false, why: "capsa names its bridges itself (cps-…): its isolation rules between networks rely on that name" },
  "com.docker.network.container_iface_prefix": { ok: (_k, v) => v === "eth" || v === "", why: "containers' interfaces are always eth0, eth1, …" },
};

/** Checks the options; returns the MTU to give the bridge, if one was asked for. */
export function bridgeOptions(opts: Record<string, string>): { mtu?: number } {
  for (const [key, v] of Object.entries(opts)) {
    const fixed = FIXED[key];
    if (fixed && !fixed.ok(key, v)) throw invalid(`network option ${key}=${v} is not supported: ${fixed.why}`);
  }
  const raw = opts[MTU_OPTION];
  if (raw === undefined || raw === "") return {};
  const mtu = Number(raw);
  if (!/^\d+$/.test(raw) || mtu < 68 || mtu > 65535) throw invalid(`invalid MTU number: ${raw} (68 to 65535)`);
  return { mtu };
}
