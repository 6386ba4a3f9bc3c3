// The pieces of Containerfile syntax capsa owns: docker's word lexer and
// variable expansion, .dockerignore matching (moby/patternmatcher rules), and
// the shape the parser gives instructions.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IgnoreMatcher } from "../../src/builder/ignore.ts";
import { parseDockerfile } from "../../src/builder/parse.ts";
import { parseDuration } from "../../src/builder/instructions.ts";
import { expandRaw, expandWord, expandWords } from "../../src/builder/words.ts";

const vars: Record<string, string> = { A: "1", EMPTY: "", HOME: "/root" };
const lookup = (k: string): string | undefined => vars[k];

void describe("word lexer", () => {
  void it("expands $VAR, ${VAR} and the :- :+ - + modifiers", () => {
    assert.equal(expandWord("$A-${A}x", lookup), "1-1x");
    assert.equal(expandWord("${MISSING:-def}|${EMPTY:-def}|${EMPTY-def}", lookup), "def|def|");
    assert.equal(expandWord("${A:+set}|${MISSING:+set}|${EMPTY+set}", lookup), "set||set");
    assert.equal(expandWord("${MISSING:-$HOME/x}", lookup), "/root/x");
    assert.throws(() => expandWord("${MISSING:?need it}", lookup), /MISSING: need it/);
  });
  void it("keeps single-quoted text, escapes, and splits on unquoted spaces", () => {
    assert.deepEqual(expandWords(`a "b $A" 'c $A' d\\ e`, lookup), ["a", "b 1", "c $A", "d e"]);
    assert.deepEqual(expandWords('K="" L=\\$A', lookup), ["K=", "L=$A"]);
    assert.equal(expandWord("`$A", lookup, "`"), "$A");
  });
  void it("expands here-document content without touching quotes", () => {
    assert.equal(expandRaw(`say "$A" '\${HOME}' \\$A $`, lookup), `say "1" '/root' \\$A $`);
  });
});

void describe(".dockerignore", () => {
  const m = new IgnoreMatcher(["# c", "*.log", "!keep.log", "build/", "**/*.tmp", "/abs", "docs/**/draft-*", "a?c", "[xy].txt"]);
  void it("matches docker's way", () => {
    assert.ok(m.excluded("x.log"));
    assert.ok(!m.excluded("sub/x.log"), "* does not cross /");
    assert.ok(!m.excluded("keep.log"));
    assert.ok(m.excluded("build") && m.excluded("build/out/bin"), "a directory pattern covers its content");
    assert.ok(m.excluded("a.tmp") && m.excluded("deep/er/a.tmp"));
    assert.ok(m.excluded("abs"));
    assert.ok(m.excluded("docs/draft-1") && m.excluded("docs/x/y/draft-2") && !m.excluded("docs/final"));
    assert.ok(m.excluded("abc") && !m.excluded("abbc"));
    assert.ok(m.excluded("x.txt") && !m.excluded("z.txt"));
  });
  void it("skips an excluded directory unless a ! pattern reaches inside", () => {
    const n = new IgnoreMatcher(["secret", "vendor", "!vendor/keep"]);
    assert.ok(n.skipDir("secret"));
    assert.ok(!n.skipDir("vendor"));
    assert.ok(n.excluded("vendor/other") && !n.excluded("vendor/keep"));
  });
});

void describe("parser", () => {
  void it("joins continuations, reads flags, JSON forms, heredocs and the escape directive", () => {
    const f = parseDockerfile("# escape=`\nARG X=1\nFROM busybox AS b\nRUN echo a `\n  b\nCOPY --chown=1:2 [\"a b\", \"/c/\"]\nRUN <<EOF\necho hi\nEOF\n", "Containerfile");
    assert.equal(f.escape, "`");
    assert.equal(f.metaArgs.length, 1);
    const [run, copy, here] = f.stages[0]!.instructions;
    assert.equal(f.stages[0]!.name, "b");
    assert.equal(run!.args, "echo a   b");
    assert.deepEqual(copy!.flags, [{ name: "chown", value: "1:2" }]);
    assert.deepEqual(copy!.json, ["a b", "/c/"]);
    assert.deepEqual(here!.heredocs, [{ name: "EOF", content: "echo hi\n", expand: true }]);
    assert.equal(here!.line, 7);
  });
  void it("points at the line of what it refuses", () => {
    assert.throws(() => parseDockerfile("FROM a\n\nBOGUS x\n", "Containerfile"), /^BuildError: Containerfile:3: unknown instruction: BOGUS$/m);
    assert.throws(() => parseDockerfile("RUN x\nFROM a\n", "Dockerfile"), /Dockerfile:1: no build stage/);
    assert.throws(() => parseDockerfile("FROM a\nCOPY --bogus=1 x y\n", "Dockerfile"), /Dockerfile:2: COPY: unknown flag: --bogus/);
    assert.throws(() => parseDockerfile("FROM a AS x\nFROM b AS x\n", "Dockerfile"), /Dockerfile:2: duplicate stage name/);
  });
  void it("reads Go durations", () => {
    assert.equal(parseDuration("1m30s"), 90e9);
    assert.equal(parseDuration("500ms"), 5e8);
    assert.equal(parseDuration("5x"), undefined);
  });
});
