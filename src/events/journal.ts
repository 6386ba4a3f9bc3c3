// The engine's event journal. capsa has no daemon that sees everything, so
// every front end (the CLI, the SDK, the API service, conmon's exit command)
// appends what it does to one file, and `GET /events` tails it: a container
// started by `capsa run` shows in `docker events`, and the reverse. This is
// Podman's "file" events backend; docker keeps its history in the daemon's
// memory instead.
//
// <runRoot>/events/events.log holds one JSON line per event, in docker's
// event shape. Each line is a single O_APPEND write, so concurrent writers do
// not interleave. Past MAX_BYTES the file is renamed to events.log.1 (the
// previous .1 is dropped): readers that follow keep their descriptor, finish
// the old file, then open the new one. The journal lives under the run root,
// like docker's in-memory history it does not survive a reboot.
import fs from "node:fs";
import path from "node:path";
import type { EngineEvent, EventLog, EventType } from "../types/events.ts";
import { labelMatches } from "../util/label-filter.ts";

export type { EngineEvent, EventType };

const MAX_BYTES = 1024 * 1024;
const FILE = "events.log";

export class EventJournal implements EventLog {
  readonly file: string;
  private readonly rotated: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, FILE);
    this.rotated = `${this.file}.1`;
  }

  /** Appends one event. Never throws: an event that cannot be written must not fail the verb that caused it. */
  record(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    const nano = BigInt(Date.now()) * 1_000_000n + BigInt(process.hrtime()[1] % 1_000_000);
    const e: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: "local",
      time: Number(nano / 1_000_000_000n),
      timeNano: Number(nano),
    };
    if (type === "container") {
      e.status = action;
      e.id = id;
      if (attributes.image) e.from = attributes.image;
    }
    try {
      this.append(JSON.stringify(e) + "\n");
    } catch {
      /* a full or read-only run root: the verb still succeeds */
    }
    return e;
  }

  private append(line: string): void {
    let fd: number;
    try {
      fd = fs.openSync(this.file, "a", 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      fd = fs.openSync(this.file, "a", 0o600);
    }
    try {
      fs.writeSync(fd, line);
      if (fs.fstatSync(fd).size > MAX_BYTES) fs.renameSync(this.file, this.rotated);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Events at or after `sinceNano` (all kept ones when undefined), oldest first. */
  read(sinceNano = 0): EngineEvent[] {
    const out: EngineEvent[] = [];
    for (const f of [this.rotated, this.file]) {
      let text: string;
      try {
        text = fs.readFileSync(f, "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n")) {
        const e = parseLine(line);
        if (e && e.timeNano >= sinceNano) out.push(e);
      }
    }
    return out;
  }

  /**
   * Calls `fn` for each event appended from now on, by any process, until the
   * returned function is called. inotify on the directory wakes the reader at
   * once; a slow poll covers file systems where it does not.
   */
  follow(fn: (e: EngineEvent) => void): () => void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    let fd: number | undefined;
    let ino = -1;
    let offset = 0;
    let partial = "";
    const open = (fromEnd: boolean): void => {
      try {
        fd = fs.openSync(this.file, "r");
      } catch {
        fd = undefined;
        ino = -1;
        return;
      }
      const st = fs.fstatSync(fd);
      ino = st.ino;
      offset = fromEnd ? st.size : 0;
      partial = "";
    };
    const drain = (): void => {
      const buf = Buffer.alloc(64 * 1024);
      // A subscriber may stop following from inside fn: check before every read.
      while (!closed && fd !== undefined) {
        let n: number;
        try {
          n = fs.readSync(fd, buf, 0, buf.length, offset);
        } catch {
          return;
        }
        if (n <= 0) break;
        offset += n;
        const lines = (partial + buf.subarray(0, n).toString("utf8")).split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) {
          const e = parseLine(l);
          if (e) fn(e);
        }
      }
    };
    const poll = (): void => {
      if (closed) return;
      drain();
      // Rotated (or created since): finish the old file, then read the new one from its start.
      let cur = -1;
      try {
        cur = fs.statSync(this.file).ino;
      } catch {
        /* not there yet */
      }
      if (cur !== -1 && cur !== ino) {
        if (fd !== undefined) fs.closeSync(fd);
        open(false);
        drain();
      }
    };
    let closed = false;
    open(true);
    const watcher = fs.watch(this.dir, () => poll());
    watcher.on("error", () => undefined);
    const timer = setInterval(poll, 1000);
    timer.unref();
    return () => {
      closed = true;
      watcher.close();
      clearInterval(timer);
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    };
  }
}

function parseLine(line: string): EngineEvent | undefined {
  if (!line) return undefined;
  try {
    const e = JSON.parse(line) as EngineEvent;
    return typeof e.timeNano === "number" && typeof e.Type === "string" ? e : undefined;
  } catch {
    return undefined; // a torn line from a crash: skip it
  }
}

/** docker's event filters: type, event/action, container, image, volume, label (k or k=v). */
export function matchesEvent(e: EngineEvent, filters: Record<string, string[]> | undefined): boolean {
  if (!filters) return true;
  const attrs = e.Actor.Attributes;
  const oneOf = (key: string, values: string[]): boolean => {
    const f = filters[key];
    return !f || f.length === 0 || f.some((v) => values.includes(v));
  };
  if (!oneOf("type", [e.Type])) return false;
  if (!oneOf("event", [e.Action, e.Action.split(":")[0] ?? ""])) return false;
  if (filters.container?.length && (e.Type !== "container" || !filters.container.some((v) => e.Actor.ID.startsWith(v) || attrs.name === v))) return false;
  if (filters.image?.length && !filters.image.some((v) => attrs.image === v || (e.Type === "image" && (e.Actor.ID === v || attrs.name === v)))) return false;
  if (filters.volume?.length && (e.Type !== "volume" || !filters.volume.includes(e.Actor.ID))) return false;
  return (filters.label ?? []).every((l) => labelMatches(attrs, l));
}
