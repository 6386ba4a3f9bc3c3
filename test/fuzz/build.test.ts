// Fuzzing what a build reads from its (untrusted) context: the Containerfile
// (instructions, flags, here-documents, the escape directive), its words and
// variable expansions, and .dockerignore patterns. Nothing may throw anything
// but the build's own error (or, for the word lexer, its plain Error with a
// message), and no input may make the parser or a pattern run away.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { BuildError } from "../../src/builder/errors.ts";
import { IgnoreMatcher, componentMatcher } from "../../src/builder/ignore.ts";
import { KEYWORDS, parseDockerfile, parseTrigger, type ParsedFile } from "../../src/builder/parse.ts";
import { expandRaw, expandWord, expandWords, type Lookup } from "../../src/builder/words.ts";
import { makeTestRoot } from "../helpers.ts";
import { describe, fuzzParams, isInternalError, timed } from "./fuzz.ts";

const lookup: Lookup = (n) => ({ a: "x", b: "", c: "two words", d: "$a", e: "${a}", f: "'q'" })[n];

/** The parser may refuse a file, with its own error; anything else is a bug. */
function parseOrRefuse(text: string): ParsedFile | BuildError {
  try {
    return parseDockerfile(text, "Containerfile");
  } catch (e) {
    if (e instanceof BuildError) return e;
    throw new Error(`parseDockerfile threw a non-build error for ${JSON.stringify(text.slice(0, 300))}: ${describe(e)}`);
  }
}

/** The word lexer refuses bad substitutions and quotes with a plain Error (the builder wraps it with the line). */
function expandOrRefuse(what: string, s: string, f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (e instanceof Error && e.constructor === Error && !isInternalError(e) && e.message !== "") return;
    throw new Error(`${what} of ${JSON.stringify(s.slice(0, 300))} threw: ${describe(e)}`);
  }
}

function expandAll(parsed: ParsedFile): void {
  for (const ins of [...parsed.metaArgs, ...parsed.stages.flatMap((s) => [s.from, ...s.instructions])]) {
    for (const esc of [parsed.escape, "\\"]) {
      expandOrRefuse("expandWords", ins.args, () => expandWords(ins.args, lookup, esc));
      expandOrRefuse("expandWord", ins.args, () => expandWord(ins.args, lookup, esc));
      for (const h of ins.heredocs) expandOrRefuse("expandRaw", h.content, () => expandRaw(h.content, lookup, esc));
      for (const f of ins.flags) if (f.value !== null) expandOrRefuse("expandWord", f.value, () => expandWord(f.value!, lookup, esc));
    }
    if (ins.keyword === "ONBUILD") {
      try {
        parseTrigger(ins.args, "Containerfile", ins.line);
      } catch (e) {
        if (!(e instanceof BuildError)) throw new Error(`parseTrigger(${JSON.stringify(ins.args.slice(0, 200))}) threw: ${describe(e)}`);
      }
    }
  }
}

// ---- Containerfile generators ----------------------------------------------

const keyword = fc.oneof(fc.constantFrom(...KEYWORDS), fc.constantFrom("run", "From", "onbuild RUN", "ONBUILD FROM", "BOGUS", "", "#"));
const flag = fc
  .tuple(fc.constantFrom("mount", "network", "security", "from", "chown", "chmod", "link", "exclude", "parents", "platform", "interval", "retries", "bogus", ""), fc.option(fc.constantFrom("", "x", "host", "type=cache,target=/x", "container:a", "$a", "${a:-b}", "0755", "1:2")))
  .map(([n, v]) => `--${n}${v === null ? "" : "=" + v}`);
const argPiece = fc.oneof(
  fc.constantFrom("a", "b c", "/x", "$a", "${a}", "${a:-d}", "${b:+e}", "${zz:?gone}", "${a-x}", "${", "}", "${:-}", "${a:", "'", '"', "\\", "`", "\\\n", "`\n", " ", "\t", "\n"),
  fc.constantFrom("<<EOF", "<<-EOF", "<<'EOF'", '<<"EOF"', "<<", "<<A <<B", "EOF", "\nEOF\n", "\n\tEOF\n", "A", "B"),
  fc.constantFrom('["a", "b"]', "[", "]", '["x"', "[1]", "AS", "as", "stage-1", "9bad", "scratch", "busybox", "x=y", "a=\"b c\"", "#"),
  fc.string({ maxLength: 6 }),
);
const instructionLine = fc.tuple(keyword, fc.array(flag, { maxLength: 3 }), fc.array(argPiece, { maxLength: 10 })).map(([k, fl, a]) => [k, ...fl, a.join("")].join(" "));
const line = fc.oneof(
  { weight: 8, arbitrary: instructionLine },
  { weight: 1, arbitrary: fc.constantFrom("", "# comment", "# escape=`", "# escape=\\", "# syntax=docker/dockerfile:1", "#escape=x", "FROM scratch", "FROM busybox AS b", "  ", "\\") },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);
const containerfile = fc.array(line, { maxLength: 14 }).map((l) => l.join("\n"));

/** Long inputs shaped after the parser's loops: nested expansions, many here-documents, continuations. */
const pathologicalFile = fc
  .record({
    shape: fc.constantFrom("nest", "heredocs", "cont", "quotes", "brackets", "lines", "dollars"),
    n: fc.integer({ min: 2000, max: 30_000 }),
  })
  .map(({ shape, n }) => {
    switch (shape) {
      case "nest":
        return "FROM scratch\nRUN echo " + "${a:-".repeat(n) + "z" + "}".repeat(n) + "\n";
      case "heredocs":
        return "FROM scratch\nRUN " + "<<A ".repeat(n) + "\n" + "A\n".repeat(n);
      case "cont":
        return "FROM scratch\nRUN a" + " \\\n".repeat(n) + "b\n";
      case "quotes":
        return "FROM scratch\nRUN " + "'\"".repeat(n) + "\n";
      case "brackets":
        return "FROM scratch\nCMD " + "[".repeat(n) + "\n";
      case "lines":
        return "FROM scratch\n" + "ENV a=$a$a\n".repeat(Math.min(n, 5000));
      default:
        return "FROM scratch\nRUN " + "$".repeat(n) + "{".repeat(n) + "\n";
    }
  });

void test("any Containerfile text parses or is refused with a build error, and its words expand or are refused cleanly", () => {
  fc.assert(
    fc.property(fc.oneof({ weight: 4, arbitrary: containerfile }, { weight: 1, arbitrary: fc.string({ maxLength: 400 }) }), (text) => {
      const parsed = timed("parseDockerfile", 3000, () => parseOrRefuse(text));
      if (!(parsed instanceof BuildError)) timed("expanding words", 3000, () => expandAll(parsed));
    }),
    fuzzParams(1311, 3000),
  );
});

void test("any word expands or is refused with the lexer's own error, however deeply substitutions nest", () => {
  const wordPiece = fc.oneof(argPiece, fc.constantFrom("${a:-", "${b:-", "${c:+", "}", "}}", "$$", "\\$a", "\\", "'", '"'));
  fc.assert(
    fc.property(fc.array(wordPiece, { maxLength: 30 }), fc.integer({ min: 0, max: 5000 }), fc.constantFrom("\\", "`"), (pieces, depth, esc) => {
      const s = pieces.join("");
      const deep = "${a:-".repeat(depth) + s + "}".repeat(depth);
      for (const w of [s, deep]) {
        timed("expandWords", 3000, () => expandOrRefuse("expandWords", w, () => expandWords(w, lookup, esc)));
        timed("expandRaw", 3000, () => expandOrRefuse("expandRaw", w, () => expandRaw(w, lookup, esc)));
      }
    }),
    // Found by this property (seed 1312): 3000 nested ${a:-…} overflowed the stack (a RangeError, not a build error).
    fuzzParams<[string[], number, "\\" | "`"]>(1312, 60, { examples: [[[], 3000, "\\"]] }),
  );
});

void test("long pathological Containerfiles are parsed or refused without running away", () => {
  fc.assert(
    fc.property(pathologicalFile, (text) => {
      const parsed = timed(`parseDockerfile of ${text.length} characters (${JSON.stringify(text.slice(0, 40))}…)`, 3000, () => parseOrRefuse(text));
      if (!(parsed instanceof BuildError)) timed("expanding words", 3000, () => expandAll(parsed));
    }),
    // Found by this property (seed 1313): 40000 here-documents on one RUN took seconds (quadratic search).
    fuzzParams(1313, 25, { examples: [["FROM scratch\nRUN " + "<<A ".repeat(40_000) + "\n" + "A\n".repeat(40_000)]] }),
  );
});

// ---- .dockerignore ------------------------------------------------------------

/**
 * The patterns' meaning, as the earlier regular-expression translation had it
 * (moby/patternmatcher's rules). Only used here, on inputs short enough for a
 * backtracking engine, as the oracle for the matcher.
 */
function oracle(pattern: string): RegExp | undefined {
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
        if (cls.startsWith("!")) cls = "^" + cls.slice(1);
        re += `[${cls.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += escapeRe(c);
  }
  try {
    return new RegExp(re + "$");
  } catch {
    return undefined;
  }
}
const escapeRe = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

const patChar = fc.constantFrom("*", "**", "?", "[", "]", "[!a]", "[^b]", "[a-c]", "[c-a]", "[]", "[-]", "\\", "\\*", "a", "b", "/", "**/", ".", "..", "-", "^", "!", "#", " ", "é");
const pattern = fc.array(patChar, { minLength: 1, maxLength: 8 }).map((p) => p.join(""));
const pathPart = fc.constantFrom("a", "b", "ab", "ba", "c", ".", "-", "x y", "*", "[", "é", "aaa", "\\");
const relPath = fc.array(pathPart, { minLength: 1, maxLength: 5 }).map((p) => p.join("/"));

function ignoreOrRefuse(lines: string[]): IgnoreMatcher | BuildError {
  try {
    return new IgnoreMatcher(lines);
  } catch (e) {
    if (e instanceof BuildError) return e;
    throw new Error(`IgnoreMatcher(${JSON.stringify(lines)}) threw a non-build error: ${describe(e)}`);
  }
}

void test("any .dockerignore is read or refused with a build error, and matching never throws", () => {
  const ignoreLine = fc.oneof(pattern, pattern.map((p) => "!" + p), fc.constantFrom("", "#x", "/", "!", "..", "../a", "./a/../b", " a "), fc.string({ maxLength: 12 }));
  fc.assert(
    fc.property(fc.array(ignoreLine, { maxLength: 8 }), fc.array(relPath, { maxLength: 8 }), (lines, paths) => {
      const m = timed("reading .dockerignore", 1000, () => ignoreOrRefuse(lines));
      if (m instanceof BuildError) return;
      for (const p of paths) {
        timed("excluded", 1000, () => m.excluded(p));
        timed("skipDir", 1000, () => m.skipDir(p));
      }
    }),
    fuzzParams(1314, 3000),
  );
});

void test("a .dockerignore pattern matches exactly the paths its glob describes", () => {
  fc.assert(
    fc.property(pattern, relPath, (p, rel) => {
      const re = oracle(p.replace(/^\/+/, ""));
      fc.pre(re !== undefined && !p.startsWith("!") && !p.startsWith("#") && !/^\s|\s$/.test(p));
      const m = ignoreOrRefuse([p]);
      fc.pre(!(m instanceof BuildError));
      // The matcher cleans the pattern (path.posix.normalize); compare on patterns that cleaning leaves alone.
      fc.pre(!/(^|\/)\.\.?(\/|$)|\/\/|\/$/.test(p) && !p.startsWith("/"));
      const parents = rel.split("/").map((_, i, a) => a.slice(0, i + 1).join("/"));
      assert.equal(m.excluded(rel), parents.some((d) => re.test(d)), `pattern ${JSON.stringify(p)} on ${JSON.stringify(rel)}`);
    }),
    fuzzParams(1315, 5000),
  );
});

void test("a COPY source glob matches one name exactly as its pattern describes", () => {
  fc.assert(
    fc.property(pattern.filter((p) => !p.includes("/")), pathPart, (p, name) => {
      const re = oracle(p.replace(/\*\*/g, "*"));
      let m: { test(s: string): boolean };
      try {
        m = componentMatcher(p);
      } catch (e) {
        if (e instanceof BuildError) return;
        throw new Error(`componentMatcher(${JSON.stringify(p)}) threw a non-build error: ${describe(e)}`);
      }
      if (re) assert.equal(m.test(name), re.test(name), `glob ${JSON.stringify(p)} on ${JSON.stringify(name)}`);
    }),
    fuzzParams(1316, 3000),
  );
});

void test("pathological .dockerignore patterns and long names are matched without backtracking", () => {
  const longPattern = fc
    .record({ unit: fc.constantFrom("*a", "**a", "**/a", "*?", "?*", "[a]*", "*/*", "a*"), k: fc.integer({ min: 5, max: 60 }), end: fc.constantFrom("b", "*b", "/b", "") })
    .map(({ unit, k, end }) => unit.repeat(k) + end);
  const longName = fc.record({ unit: fc.constantFrom("a", "a/", "ab", "aa/a"), n: fc.integer({ min: 20, max: 3000 }) }).map(({ unit, n }) => unit.repeat(n));
  fc.assert(
    fc.property(longPattern, longName, (p, name) => {
      const m = ignoreOrRefuse([p]);
      if (m instanceof BuildError) return;
      timed(`matching ${JSON.stringify(p)} against a ${name.length}-character name`, 2000, () => m.excluded(name));
      timed("componentMatcher", 2000, () => componentMatcher(p.split("/")[0]!).test(name));
    }),
    // Found by this property (seed 1317): "*a" x 10 + "*b" against 40 a's backtracked for 26 s.
    fuzzParams(1317, 60, { examples: [["*a".repeat(10) + "*b", "a".repeat(40)]] }),
  );
});

void test("the matcher keeps the meaning of the usual .dockerignore lines", () => {
  const m = new IgnoreMatcher(["*.log", "!keep.log", "build/", "**/tmp", "docs/**/*.md", "[a-c]?.txt", "\\*lit"]);
  const cases: [string, boolean][] = [
    ["x.log", true],
    ["keep.log", false],
    ["sub/x.log", false],
    ["build", true],
    ["build/a/b", true],
    ["tmp", true],
    ["a/b/tmp/c", true],
    ["docs/a.md", true],
    ["docs/x/y/a.md", true],
    ["docs/a.txt", false],
    ["b1.txt", true],
    ["d1.txt", false],
    ["*lit", true],
    ["xlit", false],
  ];
  for (const [p, want] of cases) assert.equal(m.excluded(p), want, p);
  assert.equal(m.skipDir("build"), true);
  assert.ok(componentMatcher("*.tx?").test("a.txt"));
  assert.ok(!componentMatcher("*.tx?").test("a/b.txt"));
});

// ---- Through the CLI: the cases above as a build meets them --------------------

void test("a build whose .dockerignore has a backtracking pattern finishes and applies it", (t) => {
  const root = makeTestRoot("fuzz-build");
  t.after(() => root.cleanup());
  const ctx = path.join(root.root, "ctx");
  fs.mkdirSync(ctx);
  // Under a backtracking regular expression this pattern against this name took longer than any build timeout.
  fs.writeFileSync(path.join(ctx, ".dockerignore"), "*a*a*a*a*a*a*a*a*a*a*a*a*b\n");
  fs.writeFileSync(path.join(ctx, "a".repeat(60)), "kept");
  fs.writeFileSync(path.join(ctx, "a".repeat(12) + "b"), "ignored");
  fs.writeFileSync(path.join(ctx, "Containerfile"), `FROM scratch\nCOPY ${"a".repeat(60)} /kept\n`);
  const r = root.capsa(["build", "-q", "-t", "fuzz-ignore:1", ctx], { timeoutMs: 60_000 });
  assert.equal(r.error, undefined, `the build did not finish: ${String(r.error)}`);
  assert.equal(r.status, 0, r.stderr);
  fs.writeFileSync(path.join(ctx, "Containerfile"), `FROM scratch\nCOPY ${"a".repeat(12)}b /x\n`);
  const ignored = root.capsa(["build", "-q", "-t", "fuzz-ignore:2", ctx], { timeoutMs: 60_000 });
  assert.equal(ignored.status, 1, ignored.stderr);
  assert.match(ignored.stderr, /excluded by \.dockerignore/);
});

void test("a build refuses substitutions nested thousands deep with a build error, not a stack overflow", (t) => {
  const root = makeTestRoot("fuzz-build");
  t.after(() => root.cleanup());
  const ctx = path.join(root.root, "ctx");
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, "Containerfile"), "FROM scratch\nENV x=" + "${a:-".repeat(5000) + "z" + "}".repeat(5000) + "\n");
  const r = root.capsa(["build", "-t", "fuzz-nest:1", ctx], { timeoutMs: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /bad substitution: nested more than \d+ levels deep/);
  assert.doesNotMatch(r.stderr, /call stack/);
});

void test("a build refuses a .dockerignore range out of order with a one-line error", (t) => {
  const root = makeTestRoot("fuzz-build");
  t.after(() => root.cleanup());
  const ctx = path.join(root.root, "ctx");
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, "Containerfile"), "FROM scratch\nCOPY . /ctx/\n");
  fs.writeFileSync(path.join(ctx, ".dockerignore"), "[z-a]\n");
  const r = root.capsa(["build", "-t", "fuzz-range:1", ctx], { timeoutMs: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /syntax error in pattern "\[z-a\]"/);
  assert.doesNotMatch(r.stderr, /Invalid regular expression/);
});
