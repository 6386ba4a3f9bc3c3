// The builder's public entry. The builder is a client of the engine:
// `build(engine, opts)` runs a Containerfile's steps through the engine's
// public API. The implementation (and the Containerfile parser) is loaded on
// the first build, so front ends that never build never pay for it.
import type { BuildOptions, BuildResult } from "../types/build.ts";
import type { EngineApi } from "../types/engine-api.ts";

/** Builds an image from a Containerfile/Dockerfile; tags it only when every step succeeded. */
export async function build(engine: EngineApi, opts: BuildOptions): Promise<BuildResult> {
  const { runBuild } = await import("./builder.ts");
  return runBuild(engine, opts);
}

/** `builder prune`: forgets the build cache (step → image entries) and removes RUN --mount=type=cache directories. */
export async function pruneBuildCache(engine: EngineApi): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
  const { pruneCacheDirs } = await import("./cache.ts");
  return pruneCacheDirs(engine.paths.root);
}
