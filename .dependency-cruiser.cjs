// The layering the README's Design section describes, checked in `npm test`
// (test/layers.test.ts). Bottom to top; a folder imports only from the folders listed for it
// (plus node and npm packages). Type-only imports count: a layer that names another's types
// depends on it.
const only = (name, from, allowed, comment) => ({
  name,
  comment,
  severity: "error",
  from: { path: from },
  // src/config.ts is checked on its own (config-from-top): type-only slices are fine anywhere.
  to: { path: "^(src|functions)/", pathNot: [allowed, "^src/config\\.ts$"] },
});

module.exports = {
  forbidden: [
    only("model-net-pure", "^src/(model|net)/", "^src/(model|net)/", "model/ and net/ are pure shared concepts: they import only each other"),
    only("rules-over-model", "^src/rules/", "^src/(rules|model|net)/", "rules/ (framework, KQL library, the rules, the registry) imports model/ and net/ only"),
    only("engine-over-rules", "^src/engine/", "^src/(engine|rules|model|net)/", "engine/ imports rules/, model/, net/; storage and logs come through src/engine/ports.ts"),
    only("adapters-over-model", "^src/(sources|store)/", "^src/(model|net)/|^src/(sources|store)/", "sources/ and store/ satisfy the engine's ports structurally and import model/ and net/ only"),
    only("delivery-layer", "^src/delivery/", "^src/(delivery|model|net|store)/|^src/engine/ports\\.ts$", "delivery/ imports model, net, store and the engine's ports"),
    only("api-layer", "^src/api/", "^src/(api|engine|rules|model|net|delivery)/", "api/ imports engine, rules, model, net, delivery; never store/ or sources/ directly"),
    only("sim-layer", "^src/sim/", "^src/(sim|model|rules|net)/", "sim/ imports model, rules, net"),
    only("bench-tooling", "^src/bench/", "^src/(bench|engine|rules|model|net|sim|sources|store)/", "bench/ (the bench and the local query API) imports engine, rules, model, net, sim, sources, store; never the app, the API or the CLI"),
    only("functions-app-only", "^functions/", "^src/app\\.ts$|^functions/", "functions/ import only the app object (src/app.ts)"),
    {
      name: "app-not-cli",
      comment: "the composition root may import anything under src/ but the CLI",
      severity: "error",
      from: { path: "^src/app\\.ts$" },
      to: { path: "^src/cli/" },
    },
    {
      name: "config-from-top",
      comment: "src/config.ts (the settings schema) is for the app and the CLI, and for type-only slices elsewhere",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/(app\\.ts|cli/|config\\.ts)" },
      to: { path: "^src/config\\.ts$", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "no-folder-cycles",
      comment: "no import cycles (between folders, and so between modules)",
      severity: "error",
      from: { path: "^(src|functions)/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"], extensions: [".ts", ".js"] },
  },
};
