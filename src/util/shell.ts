// Quoting for POSIX sh scripts that capsa writes (the VM runtime's launch and
// front scripts).

/** One shell word that sh reads back as exactly `s`: single quotes, each ' written as '\''. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
