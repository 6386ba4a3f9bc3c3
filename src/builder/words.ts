// Docker's shell-word lexer for Dockerfile arguments (moby's shell.Lex):
// quotes are removed, the escape character protects the next character, and
// $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alt}, ${VAR-x}, ${VAR+x}, ${VAR:?err}
// are expanded from the build's environment. Single quotes expand nothing.

export type Lookup = (name: string) => string | undefined;

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
/** ${a:-${b:-…}} deeper than this is refused: each level is a recursion (the stack would overflow). */
const MAX_NESTING = 100;

class Lexer {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly lookup: Lookup,
    private readonly esc: string,
    private readonly depth = 0,
  ) {}

  /** Splits into words on unquoted whitespace. A quoted empty string is a word. */
  words(split: boolean): string[] {
    const out: string[] = [];
    let cur = "";
    let have = false;
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (split && /\s/.test(c)) {
        this.i++;
        if (have) out.push(cur);
        cur = "";
        have = false;
        continue;
      }
      have = true;
      if (c === "'") {
        this.i++;
        const end = this.s.indexOf("'", this.i);
        if (end < 0) throw new Error("unexpected end of statement while looking for matching single-quote");
        cur += this.s.slice(this.i, end);
        this.i = end + 1;
      } else if (c === '"') {
        this.i++;
        cur += this.doubleQuoted();
      } else if (c === this.esc) {
        this.i++;
        if (this.i < this.s.length) cur += this.s[this.i++];
        else cur += c;
      } else if (c === "$") {
        cur += this.dollar();
      } else {
        cur += c;
        this.i++;
      }
    }
    if (have) out.push(cur);
    return out;
  }

  private doubleQuoted(): string {
    let out = "";
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === "$") {
        out += this.dollar();
        continue;
      }
      if (c === this.esc && this.i + 1 < this.s.length && ['"', "$", this.esc].includes(this.s[this.i + 1]!)) {
        out += this.s[this.i + 1];
        this.i += 2;
        continue;
      }
      out += c;
      this.i++;
    }
    throw new Error("unexpected end of statement while looking for matching double-quote");
  }

  private name(): string {
    let n = "";
    while (this.i < this.s.length && NAME_CHAR.test(this.s[this.i]!)) n += this.s[this.i++];
    return n;
  }

  /** At a "$": the expansion, or "$" itself when no name follows. */
  private dollar(): string {
    this.i++;
    const c = this.s[this.i];
    if (c === "{") {
      this.i++;
      const name = this.name();
      if (!name) throw new Error(`bad substitution: missing variable name in ${this.s}`);
      const value = this.lookup(name);
      if (this.s[this.i] === "}") {
        this.i++;
        return value ?? "";
      }
      let op = this.s[this.i] ?? "";
      this.i++;
      if (op === ":") {
        op += this.s[this.i] ?? "";
        this.i++;
      }
      const word = this.nested();
      switch (op) {
        case ":-":
          return value ? value : word;
        case "-":
          return value !== undefined ? value : word;
        case ":+":
          return value ? word : "";
        case "+":
          return value !== undefined ? word : "";
        case ":?":
          if (!value) throw new Error(`${name}: ${word || "is not allowed to be unset"}`);
          return value;
        case "?":
          if (value === undefined) throw new Error(`${name}: ${word || "is not allowed to be unset"}`);
          return value;
        default:
          throw new Error(`unsupported modifier (${op}) in substitution`);
      }
    }
    if (c !== undefined && NAME_START.test(c)) return this.lookup(this.name()) ?? "";
    return "$";
  }

  /** The word inside ${name:-word}, up to the matching brace, itself expanded. */
  private nested(): string {
    let depth = 1;
    const start = this.i;
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === this.esc) this.i += 2;
      else if (c === "{") {
        depth++;
        this.i++;
      } else if (c === "}") {
        if (--depth === 0) break;
        this.i++;
      } else this.i++;
    }
    if (this.i >= this.s.length) throw new Error(`missing '}' in ${this.s}`);
    const inner = this.s.slice(start, this.i);
    this.i++;
    if (this.depth >= MAX_NESTING) throw new Error(`bad substitution: nested more than ${MAX_NESTING} levels deep`);
    return new Lexer(inner, this.lookup, this.esc, this.depth + 1).words(false).join("");
  }
}

/**
 * Here-document content (COPY <<EOF with an unquoted delimiter): variables
 * expanded, quotes and escapes kept as written (BuildKit's raw mode).
 */
export function expandRaw(s: string, lookup: Lookup, escape = "\\"): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === escape && i + 1 < s.length) {
      out += c + s[i + 1];
      i += 2;
      continue;
    }
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    const m = /^\$(?:\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)/.exec(s.slice(i));
    if (!m) {
      out += c;
      i++;
      continue;
    }
    out += expandWord(m[0], lookup, escape);
    i += m[0].length;
  }
  return out;
}

/** One word: quotes removed, variables expanded, whitespace kept. */
export function expandWord(s: string, lookup: Lookup, escape = "\\"): string {
  return new Lexer(s, lookup, escape).words(false).join("");
}

/** Words split on unquoted whitespace, each with quotes removed and variables expanded. */
export function expandWords(s: string, lookup: Lookup, escape = "\\"): string[] {
  return new Lexer(s, lookup, escape).words(true);
}

/** A lookup over KEY=VALUE lists; later lists win. */
export function envLookup(...lists: (string[] | undefined)[]): Lookup {
  const m = new Map<string, string>();
  for (const l of lists) {
    for (const e of l ?? []) {
      const eq = e.indexOf("=");
      if (eq > 0) m.set(e.slice(0, eq), e.slice(eq + 1));
      else m.set(e, "");
    }
  }
  return (k) => m.get(k);
}
