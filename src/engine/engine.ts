// The SDK facade. Every front end (CLI, API server, SDK users) goes through
// this class; nothing else reaches into the store, the image store or the runtime.
import { openDb, type DB } from "../store/db.ts";
import { resolvePaths, type Paths } from "./paths.ts";

export interface EngineOptions {
  /** State root (default $CAPSA_ROOT or /var/lib/capsa). */
  root?: string;
  /** Run root (default $CAPSA_RUNROOT, <root>/run for a custom root, else /run/capsa). */
  runRoot?: string;
}

export class Engine {
  readonly paths: Paths;
  readonly db: DB;

  private constructor(paths: Paths, db: DB) {
    this.paths = paths;
    this.db = db;
  }

  static open(opts: EngineOptions = {}): Engine {
    const paths = resolvePaths(opts);
    return new Engine(paths, openDb(paths.db));
  }

  close(): void {
    this.db.close();
  }
}
