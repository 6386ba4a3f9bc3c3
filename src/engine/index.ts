// The engine's public entry: what front ends (CLI, API service, builder) and
// the SDK may use. Only re-exports; each name lives where it belongs.
export { Engine, type EngineOptions } from "./engine.ts";
export { API_VERSION, VERSION } from "../types/version.ts";
// docker's event filters, as the engine's journal reads them (the CLI's events, the API's /events).
export { matchesEvent } from "../events/journal.ts";
// Image references as docker parses and spells them (the builder's tags, the CLI's pull and output, the API's views).
export { familiarString, normalizeReference, parseReference, referenceString, repositoryName, shortNameRegistry, withDefaultTag } from "../image/reference.ts";
// Address parsing as the network service does it (the CLI matches --ip-range/--gateway to their --subnet).
export { parseIp } from "../network/cidr.ts";
export { parseIp6 } from "../network/cidr6.ts";
// The safe tar packer and extractor (the CLI's cp packs and unpacks on the client's side).
export { extractTar } from "../archive/extract.ts";
export { packDir } from "../archive/pack.ts";
// --security-opt checks; the API refuses profile files (a path would read the engine host's files).
export { parseSecurityOpts } from "../runtime/security-opt.ts";
// Reading a file the image controls inside a root file system, confined to it (the builder's COPY --chown).
export { readFileInRoot } from "../runtime/rootfs-path.ts";
// State checks and repair, and a reset that needs no readable database (`system check`, `system reset`).
export { checkState, type CheckFinding } from "./check.ts";
export { resetWithoutDatabase } from "./recovery.ts";
export { resolvePaths } from "../types/paths.ts";
