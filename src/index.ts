// The capsa SDK: `import { Engine } from "capsa"`.
// Building an image is the builder's, a client of the engine:
// `build(engine, opts)` and `pruneBuildCache(engine)` (formerly the methods
// `engine.build(opts)` and `engine.pruneBuildCache()`).
export { Engine } from "./engine/index.ts";
export { build, pruneBuildCache } from "./builder/index.ts";
export type { BuildOptions, BuildResult, Entitlement } from "./types/build.ts";
export type * from "./types/records.ts";
export type * from "./types/views.ts";
export { CapsaError } from "./util/errors.ts";
