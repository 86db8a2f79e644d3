// The hourly timer path end to end: runScheduled -> runRule -> LogAnalyticsSource -> the
// real LogsQueryClient over HTTPS -> the fake query API, with state in Azurite. Every
// scenario checks that no event is lost and none alerts twice.
import { describe, expect, it } from "vitest";
import { runScheduled } from "../../src/engine/scheduled.js";
import { intuneTokenReuse } from "../../src/rules/intune-token-reuse.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import type { Rule } from "../../src/rules/rule.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";
import { DELAY, fakeSource, scheduledDeps, useDetectionWorld } from "../support/detection-harness.js";
import { DAY, HOUR, at, interactiveSignIn, nonInteractiveSignIn, stsAudit } from "../support/replay-fixtures.js";

const world = useDetectionWorld();

const T = at("2026-11-16T10:00:00Z");
const MIN = 60_000;
/** The invocation at `hour` o'clock (past the ingestion delay). */
const at_ = (hour: number) => ({ now: T + (hour - 10) * HOUR + DELAY });

async function alertsOf(rule: Rule) {
  return (await world.stores.incidents.listAlerts()).filter((a) => a.ruleId === rule.meta.id);
}
async function checkpoint(rule: Rule) {
  return (await world.stores.ruleState.get(rule.meta.id))?.windowEnd;
}
async function expectNoDuplicates(rule: Rule) {
  const alerts = await alertsOf(rule);
  expect(new Set(alerts.map((a) => a.id)).size).toBe(alerts.length);
  const incidents = await world.stores.incidents.listIncidents();
  const ids = incidents.flatMap((i) => i.alertIds);
  expect(new Set(ids).size).toBe(ids.length);
}
const sts = stsRefreshTokenModification;
const stsEvent = (minutesAfterT: number, n: number, received?: number) =>
  stsAudit({ time: T + minutesAfterT * MIN, user: `admin${n}@contoso.com`, ip: "203.0.113.9", target: `victim${n}@contoso.com`, id: `audit-${n}`, received });

describe("scheduled detection through the Log Analytics query API", () => {
  it("a late event (arrived after its hour ran) is evaluated exactly once, in the window it arrived in", async () => {
    world.fake.add("AuditLogs", [stsEvent(20, 1), stsEvent(50, 2, T + 80 * MIN)]); // #2 happened 10:50, arrived 11:20
    const source = fakeSource(world.fake);
    const clock = at_(10);
    await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock)); // first run: the window 9-10
    Object.assign(clock, at_(11));
    const first = await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock));
    expect(first.status === "ok" && first.reports.flatMap((r) => r.alerts.map((a) => a.account))).toEqual(["admin1@contoso.com"]);
    Object.assign(clock, at_(12));
    const second = await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock));
    expect(second.status === "ok" && second.reports.flatMap((r) => r.alerts.map((a) => a.account))).toEqual(["admin2@contoso.com"]);
    Object.assign(clock, at_(13));
    await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock));
    expect((await alertsOf(sts)).map((a) => a.account).sort()).toEqual(["admin1@contoso.com", "admin2@contoso.com"]);
    await expectNoDuplicates(sts);
  });

  it("after an outage of several hours, catches up window by window, a bounded number per invocation", async () => {
    world.fake.add("AuditLogs", Array.from({ length: 8 }, (_, i) => stsEvent(i * 60 + 30, i))); // one per hour, 10:30 .. 17:30
    const source = fakeSource(world.fake);
    const clock = at_(10);
    await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock, 3));
    expect(await checkpoint(sts)).toBe(T);
    Object.assign(clock, at_(18)); // down from 11:05 to 18:05
    const behind: number[] = [];
    const windows: number[] = [];
    for (let i = 0; i < 3; i++) {
      const outcome = await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock, 3));
      if (outcome.status !== "ok") throw new Error(outcome.reason);
      windows.push(outcome.reports.length);
      behind.push(outcome.health.windowsBehind);
    }
    expect(windows).toEqual([3, 3, 2]);
    expect(behind).toEqual([5, 2, 0]);
    expect(await checkpoint(sts)).toBe(T + 8 * HOUR);
    expect((await alertsOf(sts)).map((a) => a.account).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `admin${i}@contoso.com`).sort());
    await expectNoDuplicates(sts);
    const health = await world.stores.ruleState.health(sts.meta.id);
    expect(health).toMatchObject({ lastSuccessfulWindowEnd: T + 8 * HOUR, windowsBehind: 0, windowsProcessed: 2, failing: false, lastError: null });
  });

  it("a crash after the alerts were stored but before the checkpoint moved duplicates nothing on the retry", async () => {
    const rule = intuneTokenReuse;
    world.fake.add("AADNonInteractiveUserSignInLogs", [
      // history well before the first window: the baseline is established
      nonInteractiveSignIn({ time: T - 20 * DAY, upn: "old@contoso.com", ip: "10.1.1.1", asn: "100", resource: "Microsoft Intune" }),
      ...Array.from({ length: 4 }, (_, i) =>
        nonInteractiveSignIn({ time: T + HOUR + (10 + i) * MIN, upn: `user${i}@contoso.com`, ip: `198.51.100.${i + 1}`, asn: "64500", resource: "Microsoft Intune", id: `ni-${i}` }),
      ),
    ]);
    const source = fakeSource(world.fake);
    const clock = at_(11);
    await runScheduled(rule.meta.id, scheduledDeps(source, world.stores, clock)); // first run: bootstrap + window 10-11
    Object.assign(clock, at_(12));
    await runScheduled(rule.meta.id, scheduledDeps(source, world.stores, clock)); // window 11-12: four alerts stored
    expect((await alertsOf(rule)).length).toBe(4);
    // The process died after the alert writes, before its checkpoint write: as if that write never happened.
    const state = await world.stores.ruleState.get(rule.meta.id);
    await world.stores.ruleState.put(rule.meta.id, { ...state!, windowEnd: T + HOUR });
    const retried = await runScheduled(rule.meta.id, scheduledDeps(source, world.stores, clock));
    // The retry finds the same four alerts; they are stored already, so it places none.
    expect(retried.status === "ok" && retried.reports.map((r) => r.alerts.length)).toEqual([0]);
    expect(await checkpoint(rule)).toBe(T + 2 * HOUR);
    expect((await alertsOf(rule)).length).toBe(4);
    await expectNoDuplicates(rule);
  });

  it("a window whose query fails stays un-checkpointed, records the error, and succeeds on the next run", async () => {
    const rule = intuneTokenReuse;
    world.fake.add("AADNonInteractiveUserSignInLogs", [
      nonInteractiveSignIn({ time: T - 20 * DAY, upn: "old@contoso.com", ip: "10.1.1.1", asn: "100", resource: "Microsoft Intune" }),
      nonInteractiveSignIn({ time: T + HOUR + 10 * MIN, upn: "late@contoso.com", ip: "198.51.100.9", asn: "64500", resource: "Microsoft Intune", id: "ni-f" }),
    ]);
    const source = fakeSource(world.fake);
    const clock = at_(11);
    await runScheduled(rule.meta.id, scheduledDeps(source, world.stores, clock));
    Object.assign(clock, at_(12));
    world.fake.inject({ kind: "status", status: 500 }, { times: 100 });
    await expect(runScheduled(rule.meta.id, scheduledDeps(source, world.stores, clock))).rejects.toThrow(/HTTP 500/);
    expect(await checkpoint(rule)).toBe(T + HOUR);
    const failed = await world.stores.ruleState.health(rule.meta.id);
    expect(failed).toMatchObject({ failing: true, lastSuccessfulWindowEnd: T + HOUR, windowsBehind: 1 });
    expect(failed!.lastError).toMatch(/HTTP 500/);
    world.fake.clearFaults();
    const healed = await runScheduled(rule.meta.id, scheduledDeps(source, world.stores, clock));
    expect(healed.status === "ok" && healed.reports.map((r) => r.alerts.length)).toEqual([1]);
    expect(await checkpoint(rule)).toBe(T + 2 * HOUR);
    expect(await world.stores.ruleState.health(rule.meta.id)).toMatchObject({ failing: false, windowsBehind: 0 });
  });

  it("overlapping lookbacks (the pivot's 3 h period over 1 h windows) alert once for a pair that spans windows", async () => {
    const rule = interactiveToNonInteractivePivot;
    world.fake.add("SigninLogs", [interactiveSignIn({ time: T + 40 * MIN, upn: "pivot@contoso.com", ip: "192.0.2.10", country: "US", id: "si-pivot" })]);
    world.fake.add("AADNonInteractiveUserSignInLogs", [
      nonInteractiveSignIn({ time: T + 70 * MIN, upn: "pivot@contoso.com", ip: "198.51.100.77", country: "RU", id: "ni-pivot-1" }),
      nonInteractiveSignIn({ time: T + 130 * MIN, upn: "pivot@contoso.com", ip: "198.51.100.78", country: "RU", id: "ni-pivot-2" }),
    ]);
    const source = fakeSource(world.fake);
    const clock = at_(10);
    for (const hour of [10, 11, 12, 13, 14]) {
      Object.assign(clock, at_(hour));
      await runScheduled(rule.meta.id, scheduledDeps(source, world.stores, clock));
    }
    // The same hours once more, as a re-run of overlapping windows would see them.
    const state = await world.stores.ruleState.get(rule.meta.id);
    await world.stores.ruleState.put(rule.meta.id, { ...state!, windowEnd: T });
    await runScheduled(rule.meta.id, scheduledDeps(source, world.stores, clock));
    const alerts = await alertsOf(rule);
    expect(alerts.map((a) => a.ip).sort()).toEqual(["198.51.100.77", "198.51.100.78"]);
    await expectNoDuplicates(rule);
  });

  it("a window over the row limit is split; every event alerts exactly once", async () => {
    const rule = intuneTokenReuse;
    const burst = Array.from({ length: 30 }, (_, i) =>
      nonInteractiveSignIn({ time: T + HOUR + (i % 3) * MIN, upn: `burst${i}@contoso.com`, ip: `203.0.113.${i + 1}`, asn: "64501", resource: "Microsoft Intune", id: `burst-${i}` }),
    );
    world.fake.add("AADNonInteractiveUserSignInLogs", [nonInteractiveSignIn({ time: T - 20 * DAY, upn: "old@contoso.com", ip: "10.1.1.1", resource: "Microsoft Intune" }), ...burst]);
    world.fake.rowLimit = 7; // the service truncates silently
    const source = fakeSource(world.fake, { rowLimit: 7 });
    const clock = at_(11);
    await runScheduled(rule.meta.id, scheduledDeps(source, world.stores, clock));
    Object.assign(clock, at_(12));
    const outcome = await runScheduled(rule.meta.id, scheduledDeps(source, world.stores, clock));
    expect(outcome.status === "ok" && outcome.reports[0]!.rowsFetched).toBe(30);
    // Health counts every row read from the logs: the 30 sign-ins, read once for detection and baseline.
    expect(outcome.status === "ok" && outcome.health).toMatchObject({ rowsRead: 30, windowsProcessed: 1 });
    expect(world.fake.requests.some((r) => r.query?.partition)).toBe(true);
    expect((await alertsOf(rule)).map((a) => a.account).sort()).toEqual(burst.map((r) => String(r.UserPrincipalName)).sort());
    await expectNoDuplicates(rule);
  });

  it("429 with Retry-After and 500s during a run are retried; the run completes with every alert", async () => {
    world.fake.add("AuditLogs", [stsEvent(70, 1), stsEvent(80, 2)]);
    const source = fakeSource(world.fake);
    const clock = at_(11);
    world.fake.inject({ kind: "status", status: 429, retryAfterSeconds: 1 });
    await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock));
    Object.assign(clock, at_(12));
    world.fake.inject({ kind: "status", status: 500 }, { times: 2 });
    const outcome = await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock));
    expect(outcome.status === "ok" && outcome.reports.flatMap((r) => r.alerts).length).toBe(2);
    expect(world.fake.requests.map((r) => r.status)).toEqual([429, 200, 500, 500, 200]);
    await expectNoDuplicates(sts);
  });

  it("a partial failure fails the window: checkpoint unchanged, error recorded; the next run succeeds with nothing lost", async () => {
    world.fake.add("AuditLogs", [stsEvent(70, 1), stsEvent(75, 2), stsEvent(130, 3)]);
    const source = fakeSource(world.fake);
    const clock = at_(11);
    await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock));
    Object.assign(clock, at_(13));
    // The second of the two due windows (12-13) gets a partial answer; the timer logs through telemetry.
    world.fake.inject({ kind: "partial", reason: "other" }, { match: (q) => q.arrived.from === T + 2 * HOUR });
    const lines: string[] = [];
    const logger = { info: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };
    await expect(runScheduled(sts.meta.id, { ...scheduledDeps(source, world.stores, clock), logger })).rejects.toThrow(/partial failure/);
    expect(await checkpoint(sts)).toBe(T + 2 * HOUR);
    expect((await alertsOf(sts)).map((a) => a.account).sort()).toEqual(["admin1@contoso.com", "admin2@contoso.com"]);
    expect(await world.stores.ruleState.health(sts.meta.id)).toMatchObject({ failing: true, windowsBehind: 1, windowsProcessed: 1, rowsRead: 2 });
    expect(lines.map((l) => JSON.parse(l) as { outcome: string }).map((r) => r.outcome)).toEqual(["ok", "error", "error"]);
    const outcome = await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock));
    expect(outcome.status === "ok" && outcome.reports.length).toBe(1);
    expect((await alertsOf(sts)).map((a) => a.account).sort()).toEqual(["admin1@contoso.com", "admin2@contoso.com", "admin3@contoso.com"]);
    await expectNoDuplicates(sts);
  });
});
