// Fuzzing the extraction of untrusted tars (image layers, `cp` input, build
// contexts): random archives of climbing names, absolute names, symlinks and
// hard links that point out, whiteouts, device nodes, long names, duplicates
// and type changes, whole, truncated, corrupted or gzip-compressed, are
// extracted into a target that sits beside a canary. Whatever the archive,
// extraction ends (with a clean error at worst), in bounded time and memory,
// and nothing outside the target is created, changed or touched.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import zlib from "node:zlib";
import fc from "fast-check";
import { extractArchive, type WhiteoutMode } from "../../src/archive/extract.ts";
import { findXattrs } from "../../src/archive/xattr.ts";
import { makeTar, streamOf, type TarEntry } from "../image/fixtures.ts";
import { describe, fuzzParams, heapAfterGc, isInternalError } from "./fuzz.ts";

/** Stands for the absolute path of the scenario's parent directory in generated link targets. */
const PARENT = "\u0000PARENT\u0000";

const component = fc.constantFrom("a", "b", "c", "..", ".", "", ".wh.a", ".wh.b", ".wh..wh..opq", ".wh..wh.plnk", ".wh..", ".wh.", "canary", "l", "dev", "x".repeat(120), "é", "a b");
const entryName = fc.oneof(
  // A few names over and over: duplicates, a file replaced by a directory or a link and back.
  { weight: 2, arbitrary: fc.constantFrom("a", "b", "a/b", "a/b/c", "l", "l/x", "l/canary/keep", ".wh.a", "a/.wh..wh..opq", "./", ".") },
  { weight: 3, arbitrary: fc.tuple(fc.boolean(), fc.array(component, { minLength: 1, maxLength: 4 })).map(([abs, parts]) => (abs ? "/" : "") + parts.join("/")) },
);
const linkTarget = fc.oneof(
  entryName,
  fc.constantFrom("/", "..", "../..", "../canary", "../canary/keep", "/canary/keep", `${PARENT}`, `${PARENT}/canary`, `${PARENT}/canary/keep`, `${PARENT}/canary/dir`, `${PARENT}/canary/dir/inner`, "a/../../canary"),
);
const kind = fc.constantFrom<NonNullable<TarEntry["type"]>>("file", "file", "file", "directory", "directory", "symlink", "symlink", "link", "link", "character-device", "block-device", "fifo");

const entry = fc.record(
  {
    name: entryName,
    type: kind,
    body: fc.oneof(fc.constant(""), fc.string({ maxLength: 20 }), fc.constant("z".repeat(3000))),
    linkname: linkTarget,
    mode: fc.oneof(fc.constant(0o644), fc.constant(0o755), fc.integer({ min: 0, max: 0o7777 })),
    uid: fc.constantFrom(0, 1000, 65534),
    gid: fc.constantFrom(0, 1000, 65534),
    devmajor: fc.constantFrom(0, 1, 5),
    devminor: fc.constantFrom(0, 3, 5),
    pax: fc.option(
      fc.constantFrom<Record<string, string>>(
        { "SCHILY.xattr.user.fuzz": "v" },
        { "SCHILY.xattr.trusted.overlay.opaque": "y" },
        { path: "../canary/pax" },
        { path: `${PARENT}/canary/pax` },
        { linkpath: "../canary/keep" },
        { "SCHILY.xattr.user.bin": "\uFFFD" },
      ),
      { nil: undefined },
    ),
  },
  { requiredKeys: ["name", "type", "body", "linkname", "mode", "uid", "gid", "devmajor", "devminor"] },
);

/** What is done to the packed bytes: nothing, cut short, bytes overwritten, gzip (possibly cut). */
const damage = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: "none" as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("gzip" as const), at: fc.double({ min: 0.5, max: 1, noNaN: true }) }) },
);
type Damage = { kind: "none" } | { kind: "truncate"; at: number } | { kind: "flip"; at: [number, number][] } | { kind: "gzip"; at: number };

function damaged(tar: Buffer, d: Damage): Buffer {
  switch (d.kind) {
    case "none":
      return tar;
    case "truncate":
      return tar.subarray(0, Math.floor(tar.length * d.at));
    case "flip": {
      const b = Buffer.from(tar);
      for (const [at, v] of d.at) b[Math.min(b.length - 1, Math.floor(b.length * at))] = v;
      return b;
    }
    case "gzip": {
      const z = zlib.gzipSync(tar);
      return d.at >= 1 ? z : z.subarray(0, Math.floor(z.length * d.at));
    }
  }
}


/** Everything about the parent except the target: names, types, modes, owners, times, contents, links, xattrs. */
function snapshot(parent: string): string {
  const lines: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(parent, rel);
    const st = fs.lstatSync(abs);
    let what = `${rel} mode=${st.mode.toString(8)} uid=${st.uid} gid=${st.gid} nlink=${st.nlink} mtime=${st.mtimeMs} ctime=${st.ctimeMs} size=${st.size}`;
    if (st.isSymbolicLink()) what += ` -> ${fs.readlinkSync(abs)}`;
    else if (st.isFile()) what += ` sha=${crypto.createHash("sha256").update(fs.readFileSync(abs)).digest("hex")}`;
    lines.push(what);
    if (st.isDirectory()) {
      for (const n of fs.readdirSync(abs).sort()) if (!(rel === "" && n === "target")) walk(path.join(rel, n));
    }
  };
  walk("");
  // The canary tree's xattrs (the target's own are not walked: it may hold thousands of entries).
  for (const [rel, attrs] of findXattrs(path.join(parent, "canary"), "-")) {
    for (const [k, v] of attrs) lines.push(`xattr canary/${rel} ${k}=${v.toString("hex")}`);
  }
  return lines.join("\n");
}

/** How the runs ended, so that a property cannot pass by never extracting anything. */
const stats = { extracted: 0, refused: 0, unpackable: 0 };

async function scenario(entries: TarEntry[], d: Damage, whiteouts: WhiteoutMode, noOverwriteDirNonDir: boolean): Promise<void> {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-fuzz-tar-"));
  try {
    const target = path.join(parent, "target");
    fs.mkdirSync(target);
    fs.mkdirSync(path.join(parent, "canary", "dir"), { recursive: true });
    fs.writeFileSync(path.join(parent, "canary", "keep"), "original");
    fs.writeFileSync(path.join(parent, "canary", "dir", "inner"), "inner");
    fs.symlinkSync("canary", path.join(parent, "canary-link"));
    // Old times, so that a write through a link would show even within the same second.
    for (const p of ["canary/dir/inner", "canary/keep", "canary/dir", "canary", "."]) fs.utimesSync(path.join(parent, p), 1_000_000, 1_000_000);
    const before = snapshot(parent);

    const real = entries.map((e) => ({
      ...e,
      body: e.type === undefined || e.type === "file" ? e.body : undefined,
      linkname: e.linkname?.split(PARENT).join(parent),
      pax: e.pax && Object.fromEntries(Object.entries(e.pax).map(([k, v]) => [k, v.split(PARENT).join(parent)])),
    }));
    let tar: Buffer;
    try {
      tar = damaged(await makeTar(real), d);
    } catch {
      stats.unpackable++;
      return; // tar-stream would not pack it (a name it cannot encode): nothing to extract
    }
    try {
      await extractArchive(streamOf(tar), target, { whiteouts, noOverwriteDirNonDir });
      stats.extracted++;
    } catch (e) {
      stats.refused++;
      if (!(e instanceof Error) || e.message === "" || isInternalError(e)) assert.fail(`extraction failed with an engine error, not a clean one: ${describe(e)}`);
    }
    const after = snapshot(parent);
    assert.equal(after, before, "something outside the target changed");
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
}

void test("no archive, however hostile or damaged, changes anything outside the extraction target", async (t) => {
  const heap0 = heapAfterGc();
  await fc.assert(
    fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 12 }), damage, fc.constantFrom<WhiteoutMode>("overlay", "apply", "keep"), fc.boolean(), async (entries, d, w, strict) => {
      await scenario(entries, d, w, strict);
    }),
    fuzzParams(1321, 500, { timeout: 60_000 }),
  );
  t.diagnostic(`extracted ${stats.extracted}, refused ${stats.refused}, not packable ${stats.unpackable}`);
  assert.ok(stats.extracted > 50 && stats.refused > 50, "too few runs extracted or refused anything");
  const grown = heapAfterGc() - heap0;
  assert.ok(grown < 64 * 1024 * 1024, `the heap grew by ${Math.round(grown / 1048576)} MiB over the run`);
});

void test("no well-formed archive of a few names changing type over and over reaches outside the target", async () => {
  // Damaged or climbing archives stop at the first bad entry; these run to the end, where directory times are set.
  const smallEntry = fc.record({
    name: fc.constantFrom("a", "b", "a/b", "a/b/c", "l", "l/x", "./"),
    type: fc.constantFrom<NonNullable<TarEntry["type"]>>("file", "directory", "directory", "symlink", "symlink", "link"),
    body: fc.constant("x"),
    linkname: fc.constantFrom("a", "a/b", "b", "/", `${PARENT}/canary`, `${PARENT}/canary/keep`, `${PARENT}/canary/dir`, "../canary"),
    mode: fc.constantFrom(0o755, 0o4755, 0o600),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(smallEntry, { minLength: 1, maxLength: 8 }), fc.constantFrom<WhiteoutMode>("overlay", "apply", "keep"), async (entries, w) => {
      await scenario(entries, { kind: "none" }, w, false);
    }),
    fuzzParams(1323, 300, { timeout: 60_000 }),
  );
});

void test("extraction of an archive with thousands of entries and long names ends in bounded time and memory", async () => {
  const heap0 = heapAfterGc();
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 500, max: 3000 }), fc.constantFrom("deep", "wide", "long"), async (n, shape) => {
      const entries: TarEntry[] = [];
      for (let i = 0; i < n; i++) {
        // Deep: the depth varies, so entries keep meeting directories resolved before (and new ones).
        if (shape === "deep") entries.push({ name: "d/".repeat((i % 300) + 1) + "f", body: "x" });
        else if (shape === "wide") entries.push({ name: `w/${i}`, type: i % 3 === 0 ? "symlink" : "file", linkname: `${i - 1}`, body: "x" });
        else entries.push({ name: `${"n".repeat(200)}/${"m".repeat(250)}${i % 7}`, type: i % 2 ? "file" : "directory", body: "x" });
      }
      await scenario(entries, { kind: "none" }, "overlay", false);
    }),
    fuzzParams(1322, 4, { timeout: 120_000 }),
  );
  const grown = heapAfterGc() - heap0;
  assert.ok(grown < 64 * 1024 * 1024, `the heap grew by ${Math.round(grown / 1048576)} MiB`);
});

// Directory times are set after every entry is written; they used to be set with
// utimes on the entry's path, following a symlink that had replaced the directory.
void test("a directory later replaced by a symlink does not carry its times through the link", async () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-fuzz-tar-"));
  try {
    fs.mkdirSync(path.join(parent, "target"));
    fs.mkdirSync(path.join(parent, "canary"));
    fs.utimesSync(path.join(parent, "canary"), 1_000_000, 1_000_000);
    const tar = await makeTar([
      { name: "a", type: "directory", mtime: new Date(1_600_000_000_000) },
      { name: "a", type: "symlink", linkname: path.join(parent, "canary") },
    ]);
    await extractArchive(streamOf(tar), path.join(parent, "target"), { whiteouts: "overlay" });
    assert.equal(fs.lstatSync(path.join(parent, "canary")).mtimeMs, 1_000_000_000, "the canary's mtime was set through the archive's symlink");
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});

// resolveInRoot lstatted every component of every entry from the root, each on a
// path as long as the entry, so 3000 entries 1000 directories deep (a tar of
// 6 MB that gzip makes 20 KB) took 150 s here, all of it blocking the event
// loop; an extraction now remembers the directories it has resolved (RootResolver).
void test("an archive of a thousand entries a thousand directories deep is extracted in bounded time", async () => {
  const entries: TarEntry[] = [];
  for (let i = 0; i < 1000; i++) entries.push({ name: "d/".repeat(1000) + `f${i}`, body: "x" });
  const tar = await makeTar(entries);
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-fuzz-tar-"));
  // Fed in pieces, so that destroying the source stops the extraction at the time bound.
  const pieces: Buffer[] = [];
  for (let o = 0; o < tar.length; o += 65536) pieces.push(tar.subarray(o, o + 65536));
  const source = Readable.from(pieces);
  let timer: NodeJS.Timeout | undefined;
  try {
    fs.mkdirSync(path.join(parent, "target"));
    const bound = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 30_000)));
    const done = extractArchive(source, path.join(parent, "target"), { whiteouts: "overlay" }).then(() => "done" as const);
    const first = await Promise.race([done, bound]);
    if (first === "timeout") {
      source.destroy(new Error("the test's time bound passed"));
      await done.catch(() => undefined);
    }
    assert.equal(first, "done", "the extraction did not end within 30 s");
  } finally {
    clearTimeout(timer);
    fs.rmSync(parent, { recursive: true, force: true });
  }
});
