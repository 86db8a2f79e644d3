// `tokenwatch bench --incidents`: incident list latency at 100 and at 100,000 incidents,
// side by side against one Azurite over HTTP, in interleaved rounds (definitions in
// BENCHMARKS.md). Both stores are filled by IncidentRepository.bulkLoad: the rows a
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

export async function benchIncidents(json: boolean, log: (line: string) => void): Promise<void> {
  const azurite = await startAzurite();
  try {
    const sides = [
      { name: "small", count: SMALL, repo: new IncidentRepository(new TableStore({ connectionString: azurite.connectionString, tablePrefix: "small" })) },
      { name: "large", count: LARGE, repo: new IncidentRepository(new TableStore({ connectionString: azurite.connectionString, tablePrefix: "large" })) },
    ];
    const seedSeconds: Record<string, number> = {};
    const ids: Record<string, string> = {};
    for (const side of sides) {
      const { incidents, alerts } = syntheticIncidents(side.count, 11);
      const ms = await timed(() => side.repo.bulkLoad(incidents, alerts));
      seedSeconds[side.name] = round2(ms / 1000);
      ids[side.name] = incidents[Math.floor(incidents.length / 2)]!.id;
      log(`seeded ${side.count} incidents (${incidents.length * 5} rows with alerts, tallies and index rows) in ${(ms / 1000).toFixed(1)} s`);
    }
    const cases = {
      list: (r: IncidentRepository) => r.incidentPage({}, PAGE),
      listNew: (r: IncidentRepository) => r.incidentPage({ status: ["New"] }, PAGE),
      listHighSince: (r: IncidentRepository) => r.incidentPage({ severity: ["High"], from: NEWEST - 30 * DAY }, PAGE),
      accounts: (r: IncidentRepository) => r.accountPage(PAGE),
    } as const;
    const samples: Record<string, Record<string, number[]>> = {};
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      // Alternate which side goes first, so neither always follows the other's cache traffic.
      for (const side of round % 2 ? [...sides].reverse() : sides) {
        for (const [name, run] of Object.entries(cases)) {
          const ms = await timed(() => run(side.repo));
          if (round >= WARMUP) ((samples[name] ??= {})[side.name] ??= []).push(ms);
        }
        const ms = await timed(() => side.repo.getIncident(ids[side.name]!));
        if (round >= WARMUP) ((samples.pointRead ??= {})[side.name] ??= []).push(ms);
      }
    }
    const ratio = (name: string) => round2(p50(samples[name]!.large!) / p50(samples[name]!.small!));
    const ms = (name: string) => ({ small: round2(p50(samples[name]!.small!)), large: round2(p50(samples[name]!.large!)) });
    const results = {
      incidentListLatencyRatio: ratio("list"),
      incidentListP50Ms: ms("list"),
      statusListLatencyRatio: ratio("listNew"),
      statusListP50Ms: ms("listNew"),
      severitySinceListLatencyRatio: ratio("listHighSince"),
      severitySinceListP50Ms: ms("listHighSince"),
      accountsLatencyRatio: ratio("accounts"),
      accountsP50Ms: ms("accounts"),
      pointReadLatencyRatio: ratio("pointRead"),
      pointReadP50Ms: ms("pointRead"),
      incidents: { small: SMALL, large: LARGE },
      rounds: ROUNDS,
      pageSize: PAGE,
      seedSeconds,
      node: process.version,
    };
    if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
    else for (const [k, v] of Object.entries(results)) process.stdout.write(`${k.padEnd(32)} ${typeof v === "object" ? JSON.stringify(v) : String(v)}\n`);
  } finally {
    await azurite.stop();
  }
}
