// Endpoints capsa does not serve (yet). Swarm answers as a node outside a
// swarm does (503); the rest answer 501 with what is missing, so a client's
// error names it.
import { HttpError } from "../http.ts";
import type { Router } from "../router.ts";

const NOT_SWARM = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

const fail = (status: number, message: string) => () => Promise.reject(new HttpError(status, message));

export function unsupportedRoutes(r: Router): void {
  for (const base of ["/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs"]) {
    for (const m of ["GET", "POST", "DELETE", "PUT"]) {
      r.add(m, base, fail(503, NOT_SWARM));
      r.add(m, `${base}/{rest*}`, fail(503, NOT_SWARM));
    }
  }
  for (const m of ["GET", "POST", "DELETE"]) {
    r.add(m, "/plugins", fail(501, "plugins are not supported by capsa"));
    r.add(m, "/plugins/{rest*}", fail(501, "plugins are not supported by capsa"));
    r.add(m, "/distribution/{rest*}", fail(501, "distribution inspect is not implemented in capsa yet"));
  }
  r.add("POST", "/session", fail(501, "BuildKit sessions are not supported by capsa; use the classic builder (DOCKER_BUILDKIT=0)"));
}
