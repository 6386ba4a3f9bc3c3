// Bundles the CLI and the SDK into dist/ with esbuild. Code splitting keeps
// `capsa run` start-up lean: the CLI entry is small, and each verb's module
// (and what only it needs) is a chunk loaded on first use.
import { renameSync, rmSync } from "node:fs";
import { build } from "esbuild";

// Chunk names carry content hashes, so each build starts from an empty
// directory; it is swapped in at the end, so a CLI running meanwhile never
// finds dist/ half-written.
rmSync("dist.new", { recursive: true, force: true });

await build({
  entryPoints: { cli: "src/cli/main.ts", sdk: "src/index.ts", "vm-runtime": "src/vm/shim/main.ts", "extract-worker": "src/archive/extract-worker.ts" },
  outdir: "dist.new",
  bundle: true,
  splitting: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: "linked",
  chunkNames: "chunks/[name]-[hash]",
  // Native addons cannot be bundled; they are loaded from node_modules at run time.
  external: ["better-sqlite3", "node-unix-socket", "bun:sqlite"],
  banner: { js: "import { createRequire as __capsaRequire } from 'node:module'; const require = __capsaRequire(import.meta.url);" },
  logLevel: "warning",
});

rmSync("dist", { recursive: true, force: true });
renameSync("dist.new", "dist");
