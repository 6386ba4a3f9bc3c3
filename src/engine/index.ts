// The engine's public entry: what front ends (CLI, API service, builder) and
// the SDK may use. Only re-exports; each name lives where it belongs.
export { Engine, type EngineOptions, type ImageBuilder } from "./engine.ts";
export { API_VERSION, VERSION } from "./version.ts";
// docker's event filters, as the engine's journal reads them.
export { matchesEvent } from "../events/journal.ts";
// How image references are shown (docker.io/library/ dropped).
export { familiarString } from "../image/reference.ts";
// --security-opt checks; the API refuses profile files (a path would read the engine host's files).
export { parseSecurityOpts } from "../runtime/security-opt.ts";
