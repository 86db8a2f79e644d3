// Storage requests of one steady-state hour of the Intune rule's baseline, on a simulated
// tenant against Azurite, counted on the TableStore: reading the candidates' baselines,
// merging the hour's sightings and purging one bucket must stay within 1.5× the floor
// (one 100-entity batch per bucket written, one read per candidate account, the purge's
// own read and batches). A bucket with many candidates is read by one query, below the floor.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allowlistsAt } from "../../src/engine/allowlists.js";
import { LIST_DEFAULTS } from "../../src/model/allowlists.js";
import { fetchInputs } from "../../src/engine/run.js";
import { intuneTokenReuse } from "../../src/rules/intune-token-reuse.js";
import { systemActor } from "../../src/model/actor.js";
import type { QuerySpec } from "../../src/model/query.js";
import type { RuleContext } from "../../src/rules/rule.js";
import { simulateTenant } from "../../src/sim/simulate.js";
import { ReplaySource } from "../../src/sources/replay.js";
import { mergeSightings, type SignInSighting } from "../../src/model/rows.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { BaselineRepository, DENSE_CANDIDATES } from "../../src/store/baselines.js";
import { bucketOf } from "../../src/store/buckets.js";
import { MAX_BATCH, TableStore } from "../../src/store/tables.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const TO = "2026-11-04T00:00:00.000Z";
/** A busy working hour of the detection day. */
const HOUR_END = Date.parse("2026-11-03T15:00:00.000Z");

let azurite: AzuriteTables;
let dir: string;
let source: ReplaySource;
beforeAll(async () => {
  azurite = await startAzurite();
  dir = await mkdtemp(join(tmpdir(), "tw-baseline-requests-"));
  await simulateTenant(dir, { users: 300, days: 1, historyDays: 14, seed: 7, to: TO });
  source = await ReplaySource.open(dir);
}, 120_000);
afterAll(async () => {
  await azurite?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const lists = allowlistsAt(
  Object.entries(LIST_DEFAULTS).flatMap(([list, values]) =>
    values.map((value) => ({ id: value, list: list as "network" | "principals", value, reason: "", expiresAt: null, createdBy: systemActor("test"), createdAt: 0 })),
  ),
  0,
);

/** Batches of at most 100 per bucket: what writing these sightings costs at the least. */
function batchFloor(sightings: Iterable<SignInSighting>): number {
  const perBucket = new Map<string, Set<string>>();
  for (const s of sightings) {
    const keys = perBucket.get(bucketOf(s.account)) ?? new Set<string>();
    perBucket.set(bucketOf(s.account), keys);
    if (s.ip) keys.add(`${s.account}|ip:${s.ip}`);
    if (s.asn) keys.add(`${s.account}|asn:${s.asn}`);
  }
  let batches = 0;
  for (const keys of perBucket.values()) batches += Math.ceil(keys.size / MAX_BATCH);
  return batches;
}

describe("Baselines: storage requests of a simulated hour", () => {
  it("read each candidate's baseline with one request and stay within 1.5× the floor", async () => {
    const store = new TableStore({ connectionString: azurite.connectionString, tablePrefix: "hour" });
    const period = 14 * DAY;
    const start = HOUR_END - HOUR;
    // The steady state before the hour: every earlier non-interactive sign-in, as the hourly updates left it.
    const history: QuerySpec = { table: "AADNonInteractiveUserSignInLogs", arrived: { to: start }, time: { from: start - period, to: start } };
    await new BaselineRepository(store).record((await source.sightings(history)).rows);
    // The hour in a new process (Flex Consumption scales to zero between hourly runs): nothing cached.
    const baselines = new BaselineRepository(store);

    const window = { start, end: HOUR_END };
    const { inputs } = await fetchInputs(intuneTokenReuse, window, source);
    const ctx: RuleContext = { window, eventRange: { from: -Infinity, to: Infinity }, lists, baselines: { established: true, get: () => undefined } };
    const candidates = new Set(intuneTokenReuse.baselineAccounts!(inputs, ctx));
    const sightings = new Map<string, SignInSighting>();
    mergeSightings(sightings, intuneTokenReuse.baseline!.observe(inputs));
    expect(candidates.size).toBeGreaterThan(20);

    const before = store.requests;
    const known = await baselines.load(candidates, HOUR_END - period);
    const reads = store.requests - before;
    await baselines.record(sightings.values());
    const purged = await baselines.purge(Math.floor(HOUR_END / HOUR), HOUR_END - period);
    const requests = store.requests - before;

    // One request per candidate (a prefix range of its bucket) or per dense bucket (the whole
    // partition, one page at this size), and the process's one check for first-layout partitions.
    const perBucket = new Map<string, number>();
    for (const account of candidates) perBucket.set(bucketOf(account), (perBucket.get(bucketOf(account)) ?? 0) + 1);
    const queries = [...perBucket.values()].reduce((sum, n) => sum + (n >= DENSE_CANDIDATES ? 1 : n), 0);
    expect(reads).toBe(queries + 1);
    expect(known.size).toBeGreaterThan(0);
    const floor = candidates.size + batchFloor(sightings.values()) + 1 + Math.ceil(purged / MAX_BATCH);
    console.log(JSON.stringify({ candidates: candidates.size, sightings: sightings.size, purged, reads, requests, floor, ratio: requests / floor }));
    expect(requests / floor).toBeLessThanOrEqual(1.5);
  }, 120_000);
});
