// `images` listing rules: which untagged images are a build's intermediate
// steps (shown with -a only) and docker's --filter keys.
import crypto from "node:crypto";
import type { ImageRecord, OciImageConfig } from "../types/records.ts";
import { invalid } from "../util/errors.ts";
import { familiarRepository, familiarString, parseReference, referenceString, repositoryName } from "./reference.ts";
import { labelMatches } from "../util/label-filter.ts";

/** A key per history step (entries and the diff ids so far), so an image's chain can be matched against another's prefix. */
function historyKeys(cfg: OciImageConfig): string[] {
  const diffIds = cfg.rootfs?.diff_ids ?? [];
  const keys: string[] = [];
  let key = "";
  let layer = 0;
  for (const e of cfg.history ?? []) {
    const d = e.empty_layer ? "" : (diffIds[layer++] ?? "");
    key = crypto.createHash("sha256").update(key).update(JSON.stringify([e.created ?? "", e.created_by ?? "", !!e.empty_layer, d])).digest("hex");
    keys.push(key);
  }
  return layer === diffIds.length ? keys : [];
}

/** IDs of images whose whole history is a proper prefix of another image's: the parents (build steps) of others. */
export function intermediateIds(images: ImageRecord[]): Set<string> {
  const prefixes = new Set<string>();
  const own = new Map<string, string>();
  for (const img of images) {
    const keys = historyKeys(img.config);
    if (keys.length === 0) continue;
    own.set(img.id, keys[keys.length - 1]!);
    for (let i = 0; i < keys.length - 1; i++) prefixes.add(keys[i]!);
  }
  const out = new Set<string>();
  for (const [id, key] of own) if (prefixes.has(key)) out.add(id);
  return out;
}

/** docker's `images --filter`: dangling, reference, label, before, since (each key may repeat; all must hold). */
export function filterImages(images: ImageRecord[], filters: Record<string, string[]>, resolve: (refOrId: string) => ImageRecord): ImageRecord[] {
  for (const [key, values] of Object.entries(filters)) {
    for (const v of values) {
      switch (key) {
        case "dangling":
          images = images.filter((i) => (i.repoTags.length === 0) === (v === "true" || v === "1"));
          break;
        case "reference":
          images = images.filter((i) => i.repoTags.some((t) => referenceMatches(v, t)));
          break;
        case "label":
          images = images.filter((i) => labelMatches(i.config.config?.Labels ?? {}, v));
          break;
        case "before":
        case "since": {
          const pivot = resolve(v);
          images = images.filter((i) => (key === "before" ? i.created < pivot.created : i.created > pivot.created));
          break;
        }
        default:
          throw invalid(`invalid filter '${key}'`);
      }
    }
  }
  return images;
}

function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]");
  return new RegExp(`^${re}$`);
}

/** docker's `reference=` filter: a glob over the familiar name, with or without the tag. */
function referenceMatches(pattern: string, ref: string): boolean {
  const r = parseReference(ref);
  const repo = familiarRepository(r);
  const re = globToRegExp(pattern);
  return re.test(familiarString(r)) || re.test(repo) || re.test(referenceString(r)) || re.test(repositoryName(r));
}
