// `tokenwatch bench` (npm run bench): one steady-state hour of a generated tenant on the
// production path, and the engine against its floors. Definitions are in BENCHMARKS.md.
//
// The tenant (seed 7: 14 days of history, then Tuesday 2026-11-03 with planted attacks) is
// generated, not written: one walk counts its rows and builds the state a deployment
// running since the start would have at 14:00 UTC (baselines, checkpoints), then the
// local query API makes each query's rows when the measured process asks for them.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { rules } from "../rules/index.js";
import { fromMs, type DateTime } from "../model/time.js";
import { mergeSightings, type SignInSighting } from "../model/rows.js";
import { MAX_INGESTION_DELAY_MS } from "../sim/rows.js";
import { TABLES } from "../sim/simulate.js";
import { startAzurite } from "../store/azurite.js";
import { createStores } from "../store/index.js";
import { TableStore } from "../store/tables.js";
import { cidrVsNaive } from "./cidr.js";
import { hourResultSchema, type HourArgs, type HourResult } from "./hour-protocol.js";
import { HOUR, LiveTenant } from "./live-tenant.js";
import { LocalQueryApi } from "./query-api.js";
import { StoreProxy, writeFloor } from "./store-proxy.js";
import { throughput, type Baselines, type SampleLine, type Throughput } from "./throughput.js";
import { incidentPlanner } from "../engine/planner.js";

/** Users per scale; XL is measured as one shard of SHARDS and projected. */
export const SCALES = { S: 1_000, M: 20_000, L: 100_000, XL: 1_000_000 } as const;
export type Scale = keyof typeof SCALES;
const SHARDS: Record<Scale, number> = { S: 1, M: 1, L: 1, XL: 16 };

const DETECTION_END = "2026-11-04T00:00:00.000Z";
/** The steady-state hour measured: 14:00–15:00 UTC on the detection day, a busy hour. */
const MEASURED_HOUR_END = Date.parse("2026-11-03T15:00:00.000Z");
/** The timer fires this long after the window's end (TOKENWATCH_INGESTION_DELAY_MINUTES). */
const DELAY_MS = 5 * 60_000;
/** Hours before the measured one that queries may reach: its rows' lateness plus the pivot's 2-hour look-back, with margin. */
const SERVED_HOURS = 12;
/** Lines for the throughput figures: the rows of the last hours, a sample of the users when there are more. */
const SAMPLE_HOURS = 6;
const SAMPLE_LINES = 80_000;

export interface BenchOptions {
  scale: Scale;
  json: boolean;
  /** Only the engine throughput figures (no Azurite, no measured hour): about a minute at S, for iterating on the engine. */
  throughput?: boolean;
}

/** A shard of the tenant's accounts: FNV-1a of the lower-case UPN, modulo the shard count. */
export function shardOf(upn: string, shards: number): number {
  let h = 0x811c9dc5;
  const text = upn.toLowerCase();
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0) % shards;
}

export async function bench(options: BenchOptions, log: (line: string) => void): Promise<void> {
  const users = SCALES[options.scale];
  const shards = SHARDS[options.scale];
  const hourEnd = MEASURED_HOUR_END;
  const hourStart = hourEnd - HOUR;
  const endHour = hourEnd / HOUR;
  const keepFrom = endHour - 1 - SERVED_HOURS;
  if (keepFrom * HOUR + MAX_INGESTION_DELAY_MS > hourStart) throw new Error("the served hours must cover every row that can arrive in the measured hour");
  const started = Date.now();
  const phase = (what: string, t: number) => log(`${what} in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  let t = Date.now();
  const tenant = new LiveTenant({ users, days: 1, historyDays: 14, seed: 7, to: DETECTION_END }, shards > 1 ? (upn) => shardOf(upn, shards) === 0 : undefined);
  const { startMs } = tenant.generator;
  const latest = new Map<string, SignInSighting>();
  let dataSince: DateTime | null = null;
  const arrivedInHour: Record<string, number> = Object.fromEntries(TABLES.map((table) => [table, 0]));
  const activeUsers = new Set<string>();
  // The walk: counts, and what the hourly runs before the measured hour would have stored.
  tenant.advance(endHour, keepFrom, (_hour, buckets, arrivals) => {
    for (const table of TABLES) {
      const items = buckets[table];
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        // Rows of the hours before keepFrom all arrived before the measured hour (checked above).
        const arrival = arrivals ? arrivals[table][i]! : -Infinity;
        if (arrival >= hourStart && arrival < hourEnd) {
          arrivedInHour[table]!++;
          if ("signIn" in item) activeUsers.add(item.signIn.user.upn.toLowerCase());
        }
        // The Intune baseline: every non-interactive sign-in that arrived before the hour, 14 days back.
        if (table !== "AADNonInteractiveUserSignInLogs" || !("signIn" in item) || arrival >= hourStart) continue;
        const lastSeen = fromMs(item.t);
        if (dataSince === null || lastSeen < dataSince) dataSince = lastSeen;
        if (item.t < hourStart - 14 * 24 * HOUR) continue;
        const s = item.signIn;
        mergeSightings(latest, [{ account: s.user.upn.toLowerCase(), ip: s.site.ip, asn: s.site.asn, lastSeen }]);
      }
    }
  });
  phase(`generated ${users.toLocaleString("en")} users${shards > 1 ? ` (shard 1 of ${shards}: ${tenant.generator.users.length.toLocaleString("en")} users)` : ""}, ${Math.round((hourEnd - startMs) / HOUR)} hours`, t);
  // The same baseline for the throughput figures, as the Intune rule reads it.
  const known = new Map<string, { ips: Set<string>; asns: Set<string> }>();
  for (const { account, ip, asn } of latest.values()) {
    let networks = known.get(account);
    if (!networks) known.set(account, (networks = { ips: new Set(), asns: new Set() }));
    networks.ips.add(ip);
    networks.asns.add(asn);
  }
  if (options.throughput) return engineOnly(tenant, endHour, known, options, log);

  const azurite = await startAzurite();
  let api: LocalQueryApi | undefined;
  let proxy: StoreProxy | undefined;
  try {
    t = Date.now();
    const store = new TableStore({ connectionString: azurite.connectionString });
    const stores = createStores(store, incidentPlanner);
    // The baseline entries the hour can read or write: every entry of the accounts it sees,
    // the entries of the last hours (a merge reads the bucket's recent entries) and those its
    // retention removes. Other accounts' older entries would only make Azurite slower
    // (its cost grows with the table), not change what the hour reads, writes or requests.
    const recentFrom = fromMs(hourStart - 3 * HOUR);
    const purgedBy = fromMs(hourEnd - 14 * 24 * HOUR);
    const seeded = [...latest.values()].filter((s) => activeUsers.has(s.account) || s.lastSeen >= recentFrom || s.lastSeen <= purgedBy);
    await stores.baselines.record(seeded);
    const measured = rules.filter((rule) => shards === 1 || perUser(rule));
    for (const rule of measured)
      await stores.ruleState.put(rule.meta.id, { windowEnd: hourStart, firstWindowStart: tenant.generator.fromMs, dataSince: rule.baseline ? dataSince : null });
    phase(`stored the steady state before ${new Date(hourStart).toISOString()} (${seeded.length.toLocaleString("en")} of ${latest.size.toLocaleString("en")} baseline sightings)`, t);
    latest.clear();

    api = await LocalQueryApi.start(undefined, tenant);
    proxy = await StoreProxy.start(azurite.connectionString);
    t = Date.now();
    const hour = await measureHour({
      endpoint: api.endpoint,
      workspaceId: api.workspaceId,
      certificate: api.certificate,
      connectionString: proxy.connectionString,
      hourEnd,
      delayMs: DELAY_MS,
      ruleIds: measured.map((r) => r.meta.id),
    });
    phase("measured the hour on the production path", t);

    const traffic = proxy.traffic;
    const fixed = (traffic.byTable.get("Checkpoints") ?? 0) + (traffic.byTable.get("Tables") ?? 0);
    const writes = writeFloor(traffic.writes);
    const floor = writes + hour.baselineCandidates + hour.alertedAccounts + fixed;
    const rowsArrived = Object.values(arrivedInHour).reduce((a, b) => a + b, 0);
    const rowsScanned = api.requests.reduce((n, r) => n + (r.scanned ?? 0), 0);

    t = Date.now();
    const { lines, engine } = measureThroughput(tenant, endHour, known);
    phase(`engine throughput over ${lines.length.toLocaleString("en")} lines`, t);
    const cidr = cidrVsNaive();

    const project = (n: number) => n * shards;
    const results = {
      scale: options.scale,
      users,
      ...(shards > 1 ? { shards, usersInShard: tenant.generator.users.length, projection: `shard 1 of ${shards} by account hash, additive figures x${shards}` } : {}),
      measuredHour: new Date(hourStart).toISOString(),
      rowsArrived: project(rowsArrived),
      rowsTransferred: project(hour.rowsTransferred),
      rowsScanned: project(rowsScanned),
      rowsScannedBySeeds: project(seedScanned(tenant, hourEnd)),
      rowsTransferredPerArrived: round(hour.rowsTransferred / rowsArrived),
      rowsScannedPerArrived: round(rowsScanned / rowsArrived),
      queries: project(hour.queries),
      splitQueries: project(hour.splitQueries),
      storeRequests: project(traffic.requests),
      storeRequestsFloor: project(floor),
      storeRequestsPerFloor: round(traffic.requests / floor),
      storeFloorParts: `${project(writes)} write transactions + ${project(hour.baselineCandidates)} baseline candidates + ${project(hour.alertedAccounts)} alerted accounts + ${project(fixed)} rule-state and CreateTable`,
      activeUsers: project(activeUsers.size),
      ...engineFigures(engine),
      cidrVsNaive: round(cidr.ratio),
      cidrLookupsPerSecond: Math.round(cidr.matcherRate),
      peakRssMBProduction: Math.round(hour.peakRssMB),
      cpuSecondsPerHour: round(project(hour.cpuSeconds)),
      hourSeconds: round(hour.seconds),
      queryApiSeconds: round(api.requests.reduce((n, r) => n + r.ms, 0) / 1000),
      alertsInHour: project(hour.alerts),
      benchSeconds: Math.round((Date.now() - started) / 1000),
      node: process.version,
    };
    if (options.json) process.stdout.write(`${JSON.stringify(results)}\n`);
    else process.stdout.write(table(results));
  } finally {
    await api?.close();
    await proxy?.close();
    await azurite.stop();
  }
}

const round = (n: number) => Math.round(n * 100) / 100;

/** Rules that evaluate each account on its own (the ones a sharded run splits): they read sign-in tables only. */
function perUser(rule: (typeof rules)[number]): boolean {
  return rule.meta.requiredDataConnectors.flatMap((c) => c.dataTypes).every((t) => t === "SigninLogs" || t === "AADNonInteractiveUserSignInLogs");
}

/**
 * Rows the four seed queries as written scan in the run at `end`: `TimeGenerated > ago(period)`
 * on each table they touch (STS, Solorigate 1 h; Intune 14 d + 1 h; the pivot 3 h of both sign-in tables).
 */
function seedScanned(tenant: LiveTenant, end: number): number {
  const scopes: [(typeof TABLES)[number], number][] = [
    ["AuditLogs", HOUR],
    ["CloudAppEvents", HOUR],
    ["AADNonInteractiveUserSignInLogs", 14 * 24 * HOUR + HOUR],
    ["AADNonInteractiveUserSignInLogs", 3 * HOUR],
    ["SigninLogs", 3 * HOUR],
  ];
  return scopes.reduce((n, [table, period]) => n + tenant.rowsBetween(table, end - period, end), 0);
}

/** The last hours' rows as lines (grouped by arrival hour), of every k-th user when there are more than SAMPLE_LINES. */
function sampleLines(tenant: LiveTenant, endHour: number): SampleLine[] {
  const first = endHour - SAMPLE_HOURS;
  const total = TABLES.reduce((n, table) => n + tenant.rowsBetween(table, first * HOUR, endHour * HOUR), 0);
  const k = Math.max(1, Math.ceil(total / SAMPLE_LINES));
  const lines: SampleLine[] = [];
  for (let hour = first; hour < endHour; hour++) {
    const rows = tenant.regenerate(hour);
    for (const table of TABLES) {
      const { items, arrivals } = rows[table];
      items.forEach((item, i) => {
        if (("signIn" in item ? item.signIn.user.index : item.seed) % k !== 0) return;
        lines.push({ table, line: tenant.generator.render(item), hour: Math.floor(arrivals[i]! / HOUR) });
      });
    }
  }
  return lines;
}

/** The three passes over the sample of the last hours' lines (src/bench/throughput.ts). */
function measureThroughput(tenant: LiveTenant, endHour: number, known: Baselines): { lines: SampleLine[]; engine: Throughput } {
  const lines = sampleLines(tenant, endHour);
  return { lines, engine: throughput(lines, known) };
}

function engineFigures(engine: Throughput) {
  return {
    engineVsFloor: round(engine.floorSeconds / engine.engineSeconds),
    engineVsJsonParse: round(engine.jsonParseSeconds / engine.engineSeconds),
    engineRowsPerSecond: Math.round(engine.rows / engine.engineSeconds),
    floorRowsPerSecond: Math.round(engine.rows / engine.floorSeconds),
    jsonParseRowsPerSecond: Math.round(engine.rows / engine.jsonParseSeconds),
    engineSampleAlerts: engine.alerts,
  };
}

/** `bench --throughput`: the engine figures alone, over the same sample and baseline as the full bench. */
function engineOnly(tenant: LiveTenant, endHour: number, known: Baselines, options: BenchOptions, log: (line: string) => void): void {
  const t = Date.now();
  const { lines, engine } = measureThroughput(tenant, endHour, known);
  log(`engine throughput over ${lines.length.toLocaleString("en")} lines in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const results = { scale: options.scale, users: SCALES[options.scale], sampleLines: engine.rows, rounds: engine.rounds, ...engineFigures(engine), node: process.version };
  process.stdout.write(options.json ? `${JSON.stringify(results)}\n` : table(results));
}

/** Runs the measured hour in a fresh process, so its memory and CPU are its own. */
function measureHour(args: HourArgs): Promise<HourResult> {
  const child = spawn(process.execPath, [fileURLToPath(new URL("./hour.js", import.meta.url)), JSON.stringify(args)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(hourResultSchema.parse(JSON.parse(out))) : reject(new Error(`the measured hour exited with ${code}`))));
  });
}

function table(r: Record<string, string | number>): string {
  const targets: Record<string, string> = {
    rowsTransferredPerArrived: "≤ 1.2",
    storeRequestsPerFloor: "≤ 1.5",
    engineVsFloor: "≥ 0.8",
    engineVsJsonParse: "≥ 0.3",
    cidrVsNaive: "≥ 50",
    peakRssMBProduction: "≤ 256",
    cpuSecondsPerHour: "≤ 30 at L",
  };
  const lines = Object.entries(r).map(([k, v]) => `${k.padEnd(28)} ${String(v).padStart(16)}  ${targets[k] ?? ""}`);
  return `${lines.join("\n")}\n`;
}
