// The capsa SDK: `import { Engine } from "capsa"`.
export { Engine } from "./engine/engine.ts";
export type * from "./types/records.ts";
export type * from "./types/views.ts";
export { CapsaError } from "./util/errors.ts";
