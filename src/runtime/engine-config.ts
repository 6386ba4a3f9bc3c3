// The engine config: JSON at $CAPSA_CONFIG, else /etc/capsa/capsa.json. Its
// keys choose how containers run: the default isolation level
// (src/isolation/level.ts) and the runtimes --runtime may name
// (src/runtime/container-handler.ts):
//   { "isolation": "vm", "runtimes": { "name": { "path": "/abs/path" } } }
import { invalid } from "../util/errors.ts";
import { readConfigFile } from "../util/config-file.ts";

export const DEFAULT_ENGINE_CONFIG = "/etc/capsa/capsa.json";

export interface EngineConfig {
  isolation?: string;
  runtimes?: unknown;
}

export function engineConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.CAPSA_CONFIG || DEFAULT_ENGINE_CONFIG;
}

export function loadEngineConfig(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  const file = engineConfigPath(env);
  const parsed = readConfigFile(file);
  if (parsed === undefined) return {};
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw invalid(`${file}: not valid JSON: expected a JSON object`);
  return parsed;
}
