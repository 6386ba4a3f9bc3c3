// /volumes: create, list, inspect, remove, prune.
import { randomBytes } from "node:crypto";
import { notFound } from "../../util/errors.ts";
import { readObject, sendJson } from "../http.ts";
import type { Call, Router } from "../router.ts";

const strMap = (v: unknown): Record<string, string> | undefined =>
  v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)])) : undefined;

async function create(call: Call): Promise<void> {
  const body = await readObject(call.req);
  const driver = typeof body.Driver === "string" ? body.Driver : "";
  const name = typeof body.Name === "string" && body.Name ? body.Name : undefined;
  // dockerd: a 404 (the plugin lookup's not-found), worded as its volume store's "create <name>: …" (a name it made up when none was given).
  if (driver && driver !== "local") throw notFound(`create ${name ?? randomBytes(32).toString("hex")}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
  const v = call.api.engine.volumes.create({ name, labels: strMap(body.Labels), options: strMap(body.DriverOpts) });
  sendJson(call.res!, 201, v);
}

async function list(call: Call): Promise<void> {
  sendJson(call.res!, 200, { Volumes: call.api.engine.volumes.list({ filters: call.query.filters() }), Warnings: null });
}

async function inspect(call: Call): Promise<void> {
  sendJson(call.res!, 200, call.api.engine.volumes.inspect(call.params[0]!));
}

async function remove(call: Call): Promise<void> {
  call.api.engine.volumes.remove(call.params[0]!, { force: call.query.bool("force") });
  call.res!.writeHead(204);
  call.res!.end();
}

async function prune(call: Call): Promise<void> {
  const all = call.query.filters()?.all?.[0];
  const r = call.api.engine.volumes.prune({ all: all === "true" || all === "1" });
  // dockerd's list is never null here (unlike the other prune reports).
  sendJson(call.res!, 200, { VolumesDeleted: r.VolumesDeleted, SpaceReclaimed: r.SpaceReclaimed });
}

export function volumeRoutes(r: Router): void {
  r.add("POST", "/volumes/create", create);
  r.add("GET", "/volumes", list);
  r.add("POST", "/volumes/prune", prune);
  r.add("GET", "/volumes/{name}", inspect);
  r.add("DELETE", "/volumes/{name}", remove);
}
