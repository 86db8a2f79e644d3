// Backfill through the real SDK and the fake query API, state in Azurite: re-evaluating a
// range never moves the live checkpoint and never raises an alert twice; the CLI command
// drives the same engine call.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { backfill, parseBackfillArgs } from "../../src/cli/backfill.js";
import { InputError, UsageError } from "../../src/cli/usage.js";
import { loadConfig } from "../../src/config.js";
import { backfillRule } from "../../src/engine/backfill.js";
import { memoryBackfillStores } from "../../src/store/memory.js";
import type { Repositories } from "../../src/store/repositories.js";
import { runScheduled } from "../../src/engine/scheduled.js";
import { stsRefreshTokenModification as sts } from "../../src/rules/sts-refresh-token-modification.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { TableStore } from "../../src/store/tables.js";
import { FakeLogAnalytics } from "../support/fake-log-analytics.js";
import { DELAY, fakeSource, scheduledDeps } from "../support/detection-harness.js";
import { HOUR, at, cleanupTempDirs, ndjson, stsAudit, tempDir, writeLogs } from "../support/replay-fixtures.js";
import { incidentPlanner } from "../../src/engine/planner.js";

let azurite: AzuriteTables;
let fake: FakeLogAnalytics;
let store: TableStore;
let stores: Repositories;
let prefix = 0;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
  await cleanupTempDirs();
});
beforeEach(async () => {
  fake = await FakeLogAnalytics.start();
  store = new TableStore({ connectionString: azurite.connectionString, tablePrefix: `bf${process.pid}n${++prefix}` });
  stores = createStores(store, incidentPlanner);
});
afterEach(async () => fake.close());

const T = at("2026-11-19T10:00:00Z");
const event = (minutes: number, n: number) => stsAudit({ time: T + minutes * 60_000, user: `op${n}@contoso.com`, id: `bf-${n}` });

describe("backfill", () => {
  it("over windows the timer already ran adds nothing and leaves the checkpoint; over earlier hours it alerts once", async () => {
    fake.add("AuditLogs", [event(-90, 0), event(-100, 1), event(30, 2), event(90, 3), event(150, 4)]);
    const source = fakeSource(fake);
    const clock = { now: T + DELAY };
    for (const hour of [0, 1, 2, 3]) {
      clock.now = T + hour * HOUR + DELAY;
      await runScheduled(sts.meta.id, scheduledDeps(source, stores, clock));
    }
    const live = await stores.ruleState.get(sts.meta.id);
    expect(live?.windowEnd).toBe(T + 3 * HOUR);
    expect((await stores.incidents.listAlerts()).map((a) => a.account).sort()).toEqual(["op2@contoso.com", "op3@contoso.com", "op4@contoso.com"]);

    const deps = { source, stores, now: () => clock.now };
    const again = await backfillRule(sts, deps, memoryBackfillStores(), { from: T, to: T + 3 * HOUR });
    expect(again.flatMap((r) => r.alerts)).toEqual([]);
    // Hours before the rule's first window: new alerts, once.
    const earlier = await backfillRule(sts, deps, memoryBackfillStores(), { from: T - 2 * HOUR, to: T });
    expect(earlier.flatMap((r) => r.alerts.map((a) => a.account)).sort()).toEqual(["op0@contoso.com", "op1@contoso.com"]);
    expect((await backfillRule(sts, deps, memoryBackfillStores(), { from: T - 2 * HOUR, to: T })).flatMap((r) => r.alerts)).toEqual([]);

    const after = await stores.ruleState.get(sts.meta.id);
    expect(after?.windowEnd).toBe(live?.windowEnd);
    expect(after?.lease).toBeUndefined();
    const alerts = await stores.incidents.listAlerts();
    expect(alerts).toHaveLength(5);
    expect(new Set(alerts.map((a) => a.id)).size).toBe(5);
  });
});

describe("tokenwatch backfill", () => {
  it("validates its arguments", async () => {
    await expect(parseBackfillArgs({ from: "2026-11-01T00:00:00Z", to: "2026-11-02T00:00:00Z" })).rejects.toThrow(/--rule is required/);
    await expect(parseBackfillArgs({ rule: "nope", from: "2026-11-01T00:00:00Z", to: "2026-11-02T00:00:00Z" })).rejects.toThrow(/no such rule/);
    await expect(parseBackfillArgs({ rule: sts.meta.id, from: "2026-11-02T00:00:00Z", to: "2026-11-01T00:00:00Z" })).rejects.toBeInstanceOf(UsageError);
    await expect(parseBackfillArgs({ rule: sts.meta.id, from: "yesterday", to: "2026-11-01T00:00:00Z" })).rejects.toThrow(/not an ISO 8601 time/);
    await expect(parseBackfillArgs({ rule: sts.meta.id, from: "2026-10-01T00:00:00Z", to: "2026-11-01T00:00:00Z" })).rejects.toThrow(/more than 7 days/);
  });

  it("re-evaluates a range from replay files into the configured storage, idempotently", async () => {
    const logs = await writeLogs({ AuditLogs: [event(30, 7), event(80, 8)] });
    const config = loadConfig({ TOKENWATCH_STORAGE_CONNECTION_STRING: azurite.connectionString, TOKENWATCH_TABLE_PREFIX: `bfcli${process.pid}n${++prefix}` });
    const args = await parseBackfillArgs({ rule: sts.meta.id, from: new Date(T).toISOString(), to: new Date(T + 2 * HOUR).toISOString(), logs });
    const lines: string[] = [];
    const first = await backfill(args, (l) => lines.push(l), config);
    expect(first.newAlerts.map((a) => a.account).sort()).toEqual(["op7@contoso.com", "op8@contoso.com"]);
    expect(first.checkpoint).toBeNull(); // the rule never ran live: backfill created no checkpoint
    const second = await backfill(args, (l) => lines.push(l), config);
    expect(second.newAlerts).toEqual([]);
    expect(second.windows).toBe(first.windows);
    expect(lines.at(-1)).toMatch(/0 new alerts/);
  });

  it("refuses a logs folder with no table rows (exit 2 in the CLI) unless --allow-empty", async () => {
    const logs = await tempDir();
    await writeFile(join(logs, "auditlogs.json"), ndjson([event(30, 7)]));
    const config = loadConfig({ TOKENWATCH_STORAGE_CONNECTION_STRING: azurite.connectionString, TOKENWATCH_TABLE_PREFIX: `bfcli${process.pid}n${++prefix}` });
    const range = { rule: sts.meta.id, from: new Date(T).toISOString(), to: new Date(T + 2 * HOUR).toISOString(), logs };
    const lines: string[] = [];
    const refused = backfill(await parseBackfillArgs(range), (l) => lines.push(l), config);
    await expect(refused).rejects.toBeInstanceOf(InputError);
    await expect(refused).rejects.toThrow(/no rows read .*did you mean AuditLogs\.ndjson\?/);
    expect(lines.join("\n")).toContain("auditlogs.json not read");
    const allowed = await backfill(await parseBackfillArgs({ ...range, "allow-empty": true }), () => undefined, config);
    expect(allowed.newAlerts).toEqual([]);
  });
});
