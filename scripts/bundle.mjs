#!/usr/bin/env node
// Production build of the Functions entry: functions/index.ts and everything it reaches,
// bundled by esbuild into one ESM file, so a cold start reads one file instead of
// resolving and reading hundreds under node_modules.
//
// Output (dist/bundle/ is a complete Functions app directory, what azd zips and deploys):
//   dist/bundle/index.mjs            the bundle (package.json "main" points here)
//   dist/bundle/index.mjs.map        source map (not loaded unless --enable-source-maps)
//   dist/bundle/index.mjs.LEGAL.txt  licence comments of the bundled packages
//   dist/bundle/host.json            copy of the root host.json
//   dist/bundle/package.json         {"type":"module","main":"index.mjs"}: no dependencies to install
//   dist/bundle/console/             the web console (web/): index.html and assets/<name>-<hash>.js|css,
//                                    served by src/api/console.ts (the Functions app and `serve`)
//
// Decisions:
// - @azure/functions is bundled, not external. Its only link to the runtime is
//   require("@azure/functions-core"), which the Node.js worker answers by patching
//   Module.prototype.require before it loads the app. The banner below gives the ESM
//   bundle a real CommonJS `require` (createRequire), whose calls go through
//   Module.prototype.require, so the worker's hook sees them. Bundling it means the
//   deployed app needs no node_modules at all, and there is exactly one copy of the
//   programming model in the app.
// - @azure/functions-core is the only external package: it exists only inside the worker.
// - Azurite is dev-only: src/store/azurite.ts (which spawns the azurite package) is
//   replaced by a module whose startAzurite() fails with the settings to set. Any import of
//   a devDependency, of azurite, or of src/cli / test code fails the build.
import { build } from "esbuild";
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Where `npm run build` writes the bundle; package.json "main" must name its index.mjs. */
export const DEFAULT_OUTDIR = join(root, "dist", "bundle");
export const ENTRY = join(root, "functions", "index.ts");
export const CONSOLE_ENTRY = join(root, "web", "main.ts");

/**
 * The web console for browsers: web/main.ts and its CSS, code-split (MSAL is loaded only
 * for Entra sign-in), minified, with content-hashed names; index.html is written last and
 * names them. No CDN: everything the page loads is in assets/.
 */
export async function bundleConsole({ outdir, logLevel = "warning" }) {
  const assets = join(outdir, "assets");
  await mkdir(assets, { recursive: true });
  const result = await build({
    entryPoints: [CONSOLE_ENTRY],
    outdir: assets,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: ["chrome120", "firefox121", "safari17"],
    minify: true,
    entryNames: "[name]-[hash]",
    chunkNames: "chunk-[hash]",
    assetNames: "[name]-[hash]",
    legalComments: "eof",
    metafile: true,
    logLevel,
  });
  const [script, output] = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint) ?? [];
  const style = output?.cssBundle;
  if (!script || !style) throw new Error("console build: the entry script or its stylesheet is missing");
  const template = await readFile(join(root, "web", "index.html"), "utf8");
  const html = template.replace("{{script}}", `assets/${script.split("/").at(-1)}`).replace("{{style}}", `assets/${style.split("/").at(-1)}`);
  await writeFile(join(outdir, "index.html"), html);
  return { bytes: Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0) };
}

const BANNER = [
  'import { createRequire as __tokenwatchCreateRequire } from "node:module";',
  "const require = __tokenwatchCreateRequire(import.meta.url);",
].join("\n");

const AZURITE_REPLACEMENT = `
export async function startAzurite() {
  throw new Error("no Table Storage configured: set TOKENWATCH_STORAGE_TABLE_ENDPOINT (managed identity) or TOKENWATCH_STORAGE_CONNECTION_STRING; the production bundle does not start Azurite");
}
`;

async function devOnlyPackages() {
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  return new Set([...Object.keys(pkg.devDependencies ?? {}), "azurite"]);
}

/** The package name of a bare import specifier, or null for relative/absolute/builtin paths. */
function packageName(specifier) {
  if (specifier.startsWith(".") || specifier.startsWith("/") || specifier.startsWith("node:")) return null;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function productionOnly(devOnly) {
  const forbiddenDirs = [join(root, "src", "cli") + sep, join(root, "test") + sep, join(root, "scripts") + sep];
  return {
    name: "tokenwatch-production-only",
    setup(b) {
      b.onResolve({ filter: /^\.\/azurite\.js$/ }, (args) =>
        args.importer.startsWith(join(root, "src", "store") + sep) ? { path: "azurite", namespace: "tokenwatch-production" } : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: "tokenwatch-production" }, () => ({ contents: AZURITE_REPLACEMENT, loader: "js" }));
      b.onResolve({ filter: /.*/ }, (args) => {
        const name = packageName(args.path);
        if (name && devOnly.has(name))
          return { errors: [{ text: `dev-only package "${name}" imported by ${relative(root, args.importer)}: keep it out of the Functions entry` }] };
        return undefined;
      });
      b.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
        const dir = forbiddenDirs.find((d) => args.path.startsWith(d));
        if (dir) return { errors: [{ text: `${relative(root, args.path)} is CLI/test code and must not reach the Functions entry` }] };
        return undefined;
      });
    },
  };
}

/** Bundles the Functions entry into `outdir` and makes it a deployable app directory. */
export async function bundle({ outdir = DEFAULT_OUTDIR, entry = ENTRY, logLevel = "warning" } = {}) {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const outfile = join(outdir, "index.mjs");
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    target: "node22",
    format: "esm",
    external: ["@azure/functions-core"],
    banner: { js: BANNER },
    // Whitespace and syntax only: less to parse, while identifiers (so stack traces) keep
    // their names. keepNames is not needed for that and would add a call per function.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: "linked",
    sourcesContent: false,
    legalComments: "linked",
    metafile: true,
    logLevel,
    plugins: [productionOnly(await devOnlyPackages())],
  });
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  await writeFile(
    join(outdir, "package.json"),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: "module", main: "index.mjs", engines: pkg.engines }, null, 2)}\n`,
  );
  await copyFile(join(root, "host.json"), join(outdir, "host.json"));
  await bundleConsole({ outdir: join(outdir, "console"), logLevel });
  const inputs = Object.keys(result.metafile.inputs);
  const bytes = result.metafile.outputs[relative(process.cwd(), outfile).split(sep).join("/")]?.bytes ?? (await readFile(outfile)).length;
  return { outfile, inputs, bytes, warnings: result.warnings };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  // The CLI tsc wrote is the package's bin: executable, so `npx tokenwatch` runs it from a fresh clone too.
  const rootPkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  for (const bin of Object.values(rootPkg.bin ?? {})) await chmod(join(root, bin), 0o755);
  const { outfile, inputs, bytes } = await bundle();
  const packages = new Set(inputs.filter((i) => i.includes("node_modules/")).map((i) => packageName(i.slice(i.lastIndexOf("node_modules/") + 13))));
  process.stderr.write(`${relative(root, outfile)}: ${(bytes / 1024).toFixed(0)} KiB from ${inputs.length} modules (${packages.size} packages)\n`);
}
