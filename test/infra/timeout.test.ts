// host.json's functionTimeout against what one invocation may do: the run budget after which a
// catch-up stops beginning windows, one Log Analytics query's worst case, and the rule lease.
// Then the budget itself, through runScheduled -> runRule -> LogAnalyticsSource -> the fake
// query API, with state in Azurite and a clock that each query moves forward.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { LogSource } from "../../src/engine/ports.js";
import { LEASE_RENEW_MS, LEASE_TTL_MS } from "../../src/engine/lease.js";
import { RUN_BUDGET_MS, runScheduled } from "../../src/engine/scheduled.js";
import { stsRefreshTokenModification as sts } from "../../src/rules/sts-refresh-token-modification.js";
import { DELAY, fakeSource, scheduledDeps, useDetectionWorld } from "../support/detection-harness.js";
import { HOUR, at, stsAudit } from "../support/replay-fixtures.js";

const MIN = 60_000;
const host = JSON.parse(readFileSync(new URL("../../host.json", import.meta.url), "utf8")) as { functionTimeout: string };
const [h, m, s] = host.functionTimeout.split(":").map(Number) as [number, number, number];
const functionTimeoutMs = ((h * 60 + m) * 60 + s) * 1000;

describe("the Functions timeout leaves room for a run", () => {
  it("is Flex Consumption's default, 30 minutes", () => {
    expect(host.functionTimeout).toBe("00:30:00");
  });

  it("the window in flight at the budget has at least one Log Analytics query's worst case left", () => {
    // LogAnalyticsSource's defaults (src/sources/log-analytics.ts): 3 attempts of (180 s server
    // timeout + 30 s) each, with 2 s and 4 s of backoff between them.
    const worstQueryMs = 3 * (180 + 30) * 1000 + 2_000 + 4_000;
    expect(worstQueryMs).toBe(636_000);
    expect(functionTimeoutMs - RUN_BUDGET_MS).toBeGreaterThanOrEqual(worstQueryMs);
  });

  it("a live invocation never loses its rule's lease: it renews the lease well within its time to live, however long it runs", () => {
    expect(LEASE_RENEW_MS * 3).toBeLessThanOrEqual(LEASE_TTL_MS);
    expect(LEASE_TTL_MS).toBeLessThan(functionTimeoutMs); // and a crashed one frees the rule long before the next timer
  });
});

describe("the run budget", () => {
  const world = useDetectionWorld();

  const T = at("2026-11-16T10:00:00Z");
  /** A source whose every query takes `ms` on the test's clock. */
  const slow = (source: LogSource, clock: { now: number }, ms: number): LogSource => ({
    rows: async (spec, kql, label) => ((clock.now += ms), source.rows(spec, kql, label)),
    sightings: async (spec, kql, label) => ((clock.now += ms), source.sightings(spec, kql, label)),
    earliest: async (spec, kql, label) => ((clock.now += ms), source.earliest(spec, kql, label)),
  });

  it("a catch-up run stops between windows once the budget has passed; the next invocation resumes, nothing lost or doubled", async () => {
    world.fake.add("AuditLogs", Array.from({ length: 8 }, (_, i) => stsAudit({ time: T + i * HOUR + 30 * MIN, user: `admin${i}@contoso.com`, ip: "203.0.113.9", target: `victim${i}@contoso.com`, id: `audit-${i}` })));
    const clock = { now: T + DELAY };
    await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clock)); // first run: the window 9-10
    // Back after 8 hours down; each window's query takes 6 minutes of the 15-minute budget.
    const source = slow(fakeSource(world.fake), clock, 6 * MIN);
    const windows: number[] = [];
    const took: number[] = [];
    for (let invocation = 0; invocation < 3; invocation++) {
      clock.now = T + 8 * HOUR + DELAY + invocation * HOUR;
      const started = clock.now;
      const outcome = await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock));
      if (outcome.status !== "ok") throw new Error(outcome.reason);
      windows.push(outcome.reports.length);
      took.push((clock.now - started) / MIN);
    }
    // Windows begin at 0, 6 and 12 minutes; at 18 the budget is spent, well below maxWindows (24).
    expect(windows).toEqual([3, 3, 3]);
    expect(took.every((minutes) => minutes < RUN_BUDGET_MS / MIN + 6)).toBe(true);
    expect((await world.stores.ruleState.get(sts.meta.id))?.windowEnd).toBe(T + 9 * HOUR);
    const alerts = await world.stores.incidents.listAlerts();
    expect(alerts.map((a) => a.account).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `admin${i}@contoso.com`).sort());
    expect(new Set(alerts.map((a) => a.id)).size).toBe(alerts.length);
  });

  it("a window is begun even when the budget is already spent, so every invocation makes progress", async () => {
    world.fake.add("AuditLogs", [stsAudit({ time: T + 30 * MIN, user: "admin@contoso.com", ip: "203.0.113.9", target: "victim@contoso.com", id: "audit-slow" })]);
    const clock = { now: T + DELAY };
    await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clock));
    clock.now = T + 3 * HOUR + DELAY;
    const outcome = await runScheduled(sts.meta.id, scheduledDeps(slow(fakeSource(world.fake), clock, RUN_BUDGET_MS + MIN), world.stores, clock));
    expect(outcome.status === "ok" && outcome.reports.length).toBe(1);
    expect(outcome.status === "ok" && outcome.health.windowsBehind).toBe(2);
  });
});
