// Exec instances (POST /containers/{id}/exec → POST /exec/{id}/start →
// GET /exec/{id}/json). The engine runs an exec in one call; the API's
// create/start/inspect split lives here, in memory, for the service's lifetime.
import crypto from "node:crypto";
import type { ExecOptions } from "../types/engine-api.ts";
import { notFound } from "../util/errors.ts";

export interface ExecRecord {
  id: string;
  containerId: string;
  opts: ExecOptions & { AttachStdout: boolean; AttachStderr: boolean; ConsoleSize?: [number, number] };
  running: boolean;
  started: boolean;
  exitCode: number | null;
  /** Set while an attached TTY exec runs: forwards POST /exec/{id}/resize. */
  resize?: (rows: number, cols: number) => void;
  /** A resize that came before the engine set the TTY up (clients resize right after the 101); applied then. */
  pendingSize?: [number, number];
  created: number;
}

/** Finished execs are forgotten after this long (docker keeps them until the container goes). */
const KEEP_MS = 10 * 60_000;

export class ExecRegistry {
  private readonly execs = new Map<string, ExecRecord>();

  create(containerId: string, opts: ExecRecord["opts"]): ExecRecord {
    this.gc();
    const id = crypto.randomBytes(32).toString("hex");
    const rec: ExecRecord = { id, containerId, opts, running: false, started: false, exitCode: null, created: Date.now() };
    this.execs.set(id, rec);
    return rec;
  }

  get(id: string): ExecRecord {
    const r = this.execs.get(id) ?? [...this.execs.values()].find((e) => id.length >= 12 && e.id.startsWith(id));
    if (!r) throw notFound(`No such exec instance: ${id}`);
    return r;
  }

  forContainer(containerId: string): string[] {
    return [...this.execs.values()].filter((e) => e.containerId === containerId && e.running).map((e) => e.id);
  }

  private gc(): void {
    const now = Date.now();
    for (const [id, e] of this.execs) if (!e.running && now - e.created > KEEP_MS) this.execs.delete(id);
  }
}
