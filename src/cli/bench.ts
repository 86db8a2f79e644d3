// `tokenwatch bench` (npm run bench): tenant-scale figures measured side by side in one
// run, each a ratio or a per-unit number so that a noisy shared machine moves both sides.
// Definitions are in BENCHMARKS.md.
import { systemActor } from "../model/actor.js";
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { allowlistsAt } from "../engine/allowlists.js";
import { LIST_DEFAULTS } from "../model/allowlists.js";
import { fetchInputs } from "../engine/run.js";
import { IpMatcher, parseIp } from "../net/ip.js";
import { rules } from "../rules/index.js";
import { toMs, type DateTime } from "../model/time.js";
import type { RuleContext, Specs } from "../rules/rule.js";
import { ReplaySource } from "../sources/replay.js";
import type { LogSource } from "../engine/ports.js";
import { TABLES, mergeSightings, parseRow, rowSchemas, type AnyRow, type SignInSighting, type TableName } from "../model/rows.js";
import { Rand } from "../sim/prng.js";
import { simulateTenant } from "../sim/simulate.js";
import { startAzurite } from "../store/azurite.js";
import { createStores } from "../store/index.js";
import { TableStore } from "../store/tables.js";
import type { HourResult } from "./bench-hour.js";
import { UsageError } from "./usage.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SCALES = { S: 1_000, M: 20_000, L: 100_000 } as const;
/** The detection day is a Tuesday (2026-11-03), so the measured hour is a working hour. */
const DETECTION_END = "2026-11-04T00:00:00.000Z";
/** The steady-state hour measured: 14:00–15:00 UTC on the detection day, a busy hour. */
const MEASURED_HOUR_END = Date.parse("2026-11-03T15:00:00.000Z");

export interface BenchOptions {
  scale: keyof typeof SCALES;
  json: boolean;
}

export function parseBenchArgs(values: Record<string, string | boolean | undefined>): BenchOptions {
  const scale = values.scale ?? "S";
  if (typeof scale !== "string" || !(scale in SCALES)) throw new UsageError("--scale must be S, M or L");
  return { scale: scale as BenchOptions["scale"], json: values.json === true };
}

export async function bench(options: BenchOptions, log: (line: string) => void): Promise<void> {
  const users = SCALES[options.scale];
  const dir = await mkdtemp(join(tmpdir(), "tokenwatch-bench-"));
  const tenantDir = join(dir, "tenant");
  const sliceDir = join(dir, "slice");
  const daySliceDir = join(dir, "day");
  const azurite = await startAzurite();
  try {
    let t0 = Date.now();
    const tenant = await simulateTenant(tenantDir, { users, days: 1, historyDays: 14, seed: 7, to: DETECTION_END });
    log(`simulated ${users} users in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    t0 = Date.now();
    const from = Date.parse(tenant.from);
    const to = Date.parse(tenant.to);
    const prepared = await prepareSteadyState(tenantDir, sliceDir, daySliceDir, from, MEASURED_HOUR_END);
    const store = new TableStore({ connectionString: azurite.connectionString });
    await seedSteadyState(store, prepared, from, MEASURED_HOUR_END);
    log(`prepared the steady state before ${new Date(MEASURED_HOUR_END - HOUR).toISOString()} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const hour = await runMeasuredHour(sliceDir, azurite.connectionString, MEASURED_HOUR_END);
    const ours = await tokenwatchRowsPerRun(daySliceDir, from, to);
    let seedDay = 0;
    let oursDay = 0;
    for (const [end, rows] of ours) {
      seedDay += seedRowsAt(prepared.hourly, end);
      oursDay += rows;
    }
    const engine = await engineVsJsonParse(prepared.dayLines);
    const cidr = cidrVsNaive();

    const seedBusiest = seedRowsAt(prepared.hourly, MEASURED_HOUR_END);
    const results = {
      scale: options.scale,
      users,
      measuredHour: new Date(MEASURED_HOUR_END - HOUR).toISOString(),
      laRowsRatio: round(seedDay / oursDay),
      laRowsSeedPerRun: Math.round(seedDay / ours.size),
      laRowsTokenwatchPerRun: Math.round(oursDay / ours.size),
      laRowsRatioMeasuredHour: round(seedBusiest / hour.rowsScanned),
      engineVsJsonParse: round(engine.ratio),
      engineRowsPerSecond: Math.round(engine.engineRate),
      jsonParseRowsPerSecond: Math.round(engine.parseRate),
      cidrVsNaive: round(cidr.ratio),
      cidrLookupsPerSecond: Math.round(cidr.matcherRate),
      storeRoundTripsPerActiveUser: round(hour.requests / Math.max(1, hour.activeUsers)),
      storeRequests: hour.requests,
      activeUsers: hour.activeUsers,
      hourlyRunSeconds: round(hour.seconds),
      peakRssMB: Math.round(hour.peakRssMB),
      alertsInHour: hour.alerts,
      node: process.version,
    };
    if (options.json) process.stdout.write(`${JSON.stringify(results)}\n`);
    else process.stdout.write(table(results));
  } finally {
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const round = (n: number) => Math.round(n * 100) / 100;

function table(r: Record<string, string | number>): string {
  const targets: Record<string, string> = {
    laRowsRatio: "≥ 80",
    engineVsJsonParse: "≥ 0.3",
    cidrVsNaive: "≥ 50",
    storeRoundTripsPerActiveUser: "≤ 1.5",
    peakRssMB: "≤ 512 at M",
  };
  const lines = Object.entries(r).map(([k, v]) => `${k.padEnd(30)} ${String(v).padStart(14)}  ${targets[k] ?? ""}`);
  return `${lines.join("\n")}\n`;
}

interface Prepared {
  /** Rows per table per hour of TimeGenerated: what the seeds' `TimeGenerated > ago(period)` scopes select. */
  hourly: Record<TableName, Map<number, number>>;
  /** Baseline sightings before the measured hour, as the hourly updates would have left them. */
  sightings: SignInSighting[];
  earliestNonInteractive: DateTime | null;
  /** A sample of the detection day's lines, for the parse benchmark. */
  dayLines: { table: TableName; line: string; hour: number }[];
}

// The seeds' own scopes for a run: TimeGenerated > ago(period), per table.
const SEED_SCOPES: Record<TableName, number[]> = {
  AuditLogs: [HOUR],
  CloudAppEvents: [HOUR],
  // Intune: baseline between (ago(14d) .. ago(1h)) plus detection > ago(1h); pivot: > ago(3h).
  AADNonInteractiveUserSignInLogs: [14 * DAY + HOUR, 3 * HOUR],
  SigninLogs: [3 * HOUR],
};

/** Rows the four seed queries as written read in the run at `runEnd`. */
function seedRowsAt(hourly: Prepared["hourly"], runEnd: number): number {
  let rows = 0;
  for (const table of TABLES)
    for (const period of SEED_SCOPES[table])
      for (let h = runEnd - period; h < runEnd; h += HOUR) rows += hourly[table].get(h) ?? 0;
  return rows;
}

/**
 * One streaming pass over the tenant: counts rows per hour for the seeds' scopes, collects
 * the baseline the hourly runs would have built, and writes two slices: the rows the
 * measured hour can touch (its arrivals, and the earlier rows its follow-up queries may
 * reach) and the same for the whole detection day.
 */
async function prepareSteadyState(tenantDir: string, sliceDir: string, daySliceDir: string, from: number, hourEnd: number): Promise<Prepared> {
  const start = hourEnd - HOUR;
  const hourly = Object.fromEntries(TABLES.map((t) => [t, new Map<number, number>()])) as Prepared["hourly"];
  const latest = new Map<string, SignInSighting>();
  let earliestNonInteractive: DateTime | null = null;
  const dayLines: Prepared["dayLines"] = [];
  await mkdir(sliceDir, { recursive: true });
  await mkdir(daySliceDir, { recursive: true });
  const write = async (out: WriteStream, line: string) => {
    if (!out.write(`${line}\n`)) await new Promise<void>((r) => out.once("drain", () => r()));
  };
  const close = (out: WriteStream) => new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  for (const table of TABLES) {
    const out: WriteStream = createWriteStream(join(sliceDir, `${table}.ndjson`));
    const dayOut: WriteStream = createWriteStream(join(daySliceDir, `${table}.ndjson`));
    const lines = createInterface({ input: createReadStream(join(tenantDir, `${table}.ndjson`)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      const parsed = parseRow(rowSchemas[table], JSON.parse(line));
      if (!parsed.ok) continue;
      const row = parsed.row as AnyRow;
      // Whole milliseconds are enough to place rows in hours and slices.
      const time = toMs(row.TimeGenerated);
      const arrival = toMs(row.arrival);
      const hour = Math.floor(time / HOUR) * HOUR;
      hourly[table].set(hour, (hourly[table].get(hour) ?? 0) + 1);
      if (time >= from && dayLines.length < 400_000 && time % 3 === 0) dayLines.push({ table, line, hour: Math.floor(arrival / HOUR) });
      if (arrival < hourEnd && (arrival >= start || time >= start - 4 * HOUR)) await write(out, line);
      if (arrival >= from || time >= from - 4 * HOUR) await write(dayOut, line);
      if (table === "AADNonInteractiveUserSignInLogs" && arrival < start) {
        const r = row as AnyRow & { UserPrincipalName: string; IPAddress: string; AutonomousSystemNumber: string };
        if (earliestNonInteractive === null || r.TimeGenerated < earliestNonInteractive) earliestNonInteractive = r.TimeGenerated;
        if (time < start - 14 * DAY || !r.UserPrincipalName) continue;
        mergeSightings(latest, [{ account: r.UserPrincipalName.toLowerCase(), ip: r.IPAddress, asn: r.AutonomousSystemNumber, lastSeen: r.TimeGenerated }]);
      }
    }
    await Promise.all([close(out), close(dayOut)]);
  }
  return { hourly, sightings: [...latest.values()], earliestNonInteractive, dayLines };
}

/**
 * Rows tokenwatch's queries read in each hourly run of the detection day: the engine's own
 * fetch (first stage and follow-up), counted by scope.
 */
async function tokenwatchRowsPerRun(daySliceDir: string, from: number, to: number): Promise<Map<number, number>> {
  const replay = await ReplaySource.open(daySliceDir);
  let scanned = 0;
  const counting: LogSource = {
    rows: (spec) => ((scanned += replay.scanned(spec)), replay.rows(spec)),
    sightings: (spec) => ((scanned += replay.scanned(spec)), replay.sightings(spec)),
    earliest: (spec) => ((scanned += replay.scanned(spec)), replay.earliest(spec)),
  };
  const perRun = new Map<number, number>();
  for (let end = from + HOUR; end <= to; end += HOUR) {
    scanned = 0;
    const window = { start: end - HOUR, end };
    for (const rule of rules) await fetchInputs(rule, window, counting);
    perRun.set(end, scanned);
  }
  return perRun;
}

/** The state a deployment running since `from` has at the measured hour: baselines and checkpoints. */
async function seedSteadyState(store: TableStore, prepared: Prepared, from: number, hourEnd: number): Promise<void> {
  const stores = createStores(store);
  await stores.baselines.record(prepared.sightings);
  for (const rule of rules)
    await stores.ruleState.put(rule.meta.id, {
      windowEnd: hourEnd - HOUR,
      firstWindowStart: from,
      dataSince: rule.baseline ? prepared.earliestNonInteractive : null,
    });
}

/** Runs the measured hour in a fresh process so its memory and storage requests are its own. */
function runMeasuredHour(sliceDir: string, connectionString: string, hourEnd: number): Promise<HourResult> {
  const child = spawn(process.execPath, [fileURLToPath(new URL("./bench-hour.js", import.meta.url)), sliceDir, String(hourEnd)], {
    env: { ...process.env, TOKENWATCH_STORAGE_CONNECTION_STRING: connectionString },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as HourResult) : reject(new Error(`measured hour exited with ${code}`))));
  });
}

/**
 * Rows per second through validation and every rule's evaluation, over rows per second of
 * JSON.parse alone, on the same lines. Best of three each, interleaved.
 */
async function engineVsJsonParse(lines: Prepared["dayLines"]): Promise<{ ratio: number; engineRate: number; parseRate: number }> {
  const lists = allowlistsAt(
    Object.entries(LIST_DEFAULTS).flatMap(([list, values]) =>
      values.map((value) => ({ id: value, list: list as "network" | "principals", value, reason: "", expiresAt: null, createdBy: systemActor("bench"), createdAt: 0 })),
    ),
    0,
  );
  const ctx: RuleContext = {
    window: { start: 0, end: 0 },
    eventRange: { from: -Infinity, to: Infinity },
    lists,
    baselines: { established: true, get: () => undefined },
  };
  // Evaluated hour by hour, as the engine runs windows: each hour's rows are held only while
  // its window is evaluated, as in production.
  const byHour = new Map<number, Prepared["dayLines"]>();
  for (const l of lines) {
    const group = byHour.get(l.hour);
    if (group) group.push(l);
    else byHour.set(l.hour, [l]);
  }
  let sink = 0;
  const parseOnly = () => {
    for (const { line } of lines) sink += (JSON.parse(line) as object) ? 1 : 0;
  };
  const engine = () => {
    for (const [hour, hourLines] of byHour) {
      const window = { start: hour * HOUR, end: (hour + 1) * HOUR };
      const byTable: Record<TableName, AnyRow[]> = { SigninLogs: [], AADNonInteractiveUserSignInLogs: [], AuditLogs: [], CloudAppEvents: [] };
      for (const { table, line } of hourLines) {
        const parsed = parseRow(rowSchemas[table], JSON.parse(line));
        if (parsed.ok) byTable[table].push(parsed.row as AnyRow);
      }
      for (const rule of rules) {
        const inputs: Record<string, AnyRow[]> = { earlierInteractive: [], earlierNonInteractive: [] };
        for (const [name, spec] of Object.entries(rule.queries(window) as Specs)) inputs[name] = byTable[spec.table];
        sink += rule.evaluate(inputs as never, { ...ctx, window }).length;
      }
    }
  };
  let parseBest = Infinity;
  let engineBest = Infinity;
  for (let i = 0; i < 3; i++) {
    let t = performance.now();
    parseOnly();
    parseBest = Math.min(parseBest, performance.now() - t);
    t = performance.now();
    engine();
    engineBest = Math.min(engineBest, performance.now() - t);
  }
  if (sink < 0) throw new Error("unreachable");
  const parseRate = (lines.length / parseBest) * 1000;
  const engineRate = (lines.length / engineBest) * 1000;
  return { ratio: engineRate / parseRate, engineRate, parseRate };
}

/** 1,000,000 lookups against 10,000 mixed ranges: the matcher over a linear scan of parsed ranges. */
function cidrVsNaive(): { ratio: number; matcherRate: number } {
  const rand = new Rand(42);
  const byte = () => rand.int(256);
  const word = () => rand.int(65536).toString(16);
  const ranges: string[] = [];
  for (let i = 0; i < 10_000; i++)
    ranges.push(i % 2 === 0 ? `${byte()}.${byte()}.${byte()}.0/${16 + rand.int(17)}` : `2001:${word()}:${word()}::/${32 + rand.int(33)}`);
  const addresses: string[] = [];
  for (let i = 0; i < 1_000_000; i++)
    addresses.push(i % 2 === 0 ? `${byte()}.${byte()}.${byte()}.${byte()}` : `2001:${word()}:${word()}::${word()}`);

  const matcher = new IpMatcher(ranges);
  let hits = 0;
  let t = performance.now();
  for (const a of addresses) if (matcher.lookup(a)) hits++;
  const matcherMs = performance.now() - t;

  // The naive reference: every range parsed once to [first, last] BigInts, scanned per lookup.
  const parsed = ranges.map((r) => {
    const [address, prefix] = r.split("/") as [string, string];
    const ip = parseIp(address)!;
    const bits = ip.family === 4 ? 32 : 128;
    const value = toBigInt(ip.canonical, ip.family);
    const host = (1n << BigInt(bits - Number(prefix))) - 1n;
    return { family: ip.family, first: value & ~host, last: value | host };
  });
  const sample = addresses.slice(0, 2_000);
  let naiveHits = 0;
  t = performance.now();
  for (const a of sample) {
    const ip = parseIp(a)!;
    const value = toBigInt(ip.canonical, ip.family);
    for (const r of parsed) if (r.family === ip.family && value >= r.first && value <= r.last) {
      naiveHits++;
      break;
    }
  }
  const naivePerLookup = (performance.now() - t) / sample.length;
  if (hits < 0 || naiveHits < 0) throw new Error("unreachable");
  const matcherPerLookup = matcherMs / addresses.length;
  return { ratio: naivePerLookup / matcherPerLookup, matcherRate: 1000 / matcherPerLookup };
}

function toBigInt(canonical: string, family: 4 | 6): bigint {
  if (family === 4) return canonical.split(".").reduce((n, o) => (n << 8n) | BigInt(o), 0n);
  const [head = "", tail = ""] = canonical.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = canonical.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return groups.reduce((n, g) => (n << 16n) | BigInt(`0x${g}`), 0n);
}
