#!/usr/bin/env node
// Cold-start comparison: loading the bundled Functions entry (dist/bundle/index.mjs) versus
// the unbundled tsc output of the same source (dist/functions/index.js), each in a fresh
// `node` process, the way the Functions worker loads an app (scripts/functions-host-harness.mjs).
// Runs alternate between the two so drift on the machine hits both alike.
//
//   npm run bench:coldstart            (builds first)
//   node scripts/coldstart.mjs [--runs N]
//
// Prints, per variant, the median of: the entry's import time measured inside the process,
// and the whole process (node start-up + import + exit) measured from outside.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const harness = join(root, "scripts", "functions-host-harness.mjs");
const { values } = parseArgs({ options: { runs: { type: "string", default: "15" } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);

const variants = [
  { label: "bundled", appDir: join(root, "dist", "bundle"), entry: "index.mjs" },
  { label: "unbundled", appDir: root, entry: join("dist", "functions", "index.js") },
];
for (const v of variants) {
  if (!existsSync(join(v.appDir, v.entry))) throw new Error(`${join(v.appDir, v.entry)} is missing: run npm run build first`);
}

function once(variant) {
  const start = performance.now();
  const child = spawnSync(process.execPath, [harness, variant.appDir, variant.entry], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
  const processMs = performance.now() - start;
  if (child.status !== 0) throw new Error(`${variant.label} failed to load (exit ${child.status}):\n${child.stderr}`);
  const report = JSON.parse(child.stdout);
  return { importMs: report.loadMs, processMs, functions: report.functions.length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

// One unmeasured run each: the first spawn pays for the OS file cache, which Azure's
// first cold start also pays, but unequally between whichever variant happens to go first.
for (const v of variants) once(v);
const samples = Object.fromEntries(variants.map((v) => [v.label, []]));
for (let i = 0; i < runs; i++) for (const v of variants) samples[v.label].push(once(v));

const stats = Object.fromEntries(
  variants.map((v) => {
    const s = samples[v.label];
    return [v.label, { importMs: median(s.map((x) => x.importMs)), processMs: median(s.map((x) => x.processMs)), functions: s[0].functions }];
  }),
);
const b = stats.bundled;
const u = stats.unbundled;
if (b.functions !== u.functions) throw new Error(`bundled registers ${b.functions} functions, unbundled ${u.functions}`);

const row = (name, bv, uv) => `${name.padEnd(28)}${bv.toFixed(1).padStart(10)}${uv.toFixed(1).padStart(12)}${(uv / bv).toFixed(2).padStart(9)}x`;
const lines = [
  `cold start, median of ${runs} fresh node ${process.version} processes each, ${b.functions} functions registered`,
  `${"".padEnd(28)}${"bundled".padStart(10)}${"unbundled".padStart(12)}${"ratio".padStart(10)}`,
  row("import entry (ms)", b.importMs, u.importMs),
  row("whole process (ms)", b.processMs, u.processMs),
  `bundled:   dist/bundle/index.mjs`,
  `unbundled: dist/functions/index.js (+ node_modules)`,
];
process.stdout.write(`${lines.join("\n")}\n`);
