// docker's output formatting: the tabwriter, --format handling (table, json,
// Go templates), and the row contexts of ps, images, volumes and history.
import type { ImageRecord, VolumeRecord } from "../types/records.ts";
import type { ContainerSummary } from "../types/views.ts";
import { familiarString } from "../engine/index.ts";
import { shortId } from "../util/ids.ts";
import { execute, parseTemplate, TemplateError, toJson } from "./template.ts";
import { goTimeString, humanSize, timeAgo } from "./units.ts";

/** Go's text/tabwriter as docker configures it: cells padded to the column's widest + padding, at least minwidth. */
export function tabwrite(text: string, minwidth = 10, padding = 3): string {
  const lines = text.split("\n");
  const trailingNewline = lines[lines.length - 1] === "";
  if (trailingNewline) lines.pop();
  const cells = lines.map((l) => l.split("\t"));
  const out: string[] = [];
  // A column block is a run of consecutive lines that have a tab-terminated cell in that column.
  const widthsFor = (start: number, col: number): { widths: number[]; end: number } => {
    let end = start;
    let w = minwidth;
    while (end < cells.length && (cells[end] as string[]).length - 1 > col) {
      w = Math.max(w, Array.from((cells[end] as string[])[col] as string).length + padding);
      end++;
    }
    return { widths: [w], end };
  };
  const width: number[][] = cells.map(() => []);
  const maxCols = Math.max(0, ...cells.map((c) => c.length - 1));
  for (let col = 0; col < maxCols; col++) {
    let i = 0;
    while (i < cells.length) {
      if ((cells[i] as string[]).length - 1 <= col) {
        i++;
        continue;
      }
      const { widths, end } = widthsFor(i, col);
      for (let j = i; j < end; j++) (width[j] as number[])[col] = widths[0] as number;
      i = end;
    }
  }
  cells.forEach((row, r) => {
    let line = "";
    row.forEach((cell, c) => {
      if (c === row.length - 1) line += cell;
      else line += cell + " ".repeat(Math.max(0, ((width[r] as number[])[c] ?? 0) - Array.from(cell).length));
    });
    out.push(line);
  });
  return out.join("\n") + (trailingNewline ? "\n" : "");
}

/** docker's formatter.Ellipsis: at most n characters, the last one "…" when cut. */
export function ellipsis(s: string, n: number): string {
  const chars = Array.from(s);
  if (n <= 0) return "";
  if (chars.length <= n) return s;
  return chars.slice(0, n - 1).join("") + "…";
}

/** Go's strconv.Quote for the strings ps shows. */
export function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, "\\x$1");
}

/** The familiar form of a normalised reference: docker.io/library/busybox:latest → busybox:latest (or the configured short-name registry's). */
export function familiarRef(ref: string): string {
  try {
    return familiarString(ref);
  } catch {
    return ref;
  }
}

/** Splits "repo:tag" (the tag after the last "/"), "repo@digest" gives tag "<none>". */
export function splitRepoTag(ref: string): { repo: string; tag: string } {
  const at = ref.indexOf("@");
  if (at >= 0) return { repo: ref.slice(0, at), tag: "<none>" };
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref, tag: "latest" };
}

export type FormatMode = { kind: "table"; template: string } | { kind: "raw"; template: string };

/** docker's format resolution: "table", "json", "table <tmpl>", or a raw template; `\t` and `\n` escapes unescaped. */
export function resolveFormat(format: string | undefined, defaultTable: string): FormatMode {
  const f = format === undefined || format === "" || format === "table" ? "table " + defaultTable : format === "json" ? "{{json .}}" : format;
  const unescaped = f.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  if (unescaped.startsWith("table")) return { kind: "table", template: unescaped.slice(5).replace(/^\s/, "") };
  return { kind: "raw", template: unescaped };
}

/** Renders rows with a format: a table (header from `headers`, tabwriter) or one line per row. */
export function renderRows(rows: object[], format: string | undefined, defaultTable: string, headers: Record<string, string>): string {
  const mode = resolveFormat(format, defaultTable);
  let tmpl;
  try {
    tmpl = parseTemplate(mode.template);
  } catch (e) {
    throw new TemplateError(`template parsing error: ${(e as Error).message}`);
  }
  const lines: string[] = [];
  if (mode.kind === "table") lines.push(execute(tmpl, headerContext(headers)));
  for (const r of rows) lines.push(execute(tmpl, r));
  const text = lines.map((l) => l + "\n").join("");
  return mode.kind === "table" ? tabwrite(text) : text;
}

function headerContext(headers: Record<string, string>): object {
  const ctx: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) ctx[k] = v;
  ctx.Label = () => "LABEL";
  return ctx;
}

/** Adds a non-enumerable method (so `json .` leaves it out, as docker's MarshalJSON does). */
function withMethod<T extends object>(obj: T, name: string, fn: (...a: string[]) => string): T {
  Object.defineProperty(obj, name, { value: fn, enumerable: false });
  return obj;
}

function joinLabels(labels: Record<string, string> | null | undefined): string {
  return Object.entries(labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

// ---------- ps ----------

export const PS_DEFAULT = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
export const PS_HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Ports: "PORTS",
  State: "STATE",
  Status: "STATUS",
  Size: "SIZE",
  Names: "NAMES",
  Labels: "LABELS",
  Mounts: "MOUNTS",
  Networks: "NETWORKS",
  LocalVolumes: "LOCAL VOLUMES",
};

type Port = ContainerSummary["Ports"][number];

const byteCompare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** docker's DisplayablePorts: "0.0.0.0:8080->80/tcp, 443/tcp", ranges grouped. */
export function displayablePorts(ports: Port[]): string {
  const sorted = [...ports].sort(
    (a, b) =>
      a.PrivatePort - b.PrivatePort ||
      byteCompare(a.IP ?? "", b.IP ?? "") ||
      (a.PublicPort ?? 0) - (b.PublicPort ?? 0) ||
      byteCompare(a.Type, b.Type),
  );
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  const form = (key: string, first: number, last: number): string => {
    const slash = key.lastIndexOf("/");
    const ip = slash >= 0 ? key.slice(0, slash) : "";
    const type = slash >= 0 ? key.slice(slash + 1) : key;
    let g = String(first);
    if (first !== last) g = `${g}-${last}`;
    if (ip) g = `${ip}:${g}->${g}`;
    return `${g}/${type}`;
  };
  for (const p of sorted) {
    let key = p.Type;
    if (p.IP) {
      if (p.PublicPort !== p.PrivatePort) {
        const host = p.IP.includes(":") ? `[${p.IP}]` : p.IP;
        hostMappings.push(`${host}:${p.PublicPort ?? 0}->${p.PrivatePort}/${p.Type}`);
        continue;
      }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: p.PrivatePort, last: p.PrivatePort });
    } else if (p.PrivatePort === g.last + 1) {
      g.last = p.PrivatePort;
    } else {
      result.push(form(key, g.first, g.last));
      groups.set(key, { first: p.PrivatePort, last: p.PrivatePort });
    }
  }
  for (const [key, g] of groups) result.push(form(key, g.first, g.last));
  return [...result, ...hostMappings].join(", ");
}

function psImage(c: ContainerSummary, trunc: boolean): string {
  let image = c.Image || "<no image>";
  if (!trunc) return image;
  if (/^(sha256:)?[0-9a-f]{64}$/.test(image) || (c.ImageID && shortId(c.ImageID) === shortId(image) && /^(sha256:)?[0-9a-f]+$/.test(image))) {
    return shortId(image);
  }
  const at = image.indexOf("@");
  if (at >= 0) image = image.slice(0, at);
  return familiarRef(image);
}

/** The row docker's `ps` formats, with docker's field names. */
export function psContext(c: ContainerSummary, opts: { trunc: boolean; now?: number }): Record<string, string> {
  const names = c.Names.map((n) => n.replace(/^\//, "")).filter((n) => !opts.trunc || !n.includes("/"));
  let size = "";
  if (c.SizeRw !== undefined || c.SizeRootFs !== undefined) {
    size = humanSize(c.SizeRw ?? 0);
    if ((c.SizeRootFs ?? 0) > 0) size = `${size} (virtual ${humanSize(c.SizeRootFs ?? 0)})`;
  } else {
    size = "0B";
  }
  const mounts = c.Mounts.map((m) => {
    const n = m.Name ?? m.Source;
    return opts.trunc ? ellipsis(n, 15) : n;
  });
  const ctx = {
    Command: goQuote(opts.trunc ? ellipsis(c.Command, 20) : c.Command),
    CreatedAt: goTimeString(c.Created),
    ID: opts.trunc ? shortId(c.Id) : c.Id,
    Image: psImage(c, opts.trunc),
    Labels: joinLabels(c.Labels),
    LocalVolumes: String(c.Mounts.filter((m) => m.Type === "volume").length),
    Mounts: mounts.join(","),
    Names: names.join(","),
    Networks: c.HostConfig.NetworkMode === "none" || c.HostConfig.NetworkMode === "" ? "" : c.HostConfig.NetworkMode,
    Ports: displayablePorts(c.Ports),
    RunningFor: timeAgo(c.Created * 1000, opts.now),
    Size: size,
    State: c.State,
    Status: c.Status,
  };
  return withMethod(ctx, "Label", (k) => c.Labels[k] ?? "");
}

// ---------- images ----------

export const IMAGES_DEFAULT = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
export const IMAGES_DIGESTS = "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
export const IMAGES_HEADERS: Record<string, string> = {
  Containers: "CONTAINERS",
  CreatedAt: "CREATED AT",
  CreatedSince: "CREATED",
  Digest: "DIGEST",
  ID: "IMAGE ID",
  Repository: "REPOSITORY",
  SharedSize: "SHARED SIZE",
  Size: "SIZE",
  Tag: "TAG",
  UniqueSize: "UNIQUE SIZE",
  VirtualSize: "VIRTUAL SIZE",
};

/** One row per repository:tag (or one "<none>" row) as `docker images` shows. */
export function imageRows(images: ImageRecord[], opts: { trunc: boolean; now?: number }): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  // "created" is optional in an OCI image config: an image without one sorts last and shows N/A.
  const when = (img: ImageRecord): number => Date.parse(img.created) || 0;
  const sorted = [...images].sort((a, b) => when(b) - when(a));
  for (const img of sorted) {
    const created = when(img);
    const base = {
      Containers: "N/A",
      CreatedAt: created ? goTimeString(created / 1000) : "N/A",
      CreatedSince: created ? timeAgo(created, opts.now) : "N/A",
      ID: opts.trunc ? shortId(img.id) : img.id,
      SharedSize: "N/A",
      Size: humanSize(img.size),
      UniqueSize: "N/A",
      VirtualSize: humanSize(img.size),
    };
    const digestFor = (repo: string): string => {
      const d = img.repoDigests.find((r) => familiarRef(r.split("@")[0] ?? "") === repo);
      return d ? (d.split("@")[1] ?? "<none>") : "<none>";
    };
    const refs = img.repoTags.map((t) => splitRepoTag(familiarRef(t)));
    if (refs.length === 0) {
      for (const d of img.repoDigests) {
        const repo = familiarRef(d.split("@")[0] ?? "");
        refs.push({ repo, tag: "<none>" });
      }
    }
    if (refs.length === 0) {
      rows.push({ ...base, Repository: "<none>", Tag: "<none>", Digest: "<none>" });
      continue;
    }
    for (const r of refs) rows.push({ ...base, Repository: r.repo, Tag: r.tag, Digest: digestFor(r.repo) });
  }
  return rows;
}

// ---------- volumes ----------

export const VOLUMES_DEFAULT = "{{.Driver}}\t{{.Name}}";
export const VOLUMES_HEADERS: Record<string, string> = {
  Driver: "DRIVER",
  Name: "VOLUME NAME",
  Scope: "SCOPE",
  Mountpoint: "MOUNTPOINT",
  Labels: "LABELS",
  Links: "LINKS",
  Size: "SIZE",
  CreatedAt: "CREATED AT",
};

export function volumeContext(v: VolumeRecord): Record<string, string> {
  const ctx = {
    Availability: "N/A",
    CreatedAt: v.CreatedAt,
    Driver: v.Driver,
    Group: "N/A",
    Labels: joinLabels(v.Labels),
    Links: "N/A",
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Scope: v.Scope,
    Size: "N/A",
    Status: "N/A",
  };
  return withMethod(ctx, "Label", (k) => v.Labels[k] ?? "");
}

// ---------- history ----------

export const HISTORY_DEFAULT = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
export const HISTORY_HEADERS: Record<string, string> = {
  ID: "IMAGE",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  CreatedBy: "CREATED BY",
  Size: "SIZE",
  Comment: "COMMENT",
};

export interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export function historyContext(h: HistoryItem, opts: { trunc: boolean; human: boolean; now?: number }): Record<string, string> {
  const id = h.Id === "<missing>" || h.Id === "" ? "<missing>" : opts.trunc ? shortId(h.Id) : h.Id;
  let createdBy = h.CreatedBy.replace(/\t/g, " ");
  if (opts.trunc) createdBy = ellipsis(createdBy, 45);
  return {
    ID: id,
    CreatedSince: opts.human ? timeAgo(h.Created * 1000, opts.now) : new Date(h.Created * 1000).toISOString().replace(/\.000Z$/, "Z"),
    CreatedAt: new Date(h.Created * 1000).toISOString().replace(/\.000Z$/, "Z"),
    CreatedBy: createdBy,
    Size: opts.human ? humanSize(h.Size) : String(h.Size),
    Comment: h.Comment,
    Tags: (h.Tags ?? []).join(", "),
  };
}

/** One JSON document per line, as `--format json`. */
export function jsonLines(rows: object[]): string {
  return rows.map((r) => toJson(r) + "\n").join("");
}
