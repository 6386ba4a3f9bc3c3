// The runtime handler of each isolation level (src/runtime/handler.ts): the
// engine looks one up by a container's level and calls nothing level-specific
// otherwise. A new level is a handler here.
import type { IsolationLevel, RuntimeHandler } from "../runtime/handler.ts";
import { containerHandler } from "../runtime/container-handler.ts";
import { vmHandler } from "../vm/host/handler.ts";
import { isolationOf } from "./level.ts";
import { sandboxHandler } from "./sandbox-handler.ts";

const HANDLERS: Record<IsolationLevel, RuntimeHandler> = {
  container: containerHandler,
  sandbox: sandboxHandler,
  vm: vmHandler,
};

export function runtimeHandler(level: IsolationLevel): RuntimeHandler {
  return HANDLERS[level];
}

/** The handler of a container's level (HostConfig.Isolation; records made before levels existed are containers). */
export function handlerFor(hostConfig: { Isolation?: string }): RuntimeHandler {
  return HANDLERS[isolationOf(hostConfig)];
}
