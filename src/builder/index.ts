// The image builder as the engine takes it (Engine.useBuilder): its modules
// load on a build's first use, so the CLI's other verbs never pay for them.
import type { ImageBuilder } from "../engine/index.ts";

export async function loadImageBuilder(): Promise<ImageBuilder> {
  const [{ build }, { pruneBuildCache }] = await Promise.all([import("./builder.ts"), import("./cache.ts")]);
  return { build, pruneBuildCache };
}
