// .dockerignore / .containerignore, with moby/patternmatcher's rules: one
// pattern a line, `#` comments, `!` re-includes, patterns are cleaned paths
// relative to the context root; `*` and `?` stay inside one path component,
// `**` crosses any number of them; a pattern that matches a directory also
// matches everything under it; the last matching pattern decides.
import fs from "node:fs";
import path from "node:path";
import { BuildError } from "./errors.ts";

interface Pattern {
  re: Matcher;
  negate: boolean;
  /** The pattern's literal beginning (up to its first wildcard). */
  prefix: string;
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];
  readonly hasNegations: boolean;

  constructor(lines: string[]) {
    this.patterns = [];
    for (const raw of lines) {
      let p = raw.trim();
      if (p === "" || p.startsWith("#")) continue;
      let negate = false;
      if (p.startsWith("!")) {
        negate = true;
        p = p.slice(1).trim();
      }
      p = path.posix.normalize(p).replace(/\/+$/, "");
      if (p.length > 1 && p.startsWith("/")) p = p.slice(1);
      if (p === "." || p === "") continue;
      this.patterns.push({ re: compile(p), negate, prefix: /^[^*?[\\]*/.exec(p)![0] });
    }
    this.hasNegations = this.patterns.some((p) => p.negate);
  }

  static none(): IgnoreMatcher {
    return new IgnoreMatcher([]);
  }

  /** True when rel ("a/b/c", relative to the context root) is excluded. */
  excluded(rel: string): boolean {
    if (this.patterns.length === 0) return false;
    let matched = false;
    for (const p of this.patterns) if (p.re.testSelfOrParent(rel)) matched = !p.negate;
    return matched;
  }

  /** For a directory walk: skip the whole subtree only when nothing below could be re-included. */
  skipDir(rel: string): boolean {
    if (!this.excluded(rel)) return false;
    const dir = rel + "/";
    return !this.patterns.some((p) => p.negate && (p.prefix.startsWith(dir) || dir.startsWith(p.prefix)));
  }
}

/** A compiled pattern: test(s) is true when the whole of s matches. */
export interface Glob {
  test(s: string): boolean;
}

interface Matcher extends Glob {
  /** True when s or one of its parent directories ("a", "a/b" for "a/b/c") matches. */
  testSelfOrParent(s: string): boolean;
}

type Token =
  | { t: "lit"; c: string }
  /** `?`: one character but "/". */
  | { t: "one" }
  /** `*`: any run of characters without "/". */
  | { t: "star" }
  /** `**`: any run of characters. */
  | { t: "any" }
  /** `**` + "/": nothing, or any run that ends with "/". */
  | { t: "dirs" }
  /** `[…]`, `[!…]`, `[^…]`: one character of a set (a backslash in it is literal). */
  | { t: "set"; negate: boolean; chars: string; ranges: [string, string][] };

/**
 * patternmatcher's pattern → a matcher. Matching simulates the pattern as an
 * automaton, in time proportional to pattern × name: a backtracking regular
 * expression would take exponential time on "*a*a*a…b" (moby's Go regexp
 * does not backtrack either).
 */
function compile(pattern: string): Matcher {
  const tokens: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          tokens.push({ t: "dirs" });
        } else tokens.push({ t: "any" });
      } else tokens.push({ t: "star" });
    } else if (c === "?") tokens.push({ t: "one" });
    else if (c === "\\" && i + 1 < pattern.length) tokens.push({ t: "lit", c: pattern[++i]! });
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) tokens.push({ t: "lit", c });
      else {
        tokens.push(charSet(pattern, pattern.slice(i + 1, end)));
        i = end;
      }
    } else tokens.push({ t: "lit", c });
  }
  return { test: (s) => matches(tokens, s, false), testSelfOrParent: (s) => matches(tokens, s, true) };
}

function charSet(pattern: string, body: string): Token {
  const negate = body.startsWith("!") || body.startsWith("^");
  const cls = negate ? body.slice(1) : body;
  let chars = "";
  const ranges: [string, string][] = [];
  for (let i = 0; i < cls.length; i++) {
    if (cls[i + 1] === "-" && i + 2 < cls.length) {
      const lo = cls[i]!;
      const hi = cls[i + 2]!;
      if (lo > hi) throw new BuildError(`syntax error in pattern ${JSON.stringify(pattern)}: range ${lo}-${hi} out of order`);
      ranges.push([lo, hi]);
      i += 2;
    } else chars += cls[i];
  }
  return { t: "set", negate, chars, ranges };
}

/** Whether the pattern matches all of s, or (parents) also any part of s that ends before a "/". */
function matches(tokens: Token[], s: string, parents: boolean): boolean {
  const n = tokens.length;
  /** at[k]: token k is next; inDirs[k]: inside the run of a "**" + "/" token k. */
  let at = new Uint8Array(n + 1);
  let inDirs = new Uint8Array(n + 1);
  const close = (a: Uint8Array): void => {
    // Tokens that may match nothing let the next one start at the same place.
    for (let k = 0; k < n; k++) if (a[k] && (tokens[k]!.t === "star" || tokens[k]!.t === "any" || tokens[k]!.t === "dirs")) a[k + 1] = 1;
  };
  at[0] = 1;
  close(at);
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (parents && c === "/" && at[n]) return true;
    const nextAt = new Uint8Array(n + 1);
    const nextIn = new Uint8Array(n + 1);
    let alive = false;
    for (let k = 0; k < n; k++) {
      const tok = tokens[k]!;
      if (inDirs[k]) {
        nextIn[k] = 1;
        if (c === "/") nextAt[k + 1] = 1;
        alive = true;
      }
      if (!at[k]) continue;
      alive = true;
      switch (tok.t) {
        case "lit":
          if (c === tok.c) nextAt[k + 1] = 1;
          break;
        case "one":
          if (c !== "/") nextAt[k + 1] = 1;
          break;
        case "set": {
          const hit = tok.chars.includes(c) || tok.ranges.some(([lo, hi]) => c >= lo && c <= hi);
          if (hit !== tok.negate) nextAt[k + 1] = 1;
          break;
        }
        case "star":
          if (c !== "/") nextAt[k] = 1;
          break;
        case "any":
          nextAt[k] = 1;
          break;
        case "dirs":
          nextIn[k] = 1;
          if (c === "/") nextAt[k + 1] = 1;
          break;
      }
    }
    if (!alive) return false;
    close(nextAt);
    at = nextAt;
    inDirs = nextIn;
  }
  return at[n] === 1;
}

/** Reads <dockerfile>.dockerignore, .containerignore or .dockerignore from the context root. */
export function loadIgnore(contextDir: string, dockerfilePath?: string): IgnoreMatcher {
  const candidates = [
    ...(dockerfilePath ? [dockerfilePath + ".dockerignore", dockerfilePath + ".containerignore"] : []),
    path.join(contextDir, ".containerignore"),
    path.join(contextDir, ".dockerignore"),
  ];
  for (const f of candidates) {
    let text: string;
    try {
      text = fs.readFileSync(f, "utf8");
    } catch {
      continue;
    }
    return new IgnoreMatcher(text.split(/\r?\n/));
  }
  return IgnoreMatcher.none();
}

/** filepath.Match for one path component (COPY source globs). */
export function componentMatcher(glob: string): Glob {
  return compile(glob.replace(/\*\*/g, "*"));
}

export const hasGlob = (s: string): boolean => /[*?[]/.test(s);
