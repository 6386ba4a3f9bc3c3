// One error type for everything the user sees. Each carries docker's CLI exit
// code (125 engine, 126 cannot invoke, 127 not found) and a kind that the API
// server will map to an HTTP status later.

export type ErrorKind = "not-found" | "conflict" | "invalid" | "not-modified" | "system" | "forbidden";

export class CapsaError extends Error {
  readonly kind: ErrorKind;
  readonly exitCode: number;
  constructor(kind: ErrorKind, message: string, exitCode = 125) {
    super(message);
    this.name = "CapsaError";
    this.kind = kind;
    this.exitCode = exitCode;
  }
}

export const notFound = (what: string): CapsaError => new CapsaError("not-found", what);
export const conflict = (what: string): CapsaError => new CapsaError("conflict", what);
export const invalid = (what: string): CapsaError => new CapsaError("invalid", what);

/** Wraps a system failure once, naming the operation and the object. */
export function systemError(operation: string, cause: unknown): CapsaError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const err = new CapsaError("system", `${operation}: ${detail}`);
  err.cause = cause;
  return err;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
