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

/**
 * The state root cannot be used until the operator acts (its database is
 * damaged). Every command, not only run/create/start, exits 125 with it:
 * the engine itself cannot serve.
 */
export class DamagedStateError extends CapsaError {
  constructor(message: string) {
    super("system", message, 125);
    this.name = "DamagedStateError";
  }
}

/** SQLite's word that the database file itself is damaged (not busy, not full), anywhere in the cause chain. */
export function isDatabaseDamage(e: unknown): boolean {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && /^SQLITE_(CORRUPT|NOTADB)/.test(code)) return true;
  }
  return false;
}

/** "database <file> is damaged (<SQLite's words>): run 'capsa system check --repair'". */
export function damagedDatabase(file: string, cause: unknown): DamagedStateError {
  let root = cause;
  while (root instanceof Error && root.cause instanceof Error) root = root.cause;
  const err = new DamagedStateError(`database ${file} is damaged (${errorMessage(root)}): run 'capsa system check --repair'`);
  err.cause = cause;
  return err;
}

/** No space left where the state lives: SQLite's SQLITE_FULL, an ENOSPC from a write, anywhere in the cause chain. */
export function isNoSpace(e: unknown): boolean {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (code === "ENOSPC" || code === "SQLITE_FULL" || (typeof code === "string" && code.startsWith("SQLITE_IOERR") && /no space/i.test(cur.message))) return true;
  }
  return false;
}

/** "no space left on device (<where>)": says which file system to free. */
export function noSpaceLeft(where: string, cause?: unknown): CapsaError {
  const err = new CapsaError("system", `no space left on device (${where})`);
  err.cause = cause;
  return err;
}

/**
 * The state errors a user can act on, said in one line with the file they
 * concern: a damaged database (DamagedStateError, exit 125) or no space left.
 * `dbFile`: the database of the state root in use. Undefined for any other error.
 */
export function explainStateError(e: unknown, dbFile: string): CapsaError | undefined {
  if (e instanceof DamagedStateError) return e;
  if (isDatabaseDamage(e)) return damagedDatabase(dbFile, e);
  if (e instanceof CapsaError && /^no space left on device \(/.test(e.message)) return e;
  if (!isNoSpace(e)) return undefined;
  let where = dbFile.replace(/\/[^/]*$/, "");
  for (let cur = e; cur instanceof Error; cur = cur.cause) {
    const p = (cur as { path?: unknown }).path;
    if (typeof p === "string") {
      where = p;
      break;
    }
  }
  return noSpaceLeft(where, e);
}
