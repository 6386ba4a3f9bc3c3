// Checks of an image config as the engine reads it, for configs from anywhere
// untrusted: a registry (pull) or an archive (load). docker refuses a config
// whose fields do not decode into its structs; so does capsa, at the door.
import { type CapsaError, invalid } from "../util/errors.ts";
import { isSha256Digest } from "./reference.ts";
import type { OciImageConfig } from "../types/records.ts";

type Shape = (v: unknown) => boolean;
const isString: Shape = (v) => typeof v === "string";
const isBoolean: Shape = (v) => typeof v === "boolean";
const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);
const isStrings: Shape = (v) => Array.isArray(v) && v.every((x) => typeof x === "string");
const isStringMap: Shape = (v) => isObject(v) && Object.values(v).every((x) => typeof x === "string");
/** {"80/tcp": {}}: the values carry nothing, but are objects. */
const isSet: Shape = (v) => isObject(v) && Object.values(v).every((x) => x === null || isObject(x));
/** RFC 3339, as Go decodes a time (docker refuses a config whose dates do not decode). */
const isDate: Shape = (v) => typeof v === "string" && /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(v) && Number.isFinite(Date.parse(v));
const isDuration: Shape = (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isHealthcheck: Shape = (v) => isObject(v) && fieldsOk(v, { Test: isStrings, Interval: isDuration, Timeout: isDuration, StartPeriod: isDuration, StartInterval: isDuration, Retries: isDuration });

/** The fields of an image config that the engine reads, with their types (as docker's structs have them). */
const CONFIG_FIELDS: Record<string, Shape> = {
  User: isString,
  WorkingDir: isString,
  StopSignal: isString,
  Env: isStrings,
  Entrypoint: isStrings,
  Cmd: isStrings,
  Shell: isStrings,
  OnBuild: isStrings,
  ExposedPorts: isSet,
  Volumes: isSet,
  Labels: isStringMap,
  Healthcheck: isHealthcheck,
};
const HISTORY_FIELDS: Record<string, Shape> = { created: isDate, created_by: isString, author: isString, comment: isString, empty_layer: isBoolean };
const TOP_FIELDS: Record<string, Shape> = { architecture: isString, os: isString, variant: isString, created: isDate, author: isString };

/** Null is "absent" (as JSON decoding into docker's structs makes it); anything else must have its field's type. */
function fieldsOk(o: Record<string, unknown>, shapes: Record<string, Shape>): boolean {
  return Object.entries(shapes).every(([k, ok]) => o[k] === undefined || o[k] === null || ok(o[k]));
}

/**
 * Checks an image config (parsed JSON) from a registry or an archive: the
 * rootfs lists one sha256 diff id per layer, and every field the engine reads
 * has its type, so that no later command (images, inspect, run) meets a
 * surprise. Docker refuses such configs too (they do not decode).
 */
export function checkImageConfig(doc: unknown, layerCount: number, what: string): OciImageConfig {
  if (!isObject(doc) || !isObject(doc.rootfs) || !Array.isArray(doc.rootfs.diff_ids)) throw invalid(`${what}: malformed image config: no rootfs.diff_ids`);
  const diffIds: unknown[] = doc.rootfs.diff_ids;
  if (diffIds.length !== layerCount) throw invalid(`${what}: the config lists ${diffIds.length} layers, the manifest ${layerCount}`);
  for (const d of diffIds) if (typeof d !== "string" || !isSha256Digest(d)) throw invalid(`${what}: malformed diff id ${JSON.stringify(d)} in the image config`);
  const bad = (field: string): CapsaError => invalid(`${what}: malformed image config: ${field} has the wrong type`);
  for (const k of Object.keys(TOP_FIELDS)) if (!fieldsOk({ [k]: doc[k] }, { [k]: TOP_FIELDS[k]! })) throw bad(k);
  if (doc.config !== undefined && doc.config !== null) {
    if (!isObject(doc.config)) throw bad("config");
    for (const k of Object.keys(CONFIG_FIELDS)) if (!fieldsOk({ [k]: doc.config[k] }, { [k]: CONFIG_FIELDS[k]! })) throw bad(`config.${k}`);
  }
  if (doc.history !== undefined && doc.history !== null) {
    if (!Array.isArray(doc.history)) throw bad("history");
    doc.history.forEach((h: unknown, i) => {
      if (!isObject(h) || !fieldsOk(h, HISTORY_FIELDS)) throw bad(`history[${i}]`);
    });
  }
  // Stored as it came (its digest is the image's ID); the engine reads a null field as an absent one.
  return doc as unknown as OciImageConfig;
}
