// .dockerignore / .containerignore, with moby/patternmatcher's rules: one
// pattern a line, `#` comments, `!` re-includes, patterns are cleaned paths
// relative to the context root; `*` and `?` stay inside one path component,
// `**` crosses any number of them; a pattern that matches a directory also
// matches everything under it; the last matching pattern decides.
import fs from "node:fs";
import path from "node:path";

interface Pattern {
  re: RegExp;
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
    const parents: string[] = [];
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) parents.push(parts.slice(0, i).join("/"));
    let matched = false;
    for (const p of this.patterns) {
      const hit = p.re.test(rel) || parents.some((d) => p.re.test(d));
      if (hit) matched = !p.negate;
    }
    return matched;
  }

  /** For a directory walk: skip the whole subtree only when nothing below could be re-included. */
  skipDir(rel: string): boolean {
    if (!this.excluded(rel)) return false;
    const dir = rel + "/";
    return !this.patterns.some((p) => p.negate && (p.prefix.startsWith(dir) || dir.startsWith(p.prefix)));
  }
}

/** patternmatcher's pattern → regular expression. */
function compile(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          re += "(.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith("^")) cls = "^" + cls.slice(1);
        else if (cls.startsWith("!")) cls = "^" + cls.slice(1);
        re += `[${cls.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += escapeRe(c);
  }
  return new RegExp(re + "$");
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
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
export function componentMatcher(glob: string): RegExp {
  return compile(glob.replace(/\*\*/g, "*"));
}

export const hasGlob = (s: string): boolean => /[*?[]/.test(s);
