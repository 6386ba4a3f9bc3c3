// capsa's layering, checked by `npm run layers` (a step of scripts/test.sh).
// A module may import its own layer and the layers below it, never above.
// docs/architecture.md explains what each layer owns.
const LAYERS = [
  ["types"], // docker's records and views, the engine's contract, the state paths: imports nothing
  ["util"], // errors, durations, processes: generic helpers
  ["events", "archive", "cgroups", "store", "snapshot"], // journal, tar, cgroup files, metadata (SQL), layers
  ["image", "runtime", "monitor", "network"], // image/content store, OCI spec + runtimes, conmon, CNI
  ["registry", "isolation", "vm"], // distribution client (writes into the image store), runtime handlers
  ["engine"], // the one public API (src/engine/index.ts) every front end uses
  ["builder", "api", "cli"], // front ends
];

const dir = (names) => `^src/(${names.join("|")})/`;
const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.join("-")}`,
  comment: `${layer.join(", ")} must not import a layer above it (${LAYERS.slice(i + 1).flat().join(", ")})`,
  severity: "error",
  from: { path: dir(layer) },
  to: { path: [dir(LAYERS.slice(i + 1).flat()), "^src/index\\.ts$"] },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: "types-are-a-leaf",
      comment: "src/types holds declarations only: it imports nothing else of capsa's",
      severity: "error",
      from: { path: "^src/types/" },
      to: { path: "^src/", pathNot: "^src/types/" },
    },
    {
      name: "front-ends-use-the-engine-api",
      comment: "api and cli reach the engine only through its public entry (src/engine/index.ts), never its internals or the layers below",
      severity: "error",
      from: { path: "^src/(api|cli)/" },
      to: { path: "^src/", pathNot: ["^src/(types|util|builder|api|cli)/", "^src/engine/index\\.ts$"] },
    },
    {
      name: "builder-uses-the-engine-api",
      comment: "the builder is a client of the engine's public entry; besides it only uses the tar (archive) and layer (snapshot) libraries",
      severity: "error",
      from: { path: "^src/builder/" },
      to: { path: "^src/", pathNot: ["^src/(types|util|archive|snapshot|builder)/", "^src/engine/index\\.ts$"] },
    },
    {
      name: "no-circular",
      comment: "import cycles hide which module owns what",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "\\.test\\.ts$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
