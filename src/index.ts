// The capsa SDK: `import { Engine } from "capsa"`.
import { Engine } from "./engine/index.ts";
import { loadImageBuilder } from "./builder/index.ts";

// The builder is a client of the engine (a layer above it): the SDK wires it in, as the CLI does.
Engine.useBuilder(loadImageBuilder);

export { Engine };
export type * from "./types/records.ts";
export type * from "./types/views.ts";
export { CapsaError } from "./util/errors.ts";
