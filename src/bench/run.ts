// `tokenwatch bench` (npm run bench): one steady-state hour of a generated tenant on the
// production path, and the engine against its floors. Definitions are in BENCHMARKS.md.
//
// The tenant (seed 7: 14 days of history, then Tuesday 2026-11-03 with planted attacks) is
// generated, not written: one walk counts its rows and builds the state a deployment
// running since the start would have at 14:00 UTC (baselines, checkpoints), then the
// local query API makes each query's rows when the measured process asks for them.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { SHARD_QUEUE, ShardMessage } from "../engine/shards.js";
import { shardOf } from "../model/shard.js";
import { ruleById, rules } from "../rules/index.js";
import { fromMs, type DateTime } from "../model/time.js";
import type { SignInSighting } from "../model/rows.js";
import { MAX_INGESTION_DELAY_MS } from "../sim/rows.js";
import { TABLES } from "../sim/simulate.js";
import { startAzurite } from "../store/azurite.js";
import { createStores } from "../store/index.js";
import { StorageQueue } from "../store/queue.js";
import { ShardRepository } from "../store/shards.js";
import { TableStore } from "../store/tables.js";
import { cidrVsNaive } from "./cidr.js";
import { hourResultSchema, type HourArgs, type HourResult } from "./hour-protocol.js";
import { HOUR, LiveTenant } from "./live-tenant.js";
import { LocalQueryApi } from "./query-api.js";
import { StoreProxy, sumTraffic, writeFloor, type StoreTraffic } from "./store-proxy.js";
import type { Baselines, SampleLine, Throughput } from "./throughput.js";
import { incidentPlanner } from "../engine/planner.js";
import { purgedBucket } from "../engine/run.js";
import { BaselineRepository } from "../store/baselines.js";
import { BUCKETS, bucketKey, bucketOf } from "../store/buckets.js";
import { SessionRepository } from "../store/sessions.js";
import { DEFAULT_SESSION_LIFETIME_MS } from "../model/sessions.js";
import { frequencyOf } from "../rules/rule.js";
import { SessionSeed } from "./session-seed.js";

/** Users per scale; XL is measured as the accounts of one production shard of XL_SHARDS and projected. */
export const SCALES = { S: 1_000, M: 20_000, L: 100_000, XL: 1_000_000 } as const;
export type Scale = keyof typeof SCALES;
/** XL's tenant: the accounts whose production shard hash (src/model/shard.ts) is 0 of this many. */
const XL_SHARDS = 16;

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
  /** TOKENWATCH_SHARD_ROWS, as the deployment reads it. */
  rowsPerShard: number;
  /** The measured invocations' Node flags: the deployment's (WORKER_NODE_ARGUMENTS), then TOKENWATCH_BENCH_NODE_ARGS. */
  nodeArgs: string[];
  /** Only the engine throughput figures (no Azurite, no measured hour): about a minute at S, for iterating on the engine. */
  throughput?: boolean;
}

/** One invocation of the measured hour, as the bench ran it. */
interface Invocation {
  what: string;
  result: HourResult;
  traffic: StoreTraffic;
  /** Rows the declared time ranges of its queries scan. */
  scanned: number;
}

export async function bench(options: BenchOptions, log: (line: string) => void): Promise<void> {
  const users = SCALES[options.scale];
  const sampled = options.scale === "XL";
  const hourEnd = MEASURED_HOUR_END;
  const hourStart = hourEnd - HOUR;
  const endHour = hourEnd / HOUR;
  const keepFrom = endHour - 1 - SERVED_HOURS;
  // Every row that arrived in the hour before the measured one (the previous window's load) has its arrival kept.
  if (keepFrom * HOUR + MAX_INGESTION_DELAY_MS > hourStart - HOUR) throw new Error("the served hours must cover every row that can arrive in the measured hour and the one before");
  const { rowsPerShard } = options;
  const started = Date.now();
  const phase = (what: string, t: number) => log(`${what} in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  let t = Date.now();
  const tenant = new LiveTenant({ users, days: 1, historyDays: 14, seed: 7, to: DETECTION_END }, sampled ? (upn) => shardOf(upn, XL_SHARDS) === 0 : undefined);
  const { startMs } = tenant.generator;
  // The walk keeps each (account, IP, ASN)'s latest sighting in ms, keyed `account\0ip\0asn`
  // (no per-row objects: at L the walk visits 50 million rows), and the earliest in ms.
  const latestMs = new Map<string, number>();
  const lowerCase = new Map<string, string>();
  let dataSinceMs = Infinity;
  const arrivedInHour: Record<string, number> = Object.fromEntries(TABLES.map((table) => [table, 0]));
  const arrivedBefore: Record<string, number> = Object.fromEntries(TABLES.map((table) => [table, 0]));
  const activeUsers = new Set<string>();
  /** Accounts with a non-interactive sign-in that arrived in the hour: the only ones whose baseline the hour reads or merges one by one. */
  const sightedInHour = new Set<string>();
  // The forked-session rule's state: sessions' sign-ins within its lifetime and the purge's reach before the hour, and the sessions the hour names.
  const sessionSeed = new SessionSeed(hourEnd - DEFAULT_SESSION_LIFETIME_MS - BUCKETS * HOUR - HOUR);
  const namedInHour = new Set<string>();
  // The walk: counts, and what the hourly runs before the measured hour would have stored.
  tenant.advance(endHour, keepFrom, (_hour, buckets, arrivals) => {
    for (const table of TABLES) {
      const items = buckets[table];
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        // Rows of the hours before keepFrom all arrived before the hour before the measured one (checked above).
        const arrival = arrivals ? arrivals[table][i]! : -Infinity;
        if (arrival >= hourStart && arrival < hourEnd) {
          arrivedInHour[table]!++;
          if ("signIn" in item) activeUsers.add(item.signIn.user.upn.toLowerCase());
          if ("signIn" in item && table === "AADNonInteractiveUserSignInLogs") sightedInHour.add(item.signIn.user.upn.toLowerCase());
        } else if (arrival >= hourStart - HOUR && arrival < hourStart) arrivedBefore[table]!++;
        if ("signIn" in item) {
          if (arrival < hourStart) sessionSeed.add(item);
          else if (arrival < hourEnd) {
            const key = sessionSeed.keyOf(item);
            if (key !== undefined) namedInHour.add(key);
          }
        }
        // The Intune baseline: every non-interactive sign-in that arrived before the hour, 14 days back.
        if (table !== "AADNonInteractiveUserSignInLogs" || !("signIn" in item) || arrival >= hourStart) continue;
        if (item.t < dataSinceMs) dataSinceMs = item.t;
        if (item.t < hourStart - 14 * 24 * HOUR) continue;
        const { user, site } = item.signIn;
        let account = lowerCase.get(user.upn);
        if (account === undefined) lowerCase.set(user.upn, (account = user.upn.toLowerCase()));
        const key = `${account}\u0000${site.ip}\u0000${site.asn}`;
        const seen = latestMs.get(key);
        if (seen === undefined || seen < item.t) latestMs.set(key, item.t);
      }
    }
  });
  const dataSince: DateTime | null = dataSinceMs === Infinity ? null : fromMs(dataSinceMs);
  const latest: SignInSighting[] = [];
  for (const [key, ms] of latestMs) {
    const [account, ip, asn] = key.split("\u0000") as [string, string, string];
    latest.push({ account, ip, asn, lastSeen: fromMs(ms) });
  }
  latestMs.clear();
  phase(`generated ${users.toLocaleString("en")} users${sampled ? ` (shard 1 of ${XL_SHARDS}: ${tenant.generator.users.length.toLocaleString("en")} users)` : ""}, ${Math.round((hourEnd - startMs) / HOUR)} hours`, t);
  // The same baseline for the throughput figures, as the Intune rule reads it.
  const known = new Map<string, { ips: Set<string>; asns: Set<string> }>();
  for (const { account, ip, asn } of latest) {
    let networks = known.get(account);
    if (!networks) known.set(account, (networks = { ips: new Set(), asns: new Set() }));
    networks.ips.add(ip);
    networks.asns.add(asn);
  }
  if (options.throughput) return engineOnly(tenant, endHour, known, options, log);

  // The baseline entries the hour can read or write: every entry of the accounts whose
  // non-interactive sign-ins arrived in it (the baseline candidates are among them, and a
  // merge reads their older entries one by one), every account's entries of the last hours
  // (a merge reads its bucket's recent entries) and the entries the window's retention
  // removes (one bucket per window). Other entries would only make Azurite slower (each of
  // its writes costs more as the table grows), not change what the hour reads, writes or requests.
  t = Date.now();
  const recentFrom = fromMs(hourStart - 3 * HOUR);
  const purgedBy = fromMs(hourEnd - 14 * 24 * HOUR);
  const intune = rules.find((rule) => rule.baseline)!;
  const purged = bucketKey(purgedBucket(intune, { end: hourEnd }));
  const seeded = latest.filter((s) => sightedInHour.has(s.account) || s.lastSeen >= recentFrom || (s.lastSeen <= purgedBy && bucketOf(s.account) === purged));
  // Stored as the table record() leaves them, loaded by Azurite as it starts (src/bench/azurite-seed.ts, see BENCHMARKS.md).
  const seedDir = await mkdtemp(join(tmpdir(), "tokenwatch-bench-"));
  const seedFile = join(seedDir, "baselines.ndjson");
  // The Sessions the hour can read: those it names, those its scans of recently used sessions return, and the purged bucket's expired ones.
  const forked = rules.find((rule) => rule.sessions)!;
  const sessionsPurged = bucketKey(Math.floor(hourEnd / frequencyOf(forked)));
  const sessionStates = sessionSeed.states(
    (item) => tenant.generator.render(item),
    (key, lastT) => namedInHour.has(key) || lastT >= hourStart - 3 * HOUR || (lastT <= hourEnd - DEFAULT_SESSION_LIFETIME_MS && bucketOf(key.slice(0, key.indexOf("\u0000"))) === sessionsPurged),
  );
  await writeFile(
    seedFile,
    [...BaselineRepository.rowsFor(seeded).map((row) => ({ table: "Baselines", row })), ...SessionRepository.rowsFor(sessionStates).map((row) => ({ table: "Sessions", row }))].map((line) => `${JSON.stringify(line)}\n`).join(""),
  );
  process.env.TOKENWATCH_BENCH_AZURITE_SEED = seedFile;
  // Azurite with its queries in key order from the range they name (src/bench/ordered-scan.ts), and the seed.
  const azurite = await startAzurite({ queue: true, tablePreload: [new URL("./ordered-scan.js", import.meta.url).href, new URL("./azurite-seed.js", import.meta.url).href], startTimeoutMs: 20 * 60_000 }).finally(() => {
    delete process.env.TOKENWATCH_BENCH_AZURITE_SEED;
  });
  await rm(seedDir, { recursive: true, force: true });
  let api: LocalQueryApi | undefined;
  let proxy: StoreProxy | undefined;
  try {
    const store = new TableStore({ connectionString: azurite.connectionString });
    const stores = createStores(store, incidentPlanner);
    // At XL only the per-account rules run: the others read the whole tenant's audit tables, unsharded.
    const measured = rules.filter((rule) => !sampled || rule.perAccount);
    const shardRepository = new ShardRepository(store);
    const loads: string[] = [];
    for (const rule of measured) {
      await stores.ruleState.put(rule.meta.id, { windowEnd: hourStart, firstWindowStart: tenant.generator.fromMs, dataSince: rule.baseline ? dataSince : null });
      if (!rule.perAccount) continue;
      // The previous window's rows, as the timer recorded them: the rows of its tables that arrived in it (the whole tenant's at XL).
      const load = tablesOf(rule).reduce((n, table) => n + (arrivedBefore[table] ?? 0), 0) * (sampled ? XL_SHARDS : 1);
      await shardRepository.recordLoad(rule.meta.id, hourStart, load);
      loads.push(`${rule.meta.name} ${load.toLocaleString("en")}`);
    }
    phase(`stored the steady state before ${new Date(hourStart).toISOString()} (${seeded.length.toLocaleString("en")} of ${latest.length.toLocaleString("en")} baseline sightings, ${sessionStates.length.toLocaleString("en")} of ${sessionSeed.size.toLocaleString("en")} sessions; previous window's rows: ${loads.join(", ")})`, t);
    latest.length = 0;

    const queryApi = (api = await LocalQueryApi.start(undefined, tenant));
    const storeProxy = (proxy = await StoreProxy.start(azurite.connectionString));
    t = Date.now();
    const invocations: Invocation[] = [];
    const invoke = async (what: string, invocation: HourArgs["invocation"]) => {
      storeProxy.take();
      const queriesBefore = queryApi.requests.length;
      const result = await measureInvocation({
        endpoint: queryApi.endpoint,
        workspaceId: queryApi.workspaceId,
        certificate: queryApi.certificate,
        connectionString: storeProxy.connectionString,
        hourEnd,
        delayMs: DELAY_MS,
        rowsPerShard,
        invocation,
      }, options.nodeArgs);
      const scanned = queryApi.requests.slice(queriesBefore).reduce((n, r) => n + (r.scanned ?? 0), 0);
      invocations.push({ what, result, traffic: storeProxy.take(), scanned });
      log(
        `invocation ${invocations.length} (${what}): ${result.summary}; ${result.seconds.toFixed(1)} s, ${result.cpuSeconds.toFixed(2)} CPU s, ` +
          `peak RSS ${Math.round(result.peakRssMB)} MB, ${result.rowsTransferred.toLocaleString("en")} rows in ${result.queries} queries`,
      );
    };
    // The rules' timers fire; a per-account rule whose previous window read more than the bound sends its window out as shards.
    await invoke("timers", { kind: "timer", ruleIds: measured.map((r) => r.meta.id) });
    // The queue trigger: each delivery of a shard message is an invocation of its own, as the
    // Functions host runs it. At XL only the shards that hold the generated accounts run.
    const queue = new StorageQueue({ connectionString: azurite.connectionString, queueName: SHARD_QUEUE });
    const failures: unknown[] = [];
    let messages = 0;
    let unmeasured = 0;
    for (;;) {
      const received = await queue.consume(
        async ({ body, dequeueCount }) => {
          messages++;
          const message = ShardMessage.parse(body);
          if (sampled && (message.count < XL_SHARDS || message.index % XL_SHARDS !== 0)) {
            if (message.count < XL_SHARDS) throw new Error(`XL measures shard 1 of ${XL_SHARDS}, but the window went out in ${message.count} shards`);
            unmeasured++;
            return;
          }
          await invoke(`${message.ruleIds.map((id) => ruleById(id)?.meta.name ?? id).join(" + ")}, shard ${message.index + 1} of ${message.count}`, { kind: "shard", message: body, dequeueCount });
        },
        { max: 32, visibilityTimeoutSeconds: 4 * 3600, onError: (error) => failures.push(error) },
      );
      if (failures.length > 0) throw failures[0];
      if (received === 0) break;
    }
    // The last shard to commit moves the window's checkpoint; if it could not (a lease race), the timer's next run does.
    const behind = async () => (await Promise.all(measured.map(async (r) => ((await stores.ruleState.get(r.meta.id))?.windowEnd === hourEnd ? null : r)))).filter((r) => r !== null);
    if (!sampled && (await behind()).length > 0) await invoke("timers again, to finish the sharded window", { kind: "timer", ruleIds: (await behind()).map((r) => r.meta.id) });
    if (!sampled && (await behind()).length > 0) throw new Error(`the measured window's checkpoint did not move for ${(await behind()).map((r) => r.meta.name).join(", ")}`);
    phase(`measured the hour on the production path (${invocations.length} invocations, ${messages} shard messages${unmeasured > 0 ? `, ${unmeasured} of them for accounts outside the generated shard, not run` : ""})`, t);

    // XL: the shard invocations hold 1/XL_SHARDS of the tenant's accounts; the timers' invocation runs once per tenant.
    const [timer, ...shardRuns] = invocations;
    const factor = sampled ? XL_SHARDS : 1;
    const total = (f: (i: Invocation) => number) => f(timer!) + factor * shardRuns.reduce((n, i) => n + f(i), 0);
    const traffic = sumTraffic(invocations.map((i) => i.traffic));
    const fixedOf = (i: Invocation) => (i.traffic.byTable.get("Checkpoints") ?? 0) + (i.traffic.byTable.get("Tables") ?? 0) + (i.traffic.byTable.get("Shards") ?? 0);
    const writes = total((i) => writeFloor(i.traffic.writes));
    const candidates = total((i) => i.result.baselineCandidates);
    const fixed = total(fixedOf);
    const alertedAccounts = new Set(invocations.flatMap((i) => i.result.alertedAccounts)).size * factor;
    const requests = total((i) => i.traffic.requests);
    const floor = writes + candidates + alertedAccounts + fixed;
    const readTables = new Set(measured.flatMap(tablesOf));
    const rowsArrived = Object.entries(arrivedInHour).reduce((n, [table, rows]) => n + (readTables.has(table) ? rows : 0), 0) * factor;
    const rowsTransferred = total((i) => i.result.rowsTransferred);
    const rowsScanned = total((i) => i.scanned);

    t = Date.now();
    const { lines, engine } = await measureThroughput(tenant, endHour, known);
    phase(`engine throughput over ${lines.length.toLocaleString("en")} lines`, t);
    const cidr = cidrVsNaive();

    const results = {
      scale: options.scale,
      users,
      ...(sampled
        ? {
            usersInShard: tenant.generator.users.length,
            projection: `the accounts of shard 1 of ${XL_SHARDS} (production hash); the per-account rules only; shard invocations' additive figures x${XL_SHARDS}, the timers' invocation once`,
          }
        : {}),
      measuredHour: new Date(hourStart).toISOString(),
      rowsPerShard,
      invocations: invocations.length,
      shardMessages: messages,
      rowsArrived,
      rowsTransferred,
      rowsScanned,
      rowsScannedBySeeds: seedScanned(tenant, hourEnd, readTables) * factor,
      rowsTransferredPerArrived: round(rowsTransferred / rowsArrived),
      rowsScannedPerArrived: round(rowsScanned / rowsArrived),
      queries: total((i) => i.result.queries),
      splitQueries: total((i) => i.result.splitQueries),
      storeRequests: requests,
      storeRequestsFloor: floor,
      storeRequestsPerFloor: round(requests / floor),
      storeFloorParts: `${writes} write transactions + ${candidates} baseline candidates + ${alertedAccounts} alerted accounts + ${fixed} rule-state, shard and CreateTable`,
      storeRequestsByTable: Object.fromEntries(traffic.byTable),
      activeUsers: activeUsers.size * factor,
      ...engineFigures(engine),
      cidrVsNaive: round(cidr.ratio),
      cidrLookupsPerSecond: Math.round(cidr.matcherRate),
      peakRssMBProduction: Math.round(Math.max(...invocations.map((i) => i.result.peakRssMB))),
      cpuSecondsPerHour: round(total((i) => i.result.cpuSeconds)),
      hourSeconds: round(invocations.reduce((n, i) => n + i.result.seconds, 0)),
      queryApiSeconds: round(queryApi.requests.reduce((n, r) => n + r.ms, 0) / 1000),
      alertsInHour: total((i) => i.result.alerts),
      perInvocation: invocations.map((i) => ({
        what: i.what,
        seconds: round(i.result.seconds),
        cpuSeconds: round(i.result.cpuSeconds),
        peakRssMB: Math.round(i.result.peakRssMB),
        rowsTransferred: i.result.rowsTransferred,
        queries: i.result.queries,
        storeRequests: i.traffic.requests,
      })),
      benchSeconds: Math.round((Date.now() - started) / 1000),
      node: process.version,
      invocationNodeArgs: options.nodeArgs.join(" "),
    };
    if (options.json) process.stdout.write(`${JSON.stringify(results)}\n`);
    else process.stdout.write(table(results));
  } finally {
    await api?.close();
    await proxy?.close();
    await azurite.stop();
  }
}

/** The Log Analytics tables a rule reads. */
function tablesOf(rule: (typeof rules)[number]): string[] {
  return rule.meta.requiredDataConnectors.flatMap((c) => c.dataTypes);
}

const round = (n: number) => Math.round(n * 100) / 100;

/**
 * Rows the four seed queries as written scan in the run at `end`: `TimeGenerated > ago(period)`
 * on each table they touch (STS, Solorigate 1 h; Intune 14 d + 1 h; the pivot 3 h of both sign-in tables).
 */
function seedScanned(tenant: LiveTenant, end: number, tables: ReadonlySet<string>): number {
  const scopes: [(typeof TABLES)[number], number][] = [
    ["AuditLogs", HOUR],
    ["CloudAppEvents", HOUR],
    ["AADNonInteractiveUserSignInLogs", 14 * 24 * HOUR + HOUR],
    ["AADNonInteractiveUserSignInLogs", 3 * HOUR],
    ["SigninLogs", 3 * HOUR],
  ];
  return scopes.reduce((n, [table, period]) => n + (tables.has(table) ? tenant.rowsBetween(table, end - period, end) : 0), 0);
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

/** The three passes over the sample of the last hours' lines (src/bench/throughput.ts), in a worker thread of their own (throughput-worker.ts says why). */
async function measureThroughput(tenant: LiveTenant, endHour: number, known: Baselines): Promise<{ lines: SampleLine[]; engine: Throughput }> {
  const lines = sampleLines(tenant, endHour);
  const engine = await new Promise<Throughput>((resolve, reject) => {
    const worker = new Worker(new URL("./throughput-worker.js", import.meta.url), { workerData: { lines, baselines: known } });
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the throughput worker exited (code ${code}) without its figures`)));
  });
  return { lines, engine };
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
async function engineOnly(tenant: LiveTenant, endHour: number, known: Baselines, options: BenchOptions, log: (line: string) => void): Promise<void> {
  const t = Date.now();
  const { lines, engine } = await measureThroughput(tenant, endHour, known);
  log(`engine throughput over ${lines.length.toLocaleString("en")} lines in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const results = { scale: options.scale, users: SCALES[options.scale], sampleLines: engine.rows, rounds: engine.rounds, ...engineFigures(engine), node: process.version };
  process.stdout.write(options.json ? `${JSON.stringify(results)}\n` : table(results));
}

/** Runs one invocation in a fresh process, so its memory and CPU are its own. */
function measureInvocation(args: HourArgs, nodeArgs: readonly string[]): Promise<HourResult> {
  const child = spawn(process.execPath, [...nodeArgs, fileURLToPath(new URL("./hour.js", import.meta.url)), JSON.stringify(args)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(hourResultSchema.parse(JSON.parse(out))) : reject(new Error(`the invocation exited with ${code}`))));
  });
}

function table(r: Record<string, unknown>): string {
  const targets: Record<string, string> = {
    rowsTransferredPerArrived: "≤ 1.2",
    storeRequestsPerFloor: "≤ 1.5",
    engineVsFloor: "≥ 0.8",
    engineVsJsonParse: "≥ 0.3",
    cidrVsNaive: "≥ 50",
    peakRssMBProduction: "≤ 256",
    cpuSecondsPerHour: "≤ 30 at L",
  };
  const text = (v: unknown) => (typeof v === "object" ? JSON.stringify(v) : String(v));
  const lines = Object.entries(r).map(([k, v]) => `${k.padEnd(28)} ${text(v).padStart(16)}  ${targets[k] ?? ""}`);
  return `${lines.join("\n")}\n`;
}
