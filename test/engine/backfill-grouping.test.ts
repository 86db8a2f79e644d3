// Backfill groups as a live run: a simulated tenant detected over 12:00–24:00 and then
// backfilled over 00:00–12:00 (the split) ends with exactly the incidents, as groups of
// alert ids, that one straight 00:00–24:00 run gives, and both are the chronological
// grouping of their alerts. It runs the `tokenwatch detect` and `tokenwatch backfill`
// commands' own functions, on one storage (Azurite) per run.
import { toMs } from "../../src/model/time.js";
import { isCorrelation } from "../../src/model/correlation.js";
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backfill } from "../../src/cli/backfill.js";
import { detect } from "../../src/cli/detect.js";
import { loadConfig } from "../../src/config.js";
import { INCIDENT_LOOKBACK_MS, MAX_ALERTS_PER_INCIDENT, type Alert, type Incident } from "../../src/engine/incidents.js";
import type { Repositories } from "../../src/store/repositories.js";
import { rules } from "../../src/rules/index.js";
import { Rand } from "../../src/sim/prng.js";
import { simulateTenant } from "../../src/sim/simulate.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { TableStore } from "../../src/store/tables.js";
import { HOUR, at, cleanupTempDirs, ndjson, stsAudit, tempDir, type Row } from "../support/replay-fixtures.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const FROM = at("2026-11-01T00:00:00Z");
const MID = FROM + 12 * HOUR;
const TO = FROM + 24 * HOUR;

let azurite: AzuriteTables;
let logs: string;
beforeAll(async () => {
  azurite = await startAzurite();
  const dir = (logs = await tempDir());
  await simulateTenant(dir, { users: 20, days: 1, historyDays: 2, seed: 7, to: new Date(TO).toISOString() });
  await appendFile(join(dir, "AuditLogs.ndjson"), ndjson(campaign()));
}, 120_000);
afterAll(async () => {
  await azurite?.stop();
  await cleanupTempDirs();
});

const MIN = 60_000;
const OPERATORS = 12;

/**
 * A simulated tenant raises a handful of alerts; grouping needs many per account. So 12
 * operators each make bursts of refresh-token changes through the day (STS rule, one alert
 * per change): some 150 alerts that the lookback splits into more than two incidents per
 * operator on average. (Each alert costs storage round trips in each of the three runs: more
 * operators only make the test slower.) Rows before 12:00 arrive within 50 minutes, so a
 * backfill of 00:00–12:00 (which reads until an hour after its range) sees the rows the
 * straight run sees; later rows may arrive up to 9 hours late, so live runs place alerts out
 * of order too.
 */
function campaign(): Row[] {
  const rng = new Rand(20261101);
  const rows: Row[] = [];
  for (let op = 0; op < OPERATORS; op++) {
    for (let burst = 1 + rng.int(3); burst > 0; burst--) {
      let t = FROM + rng.int(24 * 60) * MIN;
      for (let n = 2 + rng.int(10); n > 0 && t < TO; n--, t += (5 + rng.int(115)) * MIN) {
        const late = t < MID ? (1 + rng.int(50)) * MIN : rng.float() < 0.3 ? (60 + rng.int(480)) * MIN : (1 + rng.int(10)) * MIN;
        rows.push(stsAudit({ time: t, user: `op${op}@contoso.com`, target: `user${rng.int(500)}@contoso.com`, received: t + late }));
      }
    }
  }
  return rows;
}

/** One storage: what the commands get from TOKENWATCH_STORAGE_CONNECTION_STRING and TOKENWATCH_TABLE_PREFIX. */
function storage(name: string) {
  const env = { TOKENWATCH_STORAGE_CONNECTION_STRING: azurite.connectionString, TOKENWATCH_TABLE_PREFIX: `bg${process.pid}${name}` };
  return { env, stores: createStores(new TableStore({ connectionString: env.TOKENWATCH_STORAGE_CONNECTION_STRING, tablePrefix: env.TOKENWATCH_TABLE_PREFIX }), incidentPlanner) };
}

/** `tokenwatch detect --logs DIR --from FROM --to TO` (detect reads its storage from the environment). */
async function detectRange(env: Record<string, string>, from: number, to: number) {
  Object.assign(process.env, env);
  await detect({ logs, from, to, log: () => {} });
}

/** `tokenwatch backfill --rule ID --from FROM --to TO --logs DIR`, for every rule. */
async function backfillRange(env: Record<string, string>, from: number, to: number) {
  for (const rule of rules) await backfill({ rule, from, to, logs }, () => {}, loadConfig(env));
}

/** The incidents as sorted groups of alert ids (ids do not matter, membership does). */
/** Each incident's alerts; `rulesOnly` leaves out correlated incidents (they hold other rules' alerts, not their own). */
async function grouping(stores: Repositories, rulesOnly = false): Promise<string[][]> {
  const incidents = (await stores.incidents.listIncidents()).filter((i) => !rulesOnly || !isCorrelation(i));
  return incidents.map((i) => [...i.alertIds].sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** The chronological grouping, written independently of the engine: per rule and account, in event-time order, a new incident at the first alert more than the lookback after the current one's first (or when it is full). */
function chronological(alerts: readonly Alert[]): string[][] {
  const groups: string[][] = [];
  const current = new Map<string, { first: number; ids: string[] }>();
  // Whole milliseconds suffice here: the simulator's times are whole seconds.
  const ms = (a: Alert) => toMs(a.time);
  for (const a of [...alerts].sort((x, y) => ms(x) - ms(y) || x.id.localeCompare(y.id))) {
    const key = `${a.ruleId}|${a.account}`;
    const open = current.get(key);
    if (open && ms(a) - open.first <= INCIDENT_LOOKBACK_MS && open.ids.length < MAX_ALERTS_PER_INCIDENT) open.ids.push(a.id);
    else {
      const next = { first: ms(a), ids: [a.id] };
      current.set(key, next);
      groups.push(next.ids);
    }
  }
  return groups.map((g) => [...g].sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** Every incident holds its alerts' incidentId, and its first/last alert times are its alerts'. */
function expectConsistent(incidents: readonly Incident[], alerts: readonly Alert[]) {
  const byId = new Map(alerts.map((a) => [a.id, a]));
  for (const i of incidents) {
    const times = i.alertIds.map((id) => toMs(byId.get(id)!.time));
    // A rule's incident holds its own alerts; a correlated one holds alerts of its member incidents.
    if (isCorrelation(i)) expect(i.alertIds.every((id) => i.memberIncidentIds!.includes(byId.get(id)!.incidentId)), i.id).toBe(true);
    else expect(i.alertIds.every((id) => byId.get(id)?.incidentId === i.id), i.id).toBe(true);
    expect([toMs(i.firstAlertTime), toMs(i.lastAlertTime)]).toEqual([Math.min(...times), Math.max(...times)]);
  }
  expect(new Set(incidents.filter((i) => !isCorrelation(i)).flatMap((i) => i.alertIds)).size).toBe(alerts.length);
}

describe("backfill grouping on a simulated tenant", () => {
  it("detect 12:00–24:00 then backfill 00:00–12:00 gives the incidents of a straight 00:00–24:00 run", async () => {
    const { env: straightEnv, stores: straight } = storage("straight");
    await detectRange(straightEnv, FROM, TO);

    const { env: splitEnv, stores: split } = storage("split");
    await detectRange(splitEnv, MID, TO);
    await backfillRange(splitEnv, FROM, MID);

    const straightAlerts = await straight.incidents.listAlerts();
    const splitAlerts = await split.incidents.listAlerts();
    expect(splitAlerts.map((a) => a.id).sort()).toEqual(straightAlerts.map((a) => a.id).sort());
    const [s, b, c] = [await grouping(straight), await grouping(split), chronological(straightAlerts)];
    console.log(`${straightAlerts.length} alerts; incidents: straight 00:00–24:00 run ${s.length}, detect 12:00–24:00 + backfill 00:00–12:00 ${b.length}, chronological ${c.length}`);
    expect(b).toEqual(s);
    expect(await grouping(straight, true)).toEqual(c);
    // The campaign still makes the case: the lookback splits the operators' alerts into many incidents.
    expect(c.length).toBeGreaterThan(2 * OPERATORS);
    expectConsistent(await split.incidents.listIncidents(), splitAlerts);
    expectConsistent(await straight.incidents.listIncidents(), straightAlerts);
  }, 600_000);
});
