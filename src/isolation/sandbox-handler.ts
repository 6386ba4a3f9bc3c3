// The "sandbox" level's handler: the container level's bundle, less what runsc
// cannot take (sandbox-spec.ts), run by runsc (sandbox.ts, loaded when a
// sandbox is first used).
import type { RuntimeHandler } from "../runtime/handler.ts";
import { SANDBOX_RUNTIME } from "../runtime/container-handler.ts";
import { adjustSpecForSandbox } from "./sandbox-spec.ts";

export const sandboxHandler: RuntimeHandler = {
  level: "sandbox",
  runtimeName: () => SANDBOX_RUNTIME,
  adjustSpec: adjustSpecForSandbox,
  runtime: async (paths) => (await import("./sandbox.ts")).sandboxRuntime(paths),
  status: async (paths) => (await import("./sandbox.ts")).sandboxStatus(paths),
};
