// The engine's public entry: what front ends (CLI, API, builder) and the SDK may use.
export { Engine, type EngineOptions } from "./engine.ts";
// Image references as docker spells them (the builder's tags, the CLI's output).
export { familiarString, normalizeReference } from "../image/reference.ts";
// Reading a file the image controls inside a root file system, confined to it (the builder's COPY --chown).
export { readFileInRoot } from "../runtime/rootfs-path.ts";
