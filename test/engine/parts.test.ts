// Per-event rules read a large window in parts: the timer (runScheduled) over the real
// LogsQueryClient against the local query API, state in Azurite. A rule whose last window
// read more rows than one invocation should hold (TOKENWATCH_SHARD_ROWS) reads and evaluates
// its next window in parts by its partsBy column's hash, one after another in the same
// invocation; its alerts are those of one read of the window, each once.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { runScheduled } from "../../src/engine/scheduled.js";
import { shardCount, type Sharding } from "../../src/engine/shards.js";
import { inShard, shardKql } from "../../src/model/shard.js";
import { interactiveToNonInteractivePivot as pivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import { defineRule, type Rule } from "../../src/rules/rule.js";
import { solorigateStsRefreshToken as solorigate } from "../../src/rules/solorigate-sts-refresh-token.js";
import { stsRefreshTokenModification as sts } from "../../src/rules/sts-refresh-token-modification.js";
import type { Repositories } from "../../src/store/repositories.js";
import { ShardRepository } from "../../src/store/shards.js";
import { TableStore } from "../../src/store/tables.js";
import { fakeSource, freshStores, scheduledDeps, useDetectionWorld, DELAY } from "../support/detection-harness.js";
import { at, HOUR, iso, stsAudit } from "../support/replay-fixtures.js";
import { raw } from "../support/rows.js";

const world = useDetectionWorld();

const T = at("2026-11-16T10:00:00Z");
const MIN = 60_000;
const EVENTS = 24;
/** 24 or 48 rows against a bound of 5: eight or sixteen parts. */
const ROWS_PER_PART = 5;

/** Hour 10-11: STS refresh token changes by 24 admins, one record each. */
const stsRows = () => Array.from({ length: EVENTS }, (_, i) => stsAudit({ time: T + (i + 1) * MIN, user: `admin${i}@contoso.com`, id: `Directory_${i}` }));

/**
 * Hour 10-11: STS changes by 24 applications, each twice with the same seed tuple (the
 * seed's `distinct` keeps one alert per tuple, at its first event), logged minutes apart.
 */
function cloudAppRows() {
  return Array.from({ length: EVENTS }, (_, i) =>
    [0, 30].map((later) =>
      raw("CloudAppEvents", {
        TimeGenerated: iso(T + (i + 1 + later) * MIN),
        Timestamp: iso(T + (i + 1) * MIN),
        AccountObjectId: `app-${i}`,
        AccountDisplayName: `App ${i}`,
        "RawEventData.UserId": `App ${i}`,
        "RawEventData.ModifiedProperties.0.NewValue": JSON.stringify([iso(T + i * MIN)]),
        ReportId: `report-${i}-${later}`,
      }),
    ),
  ).flat();
}

/** The rule's timer for window 10-11; with `rowsPerPart`, its last window (9-10) read `lastRows`. */
async function runHour(rule: Rule, stores: Repositories, options: { rowsPerPart?: number; lastRows?: number } = {}) {
  const deps = scheduledDeps(fakeSource(world.fake), stores, { now: T + HOUR + DELAY });
  if (options.rowsPerPart === undefined) return { outcome: await runScheduled(rule.meta.id, deps), shards: null };
  const shards = new ShardRepository(new TableStore({ connectionString: world.azurite.connectionString, tablePrefix: `p${randomBytes(4).toString("hex")}` }));
  if (options.lastRows !== undefined) await shards.recordLoad(rule.meta.id, T, options.lastRows);
  const sharding: Sharding = { queue: { send: async () => Promise.reject(new Error("a per-event rule sends no shard messages")) }, shards, rowsPerShard: options.rowsPerPart };
  return { outcome: await runScheduled(rule.meta.id, { ...deps, sharding }), shards };
}

const alertsOf = async (stores: Repositories, rule: Rule) =>
  (await stores.incidents.listAlerts())
    .filter((a) => a.ruleId === rule.meta.id)
    .map((a) => ({ id: a.id, account: a.account, time: a.time }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));

describe("a per-event rule's large window is read and evaluated in parts", () => {
  for (const [rule, table, rows] of [
    [sts, "AuditLogs", stsRows],
    [solorigate, "CloudAppEvents", cloudAppRows],
  ] as const) {
    it(`${rule.meta.name}: in parts by ${rule.partsBy}, one query each, with the alerts of one read, each once`, async () => {
      world.fake.add(table, rows());
      const whole = freshStores(world.azurite);
      await runHour(rule, whole);
      const expected = await alertsOf(whole, rule);
      expect(expected).toHaveLength(EVENTS);
      const queriesBefore = world.fake.requests.length;

      const parted = world.stores;
      const { outcome, shards } = await runHour(rule, parted, { rowsPerPart: ROWS_PER_PART, lastRows: rows().length });
      expect(outcome).toMatchObject({ status: "ok", reports: [{ rowsFetched: rows().length }] });
      const queries = world.fake.requests.slice(queriesBefore).map((r) => r.text ?? "");
      const parts = shardCount(rows().length, ROWS_PER_PART);
      expect(parts).toBeGreaterThanOrEqual(8);
      expect(queries).toHaveLength(parts);
      for (let index = 0; index < parts; index++) expect(queries[index]).toContain(shardKql({ count: parts, index, column: rule.partsBy }));
      // The parts are disjoint and each holds its share: the split is real, not one part with everything.
      const perPart = Array.from({ length: parts }, (_, index) => rows().filter((r) => inShard(r, { count: parts, index, column: rule.partsBy })).length);
      expect(Math.max(...perPart)).toBeLessThan(rows().length / 2);
      expect(await alertsOf(parted, rule)).toEqual(expected);
      // The window's rows are what the next one is expected to read.
      expect(await shards!.lastLoad(rule.meta.id)).toEqual({ windowEnd: T + HOUR, rows: rows().length });
    });
  }

  it("a window under the bound is read in one query, as before", async () => {
    world.fake.add("AuditLogs", stsRows());
    const { outcome } = await runHour(sts, world.stores, { rowsPerPart: ROWS_PER_PART, lastRows: ROWS_PER_PART });
    expect(outcome).toMatchObject({ status: "ok", reports: [{ rowsFetched: EVENTS }] });
    expect(world.fake.requests).toHaveLength(1);
    expect(world.fake.requests[0]!.text).not.toContain("hash_xxhash64");
  });

  it("only a rule that decides each event on its own rows can be read in parts", () => {
    expect(() => defineRule({ ...pivot, partsBy: "Id" })).toThrow(/decides each event on its own rows/);
  });
});
