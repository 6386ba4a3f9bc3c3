// The service's event stream (GET /events): a view of the engine's event
// journal (src/events/journal.ts), so events from every front end appear —
// the capsa CLI, the SDK, conmon's exit command and this service alike.
// One follower per service fans out to every open `docker events`.
import { EventEmitter } from "node:events";
import type { EngineEvent, EventLog } from "../types/events.ts";

export type DockerEvent = EngineEvent;

export class EventBus {
  private readonly emitter = new EventEmitter();
  private stopFollowing: (() => void) | undefined;

  constructor(private readonly journal: EventLog) {
    this.emitter.setMaxListeners(0);
  }

  /** Records an event the service itself causes (the engine records container lifecycle events). */
  emit(type: DockerEvent["Type"], action: string, id: string, attributes: Record<string, string> = {}): void {
    this.journal.record(type, action, id, attributes);
  }

  /** Past events at or after `sinceNano`. */
  since(sinceNano: number): DockerEvent[] {
    return this.journal.read(sinceNano);
  }

  subscribe(fn: (e: DockerEvent) => void): () => void {
    this.stopFollowing ??= this.journal.follow((e) => this.emitter.emit("event", e));
    this.emitter.on("event", fn);
    return () => {
      this.emitter.off("event", fn);
      if (this.emitter.listenerCount("event") === 0) {
        this.stopFollowing?.();
        this.stopFollowing = undefined;
      }
    };
  }
}
