// The capsa SDK: `import { Engine } from "capsa"`.
export { Engine } from "./engine/engine.ts";
export type * from "./engine/types.ts";
export type * from "./engine/views.ts";
export { CapsaError } from "./util/errors.ts";
