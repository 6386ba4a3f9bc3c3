// A build failure: docker's build exits 1 for Dockerfile errors and failing
// steps alike; the message names the file and line when there is one.
import { CapsaError, type ErrorKind } from "../util/errors.ts";

export class BuildError extends CapsaError {
  /** A RUN step that failed: its command's exit status (the API reports it as errorDetail.code, as dockerd). */
  commandExitCode?: number;
  constructor(message: string, kind: ErrorKind = "invalid") {
    super(kind, message, 1);
    this.name = "BuildError";
  }
}

/** "Containerfile:7: message". */
export function atLine(file: string, line: number, message: string): BuildError {
  return new BuildError(`${file}:${line}: ${message}`);
}
