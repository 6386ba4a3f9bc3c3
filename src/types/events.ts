// docker's event record, and the journal every layer appends to (src/events/journal.ts).
export type EventType = "container" | "image" | "volume" | "network";

export interface EngineEvent {
  Type: EventType;
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

/** What front ends need of the event journal: append, read back, follow. */
export interface EventLog {
  record(type: EventType, action: string, id: string, attributes?: Record<string, string>): EngineEvent;
  read(sinceNano?: number): EngineEvent[];
  follow(fn: (e: EngineEvent) => void): () => void;
}
