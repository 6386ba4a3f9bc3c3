// The service's event stream (GET /events). capsa has no daemon watching every
// container, so the events are those this service itself causes or observes:
// container create/start/die/stop/kill/destroy/…, image and volume changes made
// through the API. Events from other front ends (the capsa CLI) do not appear.
import { EventEmitter } from "node:events";

export interface DockerEvent {
  Type: "container" | "image" | "volume" | "network";
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  time: number;
  timeNano: number;
  // Pre-1.22 fields docker still sends for containers.
  status?: string;
  id?: string;
  from?: string;
}

/** How many past events `since` can replay. */
const HISTORY = 1000;

export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly history: DockerEvent[] = [];

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(type: DockerEvent["Type"], action: string, id: string, attributes: Record<string, string> = {}): void {
    const nano = BigInt(Date.now()) * 1_000_000n;
    const e: DockerEvent = {
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
    this.history.push(e);
    if (this.history.length > HISTORY) this.history.shift();
    this.emitter.emit("event", e);
  }

  /** Past events at or after `sinceNano`. */
  since(sinceNano: number): DockerEvent[] {
    return this.history.filter((e) => e.timeNano >= sinceNano);
  }

  subscribe(fn: (e: DockerEvent) => void): () => void {
    this.emitter.on("event", fn);
    return () => this.emitter.off("event", fn);
  }
}

/** docker's event filters: type, event/action, container, image, volume, label (k or k=v). */
export function matchesEvent(e: DockerEvent, filters: Record<string, string[]> | undefined): boolean {
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
  for (const l of filters.label ?? []) {
    const eq = l.indexOf("=");
    if (eq < 0 ? !(l in attrs) : attrs[l.slice(0, eq)] !== l.slice(eq + 1)) return false;
  }
  return true;
}
