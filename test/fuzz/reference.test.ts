// Fuzzing image references (a name in a Containerfile's FROM, an API query, an
// image archive's tags): parsing throws nothing but capsa's own error, its
// normal form parses back to the same reference, and no input makes a regular
// expression backtrack for long.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { familiarString, parseReference, referenceString, withDefaultTag, type Reference } from "../../src/image/reference.ts";
import { CapsaError } from "../../src/util/errors.ts";
import { importBusybox, makeTestRoot } from "../helpers.ts";
import { describe, fuzzParams, timed } from "./fuzz.ts";

// An unqualified name must mean docker.io here, whatever the machine's registries.json says.
process.env.CAPSA_REGISTRIES_CONF = "/nonexistent/registries.json";

const HEX = "0123456789abcdef";
const hex64 = fc.string({ unit: fc.constantFrom(...HEX), minLength: 64, maxLength: 64 });

/** Pieces that make references: separators, hosts, ports, digests, case, odd characters. */
const piece = fc.oneof(
  fc.constantFrom("a", "b", "z9", "/", ":", "@", ".", "_", "__", "-", "--", "localhost", "docker.io", "index.docker.io", "library", "5000", "[", "]", "::1", "A", "É", " ", "\t", "sha256:", "latest"),
  hex64.map((h) => `sha256:${h}`),
  fc.string({ maxLength: 4 }),
);
const referenceLike = fc.array(piece, { maxLength: 12 }).map((p) => p.join(""));

/** Well-formed references, built from the grammar, so the round trip is exercised on valid input. */
const component = fc.stringMatching(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/).filter((s) => s.length <= 30);
const domain = fc.oneof(
  fc.constantFrom("docker.io", "index.docker.io", "localhost", "localhost:5000", "quay.io", "[::1]:5000", "Reg.Example", "r-1.example.com:443"),
  fc.stringMatching(/^[a-z0-9]{1,8}\.[a-z]{2,4}$/),
);
const validRef = fc
  .record({
    domain: fc.option(domain, { nil: undefined }),
    path: fc.array(component, { minLength: 1, maxLength: 4 }),
    tag: fc.option(fc.stringMatching(/^[\w][\w.-]{0,20}$/), { nil: undefined }),
    digest: fc.option(hex64, { nil: undefined }),
  })
  .map((r) => `${r.domain ? r.domain + "/" : ""}${r.path.join("/")}${r.tag !== undefined ? ":" + r.tag : ""}${r.digest !== undefined ? "@sha256:" + r.digest : ""}`);

/** Long inputs shaped to make backtracking regular expressions go quadratic or worse. */
const pathological = fc
  .record({
    unit: fc.constantFrom("a", "a-", "a.", "a_", "a__", "-", "0", "a:", ":", "[:", "a/", "aA", "sha256", "a.a-"),
    n: fc.integer({ min: 1000, max: 40_000 }),
    tail: fc.constantFrom("", "!", "/", ":", "@", "@sha256:", ":!", "/A", "@x:" + "a".repeat(40)),
    head: fc.constantFrom("", "a/", "x.io/", "localhost/", "a@sha256:", "a:"),
  })
  .map(({ unit, n, tail, head }) => head + unit.repeat(Math.ceil(n / unit.length)) + tail);

function parseOrError(s: string): Reference | CapsaError {
  try {
    return parseReference(s);
  } catch (e) {
    if (e instanceof CapsaError) return e;
    throw new Error(`parseReference(${JSON.stringify(s.slice(0, 200))}) threw a non-capsa error: ${describe(e)}`);
  }
}

void test("parsing any reference-like text gives a reference or capsa's own error", () => {
  fc.assert(
    fc.property(fc.oneof(referenceLike, fc.string({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 100 })), (s) => {
      timed("parseReference", 2000, () => parseOrError(s));
    }),
    fuzzParams(1301, 3000),
  );
});

void test("a parsed reference prints to a normal form that parses back to the same reference", () => {
  fc.assert(
    fc.property(fc.oneof(validRef, referenceLike), (s) => {
      const r = parseOrError(s);
      if (r instanceof CapsaError) return;
      const full = referenceString(withDefaultTag(r));
      assert.deepEqual(parseReference(full), withDefaultTag(r), `${JSON.stringify(s)} → ${full}`);
      // Printing the normal form again changes nothing.
      assert.equal(referenceString(withDefaultTag(parseReference(full))), full);
      // The short form docker prints (busybox:latest) means the same reference.
      const short = familiarString(r);
      assert.deepEqual(parseReference(short), r, `${JSON.stringify(s)} → familiar ${short}`);
    }),
    // Found by this property (seed 1302): docker.io/a.a/a printed as a.a/a, which names registry a.a.
    fuzzParams(1302, 3000, { examples: [["docker.io/a.a/a"], ["docker.io/localhost/x:1"]] }),
  );
});

void test("long pathological references are refused without catastrophic backtracking", () => {
  fc.assert(
    fc.property(pathological, (s) => {
      timed(`parseReference of ${s.length} characters (${JSON.stringify(s.slice(0, 30))}…)`, 2000, () => parseOrError(s));
    }),
    fuzzParams(1303, 60),
  );
});

void test("images lists a Docker Hub repository whose namespace has a dot with its registry, so the name means the same image", (t) => {
  const root = makeTestRoot("fuzz-ref");
  t.after(() => root.cleanup());
  importBusybox(root, "docker.io/a.b/c:1");
  const r = root.capsa(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
  assert.equal(r.status, 0, r.stderr);
  // "a.b/c:1" would name registry a.b: running what `images` shows must not reach another registry.
  assert.equal(r.stdout.trim(), "docker.io/a.b/c:1");
  const inspect = root.capsa(["image", "inspect", "--format", "{{json .RepoTags}}", r.stdout.trim()]);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.equal(inspect.stdout.trim(), '["docker.io/a.b/c:1"]');
});
