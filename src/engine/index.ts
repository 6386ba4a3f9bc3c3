// The engine's public entry: what front ends (CLI, API, builder) and the SDK may use.
export { Engine, type EngineOptions } from "./engine.ts";
export { VERSION } from "./system.ts";
// Image references as docker parses and spells them (the builder's tags, the CLI's pull and output).
export { familiarString, normalizeReference, parseReference, referenceString, repositoryName, shortNameRegistry, withDefaultTag } from "../image/reference.ts";
// Address parsing as the network service does it (the CLI matches --ip-range/--gateway to their --subnet).
export { parseIp } from "../network/cidr.ts";
export { parseIp6 } from "../network/cidr6.ts";
// The safe tar packer and extractor (the CLI's cp packs and unpacks on the client's side).
export { extractTar } from "../archive/extract.ts";
export { packDir } from "../archive/pack.ts";
// Event filters and --since/--until times as the journal reads them (the CLI's events).
export { matchesEvent, parseEventTime } from "../events/journal.ts";
// Reading a file the image controls inside a root file system, confined to it (the builder's COPY --chown).
export { readFileInRoot } from "../runtime/rootfs-path.ts";
