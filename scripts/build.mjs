// Bundles the CLI and the SDK into dist/ with esbuild. One file each keeps
// `capsa run` start-up lean: Node resolves and compiles a single module.
import { build } from "esbuild";

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: "linked",
  // Native addons cannot be bundled; they are loaded from node_modules at run time.
  external: ["better-sqlite3", "node-unix-socket"],
  banner: { js: "import { createRequire as __capsaRequire } from 'node:module'; const require = __capsaRequire(import.meta.url);" },
  logLevel: "warning",
};

await Promise.all([
  build({ ...common, entryPoints: ["src/cli/main.ts"], outfile: "dist/cli.js" }),
  build({ ...common, entryPoints: ["src/index.ts"], outfile: "dist/sdk.js" }),
]);
