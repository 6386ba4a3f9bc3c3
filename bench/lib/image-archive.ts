// A large multi-layer image as a `docker save` archive, made once and cached:
// a Debian bookworm minbase root file system (test/fixtures/debian.ts) as the
// first layer, then layers of random (incompressible) bytes, then a small
// one. The image-load-save and pull scenarios move it between engines.
//
// The Debian layer gets one extra file naming the archive's label, so its diff
// id is the archive's own: the engines must not find it already unpacked
// (run-true-debian imports the plain Debian tarball; pull uses a label of its
// own so nothing load-save left behind counts either).
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { debianRootfsTar } from "../../test/fixtures/debian.ts";
import { CACHE } from "../../test/helpers.ts";
import { runOk } from "./proc.ts";

/** The reference the archive's manifest names (RepoTags). */
export const BIG_IMAGE = "capsa-bench/big:latest";
/** Sizes of the random layers after the Debian one, in MiB. */
const RANDOM_LAYERS_MIB = [32, 12];
const archivePath = (label: string): string => path.join(CACHE, `bench-big-image-${label}-${RANDOM_LAYERS_MIB.join("-")}.tar`);

export interface ImageArchive {
  path: string;
  bytes: number;
  /** Uncompressed size of each layer tar, in bytes. */
  layers: number[];
}

function sha256File(file: string): string {
  const h = createHash("sha256");
  const fd = fs.openSync(file, "r");
  const buf = Buffer.alloc(4 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

/** A layer tar holding `files` (path inside the image → content) made with tar, owned by root, fixed mtime. */
function layerTar(work: string, out: string, files: Record<string, Buffer | ((fd: number) => void)>): void {
  const dir = fs.mkdtempSync(path.join(work, "layer-"));
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (Buffer.isBuffer(content)) fs.writeFileSync(p, content);
    else {
      const fd = fs.openSync(p, "w");
      try {
        content(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
  }
  runOk({ argv: ["tar", "--numeric-owner", "--owner=0", "--group=0", "--mtime=@0", "--sort=name", "-C", dir, "-cf", out, "."] });
  fs.rmSync(dir, { recursive: true, force: true });
}

function randomFile(mib: number): (fd: number) => void {
  return (fd) => {
    for (let i = 0; i < mib; i++) fs.writeSync(fd, randomBytes(1 << 20));
  };
}

/**
 * The archive: layers Debian minbase, random ×N, a small text file; config
 * with their diff ids; manifest.json naming BIG_IMAGE. Built on first use
 * (after the Debian tarball, which takes ~30 s the first time), then cached.
 */
export function bigImageArchive(label = "load-save"): ImageArchive {
  const file = archivePath(label);
  if (!fs.existsSync(file)) build(file, label);
  const manifest = JSON.parse(runOk({ argv: ["tar", "-xOf", file, "manifest.json"] })) as { Layers: string[] }[];
  const listing = runOk({ argv: ["tar", "-tvf", file] });
  const sizes = new Map(listing.split("\n").map((l) => l.trim().split(/\s+/)).map((f) => [f[5] ?? "", Number(f[2])]));
  return { path: file, bytes: fs.statSync(file).size, layers: (manifest[0]?.Layers ?? []).map((l) => sizes.get(l) ?? NaN) };
}

function build(file: string, label: string): void {
  fs.mkdirSync(CACHE, { recursive: true });
  const work = fs.mkdtempSync(path.join(CACHE, "big-image-"));
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const stage = path.join(work, "stage");
    fs.mkdirSync(stage);
    const layers: string[] = [];
    const add = (make: (out: string) => void) => {
      const out = path.join(work, `layer-${layers.length}.tar`);
      make(out);
      const hex = sha256File(out);
      fs.mkdirSync(path.join(stage, hex));
      fs.renameSync(out, path.join(stage, hex, "layer.tar"));
      layers.push(hex);
    };
    add((out) => {
      fs.copyFileSync(debianRootfsTar(), out);
      const marker = path.join(work, "marker");
      fs.mkdirSync(path.join(marker, "etc"), { recursive: true });
      fs.writeFileSync(path.join(marker, "etc", "capsa-bench-base"), `${label}\n`);
      runOk({ argv: ["tar", "--numeric-owner", "--owner=0", "--group=0", "--mtime=@0", "-C", marker, "-rf", out, "./etc/capsa-bench-base"] });
      fs.rmSync(marker, { recursive: true, force: true });
    });
    RANDOM_LAYERS_MIB.forEach((mib, i) => add((out) => layerTar(work, out, { [`opt/bench/random-${i}.bin`]: randomFile(mib) })));
    add((out) => layerTar(work, out, { "etc/bench-image": Buffer.from(`capsa bench image, layers: debian + ${RANDOM_LAYERS_MIB.join(" + ")} MiB random\n`) }));
    const config = Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        created: "2024-01-01T00:00:00Z",
        config: { Cmd: ["/bin/bash"], Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
        rootfs: { type: "layers", diff_ids: layers.map((l) => `sha256:${l}`) },
        history: layers.map((_, i) => ({ created: "2024-01-01T00:00:00Z", created_by: `capsa bench layer ${i}` })),
      }),
    );
    const configName = `${createHash("sha256").update(config).digest("hex")}.json`;
    fs.writeFileSync(path.join(stage, configName), config);
    fs.writeFileSync(path.join(stage, "manifest.json"), JSON.stringify([{ Config: configName, RepoTags: [BIG_IMAGE], Layers: layers.map((l) => `${l}/layer.tar`) }]));
    runOk({ argv: ["tar", "--numeric-owner", "-C", stage, "-cf", tmp, "manifest.json", configName, ...layers] });
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(tmp, { force: true });
  }
}
