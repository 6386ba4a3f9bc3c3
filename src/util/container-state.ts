// Reading a container's state record the same way everywhere.
import type { ContainerState } from "../types/records.ts";

/**
 * Whether the container's run is still in progress: it runs, or its restart
 * policy is starting it again. Only a live container can have an exit still to
 * record; one that is not live stays as it is until someone starts it.
 */
export function isLive(state: Pick<ContainerState, "Running" | "Status">): boolean {
  return state.Running || state.Status === "restarting";
}
