// The storage flags of run/create: -v (binds and anonymous volumes), --mount,
// --tmpfs and --read-only.
import path from "node:path";
import type { MountSpec } from "../../types/records.ts";
import { parseRamBytes } from "../units.ts";
import type { FlagParse } from "./types.ts";

export function applyStorageFlags(p: FlagParse): void {
  const { o, ctx, config, hostConfig, bad } = p;
  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const spec of o.volume ?? []) {
    const v = parseVolumeSpec(spec, ctx.cwd);
    if (typeof v === "string") throw bad("volume", spec, v);
    if ("bind" in v) binds.push(v.bind);
    else volumes[v.anonymous] = {};
  }
  if (binds.length > 0) hostConfig.Binds = binds;
  if (Object.keys(volumes).length > 0) config.Volumes = volumes;
  const mounts = (o.mount ?? []).map((m) => {
    const r = parseMountSpec(m, ctx.cwd);
    if (typeof r === "string") throw bad("mount", m, r);
    return r;
  });
  if (mounts.length > 0) hostConfig.Mounts = mounts;
  if (o.tmpfs) {
    hostConfig.Tmpfs = {};
    for (const t of o.tmpfs) {
      const colon = t.indexOf(":");
      const dst = colon >= 0 ? t.slice(0, colon) : t;
      if (!dst.startsWith("/")) throw bad("tmpfs", t, `invalid mount path: '${dst}' mount path must be absolute`);
      hostConfig.Tmpfs[dst] = colon >= 0 ? t.slice(colon + 1) : "";
    }
  }
  if (o.readOnly) hostConfig.ReadonlyRootfs = true;
}

/** -v: "/ctr" (anonymous volume), "name:/ctr[:opts]" or "/host:/ctr[:opts]" (relative host paths made absolute). */
export function parseVolumeSpec(spec: string, cwd: string): { anonymous: string } | { bind: string } | string {
  const parts = spec.split(":");
  if (parts.length === 1) {
    if (!spec.startsWith("/")) return `invalid volume specification: '${spec}': invalid mount config for type "volume": invalid mount path: '${spec}' mount path must be absolute`;
    return { anonymous: spec };
  }
  if (parts.length > 3 || parts.some((p, i) => p === "" && i < 2)) return `invalid volume specification: '${spec}'`;
  const [, dst = "", mode] = parts;
  let src = parts[0] ?? "";
  if (!dst.startsWith("/")) {
    return `invalid volume specification: '${spec}': invalid mount config for type "bind": invalid mount path: '${dst}' mount path must be absolute`;
  }
  if (mode !== undefined) {
    const known = /^(ro|rw|z|Z|nocopy|private|rprivate|shared|rshared|slave|rslave|O|U|exec|noexec|suid|nosuid|dev|nodev)$/;
    if (mode.split(",").some((m) => !known.test(m))) return `invalid volume specification: '${spec}': invalid mode: ${mode}`;
  }
  if (src.startsWith(".") || src.startsWith("~")) src = path.resolve(cwd, src);
  else if (!src.startsWith("/") && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(src)) {
    return `invalid volume specification: '${spec}': "${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`;
  }
  return { bind: [src, dst, ...(mode !== undefined ? [mode] : [])].join(":") };
}

/** --mount type=bind|volume|tmpfs,source=,target=,readonly,… (CSV, docker's keys). */
export function parseMountSpec(spec: string, cwd: string): MountSpec | string {
  const m: MountSpec = { Type: "volume", Target: "" };
  let target = false;
  const labels: Record<string, string> = {};
  for (const field of spec.split(",")) {
    const eq = field.indexOf("=");
    const key = (eq >= 0 ? field.slice(0, eq) : field).toLowerCase();
    const val = eq >= 0 ? field.slice(eq + 1) : undefined;
    const boolVal = (): boolean | string => {
      if (val === undefined || ["1", "true"].includes(val.toLowerCase())) return true;
      if (["0", "false"].includes(val.toLowerCase())) return false;
      return `invalid value for ${key}: ${val}`;
    };
    if (val === undefined && !["readonly", "ro", "volume-nocopy", "bind-nonrecursive"].includes(key)) {
      return `invalid field '${field}' must be a key=value pair`;
    }
    switch (key) {
      case "type":
        if (val !== "bind" && val !== "volume" && val !== "tmpfs") return `invalid mount type: "${val}"`;
        m.Type = val;
        break;
      case "source":
      case "src":
        m.Source = val;
        break;
      case "target":
      case "dst":
      case "destination":
        m.Target = val ?? "";
        target = true;
        break;
      case "readonly":
      case "ro": {
        const b = boolVal();
        if (typeof b === "string") return b;
        m.ReadOnly = b;
        break;
      }
      case "bind-propagation":
        m.BindOptions = { ...m.BindOptions, Propagation: val };
        break;
      case "volume-nocopy": {
        const b = boolVal();
        if (typeof b === "string") return b;
        m.VolumeOptions = { ...m.VolumeOptions, NoCopy: b };
        break;
      }
      case "volume-label": {
        const v = val ?? "";
        const i = v.indexOf("=");
        labels[i >= 0 ? v.slice(0, i) : v] = i >= 0 ? v.slice(i + 1) : "";
        break;
      }
      case "tmpfs-size":
        try {
          m.TmpfsOptions = { ...m.TmpfsOptions, SizeBytes: parseRamBytes(val ?? "") };
        } catch {
          return `invalid value for tmpfs-size: ${val}`;
        }
        break;
      case "tmpfs-mode": {
        if (!/^[0-7]+$/.test(val ?? "")) return `invalid value for tmpfs-mode: ${val}`;
        m.TmpfsOptions = { ...m.TmpfsOptions, Mode: Number.parseInt(val ?? "0", 8) };
        break;
      }
      case "consistency":
      case "volume-driver":
      case "bind-nonrecursive":
        break;
      default:
        return `unexpected key '${key}' in '${field}'`;
    }
  }
  if (Object.keys(labels).length > 0) m.VolumeOptions = { ...m.VolumeOptions, Labels: labels };
  if (!target || m.Target === "") return "target is required";
  if (!m.Target.startsWith("/")) return `invalid mount path: '${m.Target}' mount path must be absolute`;
  if (m.Type === "bind") {
    if (!m.Source) return "source is required when specifying bind mounts";
    if (!m.Source.startsWith("/")) m.Source = path.resolve(cwd, m.Source);
  }
  if (m.Type === "tmpfs" && m.Source) return "source is not supported for tmpfs mounts";
  if (m.Type !== "volume" && m.VolumeOptions) return `cannot mix 'volume-*' options with mount type '${m.Type}'`;
  if (m.Type !== "tmpfs" && m.TmpfsOptions) return `cannot mix 'tmpfs-*' options with mount type '${m.Type}'`;
  return m;
}
