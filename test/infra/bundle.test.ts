// The production bundle, loaded the way the Azure Functions Node.js worker loads an app,
// registers exactly what the source functions/*.ts register, with the right triggers: a
// timer per rule firing at the rule's queryFrequency, the HTTP routes, the delivery timer.
// The expectation comes from the source (functions/*.ts, src/rules/index.ts), so adding a
// function or a rule needs no change here.
//
// The bundle is built into a temporary directory outside the repository (no node_modules
// above it), so the load also proves the deployed package needs nothing but itself.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import Module from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rules } from "../../src/rules/index.js";
import { frequencyOf, type Rule } from "../../src/rules/rule.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const functionsDir = join(root, "functions");

interface Binding {
  type: string;
  direction: string;
  name?: string;
  [key: string]: unknown;
}
interface Registration {
  name: string;
  bindings: Record<string, Binding>;
}
interface HarnessReport {
  entry: string;
  programmingModel: { name: string; version: string } | null;
  functions: Registration[];
}
interface BundleResult {
  outfile: string;
  inputs: string[];
}

// ---- NCRONTAB (sec min hour day month day-of-week), numeric fields as Azure Functions reads them.

const FIELD_RANGES: [number, number][] = [
  [0, 59],
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 6],
];

function field(text: string, [lo, hi]: [number, number]): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`unsupported NCRONTAB field "${text}"`);
    const step = m[2] ? Number(m[2]) : 1;
    const [from, to] = m[1] === "*" ? [lo, hi] : m[1]!.includes("-") ? m[1]!.split("-").map(Number) : [Number(m[1]), m[2] ? hi : Number(m[1])];
    if (from! < lo || to! > hi || step < 1) throw new Error(`NCRONTAB field "${text}" out of range ${lo}-${hi}`);
    for (let v = from!; v <= to!; v += step) values.add(v === 7 && hi === 6 ? 0 : v);
  }
  return values;
}

/** Firing times (epoch ms, UTC) of a six-field NCRONTAB schedule in [from, to). */
export function firings(schedule: string, from: number, to: number): number[] {
  const parts = schedule.trim().split(/\s+/);
  if (parts.length !== 6) throw new Error(`"${schedule}" is not a six-field NCRONTAB expression`);
  const [sec, min, hour, day, month, dow] = parts.map((p, i) => field(p, FIELD_RANGES[i]!));
  const dayRestricted = parts[3] !== "*";
  const dowRestricted = parts[5] !== "*";
  const out: number[] = [];
  for (let t = Math.floor(from / 60_000) * 60_000; t < to; t += 60_000) {
    const d = new Date(t);
    const dayOk = dayRestricted && dowRestricted ? day!.has(d.getUTCDate()) || dow!.has(d.getUTCDay()) : day!.has(d.getUTCDate()) && dow!.has(d.getUTCDay());
    if (!(min!.has(d.getUTCMinutes()) && hour!.has(d.getUTCHours()) && month!.has(d.getUTCMonth() + 1) && dayOk)) continue;
    for (const s of [...sec!].sort((a, b) => a - b)) if (t + s * 1000 >= from && t + s * 1000 < to) out.push(t + s * 1000);
  }
  return out;
}

/** The one interval between firings, or null when the schedule is not periodic over the span. */
function period(schedule: string, atLeast: number): number | null {
  const from = Date.UTC(2026, 0, 5); // a Monday
  const times = firings(schedule, from, from + Math.max(3 * atLeast, 2 * 86_400_000) + 1);
  if (times.length < 2) return null;
  const gaps = new Set(times.slice(1).map((t, i) => t - times[i]!));
  return gaps.size === 1 ? [...gaps][0]! : null;
}

// ---- Registrations.

const trigger = (fn: Registration): Binding => {
  const triggers = Object.values(fn.bindings).filter((b) => b.direction === "in" && b.type.endsWith("Trigger"));
  if (triggers.length !== 1) throw new Error(`function ${fn.name} has ${triggers.length} trigger bindings`);
  return triggers[0]!;
};

/** Bindings without their generated names, in a stable order: what the host sees. */
function shape(fn: Registration) {
  const bindings = Object.values(fn.bindings)
    .map(({ name: _generated, ...rest }) => rest)
    .sort((a, b) => `${a.direction}${a.type}`.localeCompare(`${b.direction}${b.type}`));
  return { name: fn.name, bindings };
}

const byName = (fns: Registration[]) => [...fns].sort((a, b) => a.name.localeCompare(b.name)).map(shape);

/** What each functions/*.ts registers, imported here with the worker's core module in place. */
async function sourceRegistrations(): Promise<Map<string, Registration[]>> {
  const perFile = new Map<string, Registration[]>();
  let current = "";
  const coreApi = {
    version: "test",
    hostVersion: "4.0.0-test",
    registerHook: () => ({ dispose() {} }),
    setProgrammingModel: () => undefined,
    getProgrammingModel: () => undefined,
    registerFunction: (metadata: Registration) => {
      perFile.get(current)!.push(metadata);
      return { dispose() {} };
    },
    log: () => undefined,
    Disposable: class {
      dispose() {}
    },
  };
  const original = Module.prototype.require;
  Module.prototype.require = new Proxy(original, {
    apply(target, thisArg, args: unknown[]) {
      return args[0] === "@azure/functions-core" ? coreApi : Reflect.apply(target, thisArg, args);
    },
  });
  try {
    const files = readdirSync(functionsDir).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
    // index.ts last: its imports are cached by then, so each file's registrations stay its own.
    for (const file of files.sort((a, b) => (a === "index.ts" ? 1 : b === "index.ts" ? -1 : a.localeCompare(b)))) {
      current = file;
      perFile.set(file, []);
      await import(pathToFileURL(join(functionsDir, file)).href);
    }
  } finally {
    Module.prototype.require = original;
  }
  return perFile;
}

function runHarness(appDir: string): HarnessReport {
  const child = spawnSync(process.execPath, [join(root, "scripts", "functions-host-harness.mjs"), appDir], { encoding: "utf8", cwd: appDir });
  if (child.status !== 0) throw new Error(`the bundle did not load (exit ${child.status}):\n${child.stderr}`);
  return JSON.parse(child.stdout) as HarnessReport;
}

const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, "");

/** The timer function of a rule: its name carries the rule id or the rule's name. */
function timerOf(rule: Rule, timers: Registration[]): Registration[] {
  return timers.filter((t) => t.name.includes(rule.meta.id) || slug(t.name).includes(slug(rule.meta.name)) || slug(t.name).includes(slug(rule.meta.id)));
}

// ---- The test.

let outdir: string;
let built: BundleResult;
let bundled: HarnessReport;
let source: Map<string, Registration[]>;

beforeAll(async () => {
  const { bundle } = (await import(pathToFileURL(join(root, "scripts", "bundle.mjs")).href)) as {
    bundle(options: { outdir: string; logLevel?: string }): Promise<BundleResult>;
  };
  outdir = mkdtempSync(join(tmpdir(), "tokenwatch-bundle-"));
  built = await bundle({ outdir, logLevel: "error" });
  bundled = runHarness(outdir);
  source = await sourceRegistrations();
}, 120_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe("production bundle", () => {
  it("is what package.json main names, and its directory is a deployable app", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { main: string; type: string };
    expect(pkg.main).toBe("dist/bundle/index.mjs");
    const deployed = JSON.parse(readFileSync(join(outdir, "package.json"), "utf8")) as Record<string, unknown>;
    expect(deployed).toMatchObject({ type: "module", main: "index.mjs" });
    expect(deployed).not.toHaveProperty("dependencies");
    expect(JSON.parse(readFileSync(join(outdir, "host.json"), "utf8"))).toEqual(JSON.parse(readFileSync(join(root, "host.json"), "utf8")));
    expect(bundled.entry).toBe("index.mjs");
  });

  it("loads with the worker's core module and sets the @azure/functions programming model", () => {
    expect(bundled.programmingModel?.name).toBe("@azure/functions");
  });

  it("keeps Azurite, dev dependencies and CLI/test code out", () => {
    const devOnly = /node_modules\/(azurite|vitest|esbuild|typescript|fast-check|@kusto)\//;
    const offenders = built.inputs.filter((i) => devOnly.test(i) || /^(src\/cli|test|scripts)\//.test(i) || i.endsWith("src/store/azurite.ts"));
    expect(offenders).toEqual([]);
    expect(readFileSync(built.outfile, "utf8")).not.toContain("azurite/package.json");
  });

  it("every functions/*.ts file is imported by functions/index.ts", () => {
    const index = readFileSync(join(functionsDir, "index.ts"), "utf8");
    const imported = new Set([...index.matchAll(/^\s*import\s+(?:[^'"]*from\s+)?["']\.\/([^"']+)\.js["']/gm)].map((m) => `${m[1]}.ts`));
    const missing = [...source.keys()].filter((f) => f !== "index.ts" && !imported.has(f));
    expect(missing.map((f) => `functions/${f} is not imported by functions/index.ts, so the bundle leaves it out`)).toEqual([]);
  });

  it("registers exactly the functions the source registers, with the same bindings", () => {
    const expected = [...source.values()].flat();
    const names = (fns: Registration[]) => fns.map((f) => f.name).sort();
    expect(names(bundled.functions), "function names in the bundle vs functions/*.ts").toEqual(names(expected));
    expect(byName(bundled.functions)).toEqual(byName(expected));
  });

  it("every function has one trigger: timers on a valid periodic NCRONTAB schedule, HTTP with methods", () => {
    const problems: string[] = [];
    for (const fn of bundled.functions) {
      const t = trigger(fn);
      if (t.type === "timerTrigger") {
        if (typeof t.schedule !== "string") problems.push(`${fn.name}: timer without a schedule`);
        else if (period(t.schedule, 60_000) === null) problems.push(`${fn.name}: schedule "${t.schedule}" does not fire at a fixed interval`);
      } else if (t.type === "httpTrigger") {
        if (!Array.isArray(t.methods) || t.methods.length === 0) problems.push(`${fn.name}: HTTP trigger without methods`);
        const out = Object.values(fn.bindings).find((b) => b.direction === "out" && b.type === "http");
        if (!out) problems.push(`${fn.name}: HTTP trigger without an http output`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("every rule in src/rules/index.ts has a timer firing every queryFrequency", () => {
    const timers = bundled.functions.filter((f) => trigger(f).type === "timerTrigger");
    const problems: string[] = [];
    for (const rule of rules) {
      const own = timerOf(rule, timers);
      if (own.length !== 1) {
        problems.push(`rule "${rule.meta.name}" (${rule.meta.id}) has ${own.length} timer functions (timers: ${timers.map((t) => t.name).join(", ") || "none"})`);
        continue;
      }
      const schedule = String(trigger(own[0]!).schedule);
      const every = period(schedule, frequencyOf(rule));
      if (every !== frequencyOf(rule)) problems.push(`rule "${rule.meta.name}": timer ${own[0]!.name} fires every ${every ?? "irregular"} ms ("${schedule}"), queryFrequency ${rule.meta.queryFrequency} is ${frequencyOf(rule)} ms`);
    }
    expect(problems).toEqual([]);
  });

  it("HTTP routes are unique per method", () => {
    const seen = new Map<string, string>();
    const clashes: string[] = [];
    for (const fn of bundled.functions) {
      const t = trigger(fn);
      if (t.type !== "httpTrigger") continue;
      for (const method of (t.methods as string[]) ?? []) {
        const key = `${method} ${String(t.route ?? fn.name).replace(/\{[^}]+\}/g, "{}")}`;
        if (seen.has(key)) clashes.push(`${key}: ${seen.get(key)} and ${fn.name}`);
        seen.set(key, fn.name);
      }
    }
    expect(clashes).toEqual([]);
  });
});

describe("production-only guard of scripts/bundle.mjs", () => {
  it("fails the build on a dev dependency or CLI code reached from the entry", async () => {
    const { bundle } = (await import(pathToFileURL(join(root, "scripts", "bundle.mjs")).href)) as {
      bundle(options: { outdir: string; entry: string; logLevel?: string }): Promise<BundleResult>;
    };
    const dir = mkdtempSync(join(tmpdir(), "tokenwatch-guard-"));
    try {
      writeFileSync(join(dir, "dev.ts"), 'import { describe } from "vitest";\nexport const d = describe;\n');
      await expect(bundle({ outdir: join(dir, "out"), entry: join(dir, "dev.ts"), logLevel: "silent" })).rejects.toThrow(/dev-only package "vitest"/);
      writeFileSync(join(dir, "cli.ts"), `import { UsageError } from ${JSON.stringify(join(root, "src", "cli", "usage.ts"))};\nexport const u = UsageError;\n`);
      await expect(bundle({ outdir: join(dir, "out"), entry: join(dir, "cli.ts"), logLevel: "silent" })).rejects.toThrow(/src\/cli\/usage\.ts is CLI\/test code/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("NCRONTAB reading used above", () => {
  it("reads the usual schedules", () => {
    expect(period("0 0 * * * *", 3_600_000)).toBe(3_600_000);
    expect(period("0 */5 * * * *", 300_000)).toBe(300_000);
    expect(period("0 */1 * * * *", 60_000)).toBe(60_000);
    expect(period("0 7 * * * *", 3_600_000)).toBe(3_600_000);
    expect(period("0 0 0 * * *", 86_400_000)).toBe(86_400_000);
    expect(period("0 0 9-17 * * *", 3_600_000)).toBeNull();
    expect(() => firings("0 0 * * *", 0, 1)).toThrow(/six-field/);
    expect(relative(root, functionsDir)).toBe("functions");
  });
});
