// Reference normalisation follows docker's distribution/reference rules.
import assert from "node:assert/strict";
import { test } from "node:test";
import { familiarString, normalizeReference, parseReference } from "../../src/image/reference.ts";

const D = "sha256:" + "a".repeat(64);

const table: [input: string, normalised: string, familiar: string][] = [
  ["busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"],
  ["library/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["index.docker.io/library/busybox:x", "docker.io/library/busybox:x", "busybox:x"],
  ["me/app:v1.0-rc_1", "docker.io/me/app:v1.0-rc_1", "me/app:v1.0-rc_1"],
  ["me/team/app", "docker.io/me/team/app:latest", "me/team/app:latest"],
  ["localhost/x", "localhost/x:latest", "localhost/x:latest"],
  ["localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest"],
  ["registry.example.com/a/b:t", "registry.example.com/a/b:t", "registry.example.com/a/b:t"],
  ["127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest"],
  ["Example.com/app", "Example.com/app:latest", "Example.com/app:latest"],
  [`x@${D}`, `docker.io/library/x@${D}`, `x@${D}`],
  [`x:1@${D}`, `docker.io/library/x:1@${D}`, `x:1@${D}`],
  ["a.b-c/e", "a.b-c/e:latest", "a.b-c/e:latest"],
  ["me/a.b-c__d---e", "docker.io/me/a.b-c__d---e:latest", "me/a.b-c__d---e:latest"],
];

void test("references normalise like docker's", () => {
  for (const [input, full, familiar] of table) {
    assert.equal(normalizeReference(input), full, input);
    assert.equal(familiarString(full), familiar, input);
  }
});

void test("a first component without '.', ':' or 'localhost' is a path, not a registry", () => {
  assert.equal(parseReference("myhost/app").domain, "docker.io");
  assert.equal(parseReference("myhost/app").path, "myhost/app");
  assert.equal(parseReference("my.host/app").domain, "my.host");
  assert.equal(parseReference("MyHost/app").domain, "MyHost");
});

void test("invalid references are refused with docker's reasons", () => {
  const bad: [string, RegExp][] = [
    ["Busybox", /must be lowercase/],
    ["docker.io/Me/app", /must be lowercase/],
    ["a".repeat(64), /64-byte hexadecimal/],
    ["busybox:", /bad tag/],
    ["busybox:-x", /bad tag/],
    ["busybox:" + "t".repeat(129), /bad tag/],
    ["busybox@sha256:abc", /bad digest/],
    ["bad_/x", /invalid reference format/],
    ["a.b_c/x", /bad registry/],
    ["x//y", /invalid reference format/],
    ["", /empty/],
    ["-x", /invalid reference format/],
  ];
  for (const [input, re] of bad) assert.throws(() => parseReference(input), re, input);
});
