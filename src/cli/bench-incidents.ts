// `tokenwatch bench --incidents`: incident list latency at 100 and at 100,000 incidents,
// side by side on one Azurite over HTTP, in interleaved rounds: first on an Azurite whose
// queries scan in key order as Table Storage's do (src/bench/ordered-scan.ts), then on stock
// Azurite; and the storage requests each call makes (definitions in BENCHMARKS.md). Both stores are filled by IncidentRepository.bulkLoad: the rows a
// placement leaves (incident, alert, account tally, index rows), in transactions of 100.
import { createHash } from "node:crypto";
import type { Alert, Incident } from "../engine/incidents.js";
import type { IncidentStatus } from "../model/incident.js";
import { incidentId } from "../model/incident-id.js";
import { fromMs } from "../model/time.js";
import { rules } from "../rules/index.js";
import { Rand } from "../sim/prng.js";
import { startAzurite } from "../store/azurite.js";
import { IncidentRepository } from "../store/incidents.js";
import { TableStore } from "../store/tables.js";
import { StoreProxy } from "../bench/store-proxy.js";

const DAY = 86_400_000;
const SMALL = 100;
const LARGE = 100_000;
const PER_ACCOUNT = 50;
const ROUNDS = 25;
const WARMUP = 3;
const PAGE = 50;
/** The newest alert of the synthetic incidents; they spread over the year before it. */
const NEWEST = Date.parse("2026-11-30T00:00:00.000Z");
const STATUSES: IncidentStatus[] = ["New", "New", "New", "New", "New", "New", "New", "Active", "Active", "Closed"];

/** `count` incidents of PER_ACCOUNT each per account, one alert each, over a year; deterministic. */
export function syntheticIncidents(count: number, seed: number): { incidents: Incident[]; alerts: Alert[] } {
  const rand = new Rand(seed);
  const incidents: Incident[] = [];
  const alerts: Alert[] = [];
  for (let n = 0; n < count; n++) {
    const rule = rules[rand.int(rules.length)]!.meta;
    const account = `user${String(Math.floor(n / PER_ACCOUNT)).padStart(6, "0")}@contoso.com`;
    const ms = NEWEST - rand.int(365 * DAY);
    const time = fromMs(ms) + BigInt(rand.int(10_000));
    const alertId = createHash("sha256").update(`bench\u0000${seed}\u0000${n}`).digest("hex").slice(0, 32);
    const id = incidentId(rule.id, account, alertId);
    const status = STATUSES[rand.int(STATUSES.length)]!;
    incidents.push({
      id,
      ruleId: rule.id,
      ruleName: rule.name,
      account,
      severity: rule.severity,
      status,
      title: `${rule.name}: ${account}`,
      firstAlertTime: time,
      lastAlertTime: time,
      alertIds: [alertId],
      createdAt: ms,
      updatedAt: ms,
      owner: status === "New" ? null : "analyst@contoso.com",
      classification: status === "Closed" ? "TruePositive" : null,
    });
    const ip = `203.0.${rand.int(256)}.${rand.int(256)}`;
    alerts.push({ id: alertId, ruleId: rule.id, ruleName: rule.name, severity: rule.severity, time, account, ip, title: rule.name, details: {}, entities: [{ type: "ip", address: ip }], incidentId: id });
  }
  return { incidents, alerts };
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round2 = (n: number) => Math.round(n * 100) / 100;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** The calls the routes make, each timed and counted. */
const CASES = {
  list: (r: IncidentRepository) => r.incidentPage({}, PAGE),
  listNew: (r: IncidentRepository) => r.incidentPage({ status: ["New"] }, PAGE),
  listHighSince: (r: IncidentRepository) => r.incidentPage({ severity: ["High"], from: NEWEST - 30 * DAY }, PAGE),
  accounts: (r: IncidentRepository) => r.accountPage(PAGE),
} as const;
type CaseName = keyof typeof CASES | "pointRead";
const SIDES = [
  { name: "small", count: SMALL },
  { name: "large", count: LARGE },
] as const;

interface Measured {
  /** p50 milliseconds per case and side. */
  p50: Record<CaseName, { small: number; large: number }>;
  /** Storage requests one call makes, per case and side (through a counting proxy, after the timed rounds). */
  requests: Record<CaseName, { small: number; large: number }>;
  seedSeconds: { small: number; large: number };
}

/** Both stores on one Azurite (`preload`: the key-ordered scan, or none for stock Azurite), seeded, timed and counted. */
async function measure(preload: string | undefined, log: (line: string) => void): Promise<Measured> {
  const azurite = await startAzurite({ tablePreload: preload ? [preload] : [] });
  const proxy = await StoreProxy.start(azurite.connectionString);
  try {
    const repoOf = (connectionString: string, prefix: string) => new IncidentRepository(new TableStore({ connectionString, tablePrefix: prefix }));
    const sides = SIDES.map((side) => ({ ...side, repo: repoOf(azurite.connectionString, side.name), counted: repoOf(proxy.connectionString, side.name), id: "" }));
    const seedSeconds = { small: 0, large: 0 };
    for (const side of sides) {
      const { incidents, alerts } = syntheticIncidents(side.count, 11);
      const ms = await timed(() => side.repo.bulkLoad(incidents, alerts));
      seedSeconds[side.name] = round2(ms / 1000);
      side.id = incidents[Math.floor(incidents.length / 2)]!.id;
      log(`${preload ? "key-ordered" : "stock"} Azurite: seeded ${side.count} incidents (${incidents.length * 5} rows with alerts, tallies and index rows) in ${(ms / 1000).toFixed(1)} s`);
    }
    const calls = (side: (typeof sides)[number], repo: IncidentRepository): [CaseName, () => Promise<unknown>][] => [
      ...Object.entries(CASES).map(([name, run]): [CaseName, () => Promise<unknown>] => [name as CaseName, () => run(repo)]),
      ["pointRead", () => repo.getIncident(side.id)],
    ];
    const samples = {} as Record<CaseName, { small: number[]; large: number[] }>;
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      // Alternate which side goes first, so neither always follows the other's cache traffic.
      for (const side of round % 2 ? [...sides].reverse() : sides)
        for (const [name, run] of calls(side, side.repo)) {
          const ms = await timed(run);
          if (round >= WARMUP) (samples[name] ??= { small: [], large: [] })[side.name].push(ms);
        }
    }
    const requests = {} as Measured["requests"];
    for (const side of sides)
      for (const [name, run] of calls(side, side.counted)) {
        await run(); // a fresh repository looks for its one-time index marker once
        proxy.take();
        await run();
        (requests[name] ??= { small: 0, large: 0 })[side.name] = proxy.take().requests;
      }
    const p50s = Object.fromEntries(Object.entries(samples).map(([name, s]) => [name, { small: round2(p50(s.small)), large: round2(p50(s.large)) }])) as Measured["p50"];
    return { p50: p50s, requests, seedSeconds };
  } finally {
    await proxy.close();
    await azurite.stop();
  }
}

export async function benchIncidents(json: boolean, log: (line: string) => void): Promise<void> {
  // Table Storage's cost of a key-range query, then stock Azurite's (which filters and sorts the whole table per query).
  const ordered = await measure(new URL("../bench/ordered-scan.js", import.meta.url).href, log);
  const stock = await measure(undefined, log);
  const ratio = (m: Measured, name: CaseName) => round2(m.p50[name].large / m.p50[name].small);
  const results = {
    incidentListLatencyRatio: ratio(ordered, "list"),
    incidentListP50Ms: ordered.p50.list,
    statusListLatencyRatio: ratio(ordered, "listNew"),
    statusListP50Ms: ordered.p50.listNew,
    severitySinceListLatencyRatio: ratio(ordered, "listHighSince"),
    severitySinceListP50Ms: ordered.p50.listHighSince,
    accountsLatencyRatio: ratio(ordered, "accounts"),
    accountsP50Ms: ordered.p50.accounts,
    pointReadLatencyRatio: ratio(ordered, "pointRead"),
    pointReadP50Ms: ordered.p50.pointRead,
    storageRequestsPerCall: ordered.requests,
    stockAzurite: Object.fromEntries((Object.keys(stock.p50) as CaseName[]).map((name) => [name, { ratio: ratio(stock, name), p50Ms: stock.p50[name] }])),
    incidents: { small: SMALL, large: LARGE },
    rounds: ROUNDS,
    pageSize: PAGE,
    seedSeconds: ordered.seedSeconds,
    node: process.version,
  };
  if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
  else for (const [k, v] of Object.entries(results)) process.stdout.write(`${k.padEnd(32)} ${typeof v === "object" ? JSON.stringify(v) : String(v)}\n`);
}
