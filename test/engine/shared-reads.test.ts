// Rules that read the same rows read them once: the timer of the Intune rule, the pivot or the
// forked-session rule runs all three, side by side, and each window's non-interactive sign-ins
// are one query to the (fake) query API, through the real LogsQueryClient, and its interactive
// sign-ins another; each rule still alerts as alone.
import { describe, expect, it } from "vitest";
import { runScheduled } from "../../src/engine/scheduled.js";
import { readGroup } from "../../src/engine/shared-reads.js";
import { rules } from "../../src/rules/index.js";
import { intuneTokenReuse } from "../../src/rules/intune-token-reuse.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";
import { forkedSession } from "../../src/rules/forked-session.js";
import { DELAY, fakeSource, scheduledDeps, useDetectionWorld } from "../support/detection-harness.js";
import { DAY, HOUR, at, interactiveSignIn, nonInteractiveSignIn } from "../support/replay-fixtures.js";

const NI = "AADNonInteractiveUserSignInLogs";
const T = at("2026-11-16T10:00:00Z");
const MIN = 60_000;
const at_ = (hour: number) => ({ now: T + (hour - 10) * HOUR + DELAY });

const world = useDetectionWorld();

/** First-stage reads of one table's hour that ended at `end`: the arrivals of that window. */
const windowReads = (end: number, table: string) => world.fake.requests.filter((r) => r.query?.table === table && r.query.arrived.from === end - HOUR && r.query.arrived.to === end);
const nonInteractiveWindowReads = (end: number) => windowReads(end, NI);
const interactiveWindowReads = (end: number) => windowReads(end, "SigninLogs");

describe("shared reads", () => {
  it("groups the rules that read the same rows: Intune with the pivot and the forked-session rule; the audit rules alone", () => {
    expect(readGroup(intuneTokenReuse, rules)).toEqual([intuneTokenReuse, interactiveToNonInteractivePivot, forkedSession]);
    expect(readGroup(interactiveToNonInteractivePivot, rules)).toEqual([interactiveToNonInteractivePivot, intuneTokenReuse, forkedSession]);
    expect(readGroup(forkedSession, rules)).toEqual([forkedSession, intuneTokenReuse, interactiveToNonInteractivePivot]);
    expect(readGroup(stsRefreshTokenModification, rules)).toEqual([stsRefreshTokenModification]);
  });

  it("reads each window's sign-ins once per table for the three rules, whichever timer fires, and each rule alerts as alone", async () => {
    world.fake.add(NI, [
      nonInteractiveSignIn({ time: T - 20 * DAY, upn: "old@contoso.com", ip: "10.1.1.1", asn: "100", resource: "Microsoft Intune" }),
      // Intune: a user with no baseline reaches Intune (11:10); pivot: a refresh from another country 30 min after a single-factor sign-in.
      nonInteractiveSignIn({ time: T + HOUR + 10 * MIN, upn: "new@contoso.com", ip: "198.51.100.9", asn: "64500", resource: "Microsoft Intune", id: "ni-intune" }),
      nonInteractiveSignIn({ time: T + HOUR + 40 * MIN, upn: "dan@contoso.com", ip: "203.0.113.90", country: "DE", resource: "Office 365 Exchange Online", id: "ni-pivot" }),
    ]);
    world.fake.add("SigninLogs", [interactiveSignIn({ time: T + HOUR + 10 * MIN, upn: "dan@contoso.com", ip: "198.18.1.10", country: "US", id: "si-pivot" })]);
    const source = fakeSource(world.fake);
    const clock = at_(11);
    await runScheduled(intuneTokenReuse.meta.id, scheduledDeps(source, world.stores, clock)); // first run: bootstrap + window 10-11, all three rules
    expect(nonInteractiveWindowReads(T + HOUR)).toHaveLength(1);
    expect(interactiveWindowReads(T + HOUR)).toHaveLength(1);
    // The pivot's own timer finds its window done.
    const pivotTimer = await runScheduled(interactiveToNonInteractivePivot.meta.id, scheduledDeps(source, world.stores, clock));
    expect(pivotTimer.status === "ok" && pivotTimer.reports).toEqual([]);

    Object.assign(clock, at_(12));
    // This hour the pivot's timer fires first: it runs all three.
    const pivot = await runScheduled(interactiveToNonInteractivePivot.meta.id, scheduledDeps(source, world.stores, clock));
    expect(pivot.status === "ok" && pivot.reports.map((r) => r.alerts.map((a) => a.account))).toEqual([["dan@contoso.com"]]);
    expect(nonInteractiveWindowReads(T + 2 * HOUR)).toHaveLength(1);
    expect(interactiveWindowReads(T + 2 * HOUR)).toHaveLength(1);
    const intune = await runScheduled(intuneTokenReuse.meta.id, scheduledDeps(source, world.stores, clock));
    expect(intune.status === "ok" && intune.reports).toEqual([]);
    const alerts = await world.stores.incidents.listAlerts();
    expect(alerts.map((a) => [a.ruleId, a.account]).sort()).toEqual(
      [
        [intuneTokenReuse.meta.id, "new@contoso.com"],
        [interactiveToNonInteractivePivot.meta.id, "dan@contoso.com"],
      ].sort(),
    );
    // The three rules' checkpoints moved, and each records its own health.
    for (const rule of [intuneTokenReuse, interactiveToNonInteractivePivot, forkedSession]) {
      expect((await world.stores.ruleState.get(rule.meta.id))?.windowEnd).toBe(T + 2 * HOUR);
      expect(await world.stores.ruleState.health(rule.meta.id)).toMatchObject({ failing: false, windowsBehind: 0 });
    }
  });

  it("a rule switched off runs alone: the other still reads and alerts", async () => {
    world.fake.add(NI, [nonInteractiveSignIn({ time: T + 10 * MIN, upn: "dan@contoso.com", ip: "203.0.113.90", country: "DE", id: "ni-alone" })]);
    world.fake.add("SigninLogs", [interactiveSignIn({ time: T - 20 * MIN, upn: "dan@contoso.com", ip: "198.18.1.10", country: "US", id: "si-alone" })]);
    const source = fakeSource(world.fake);
    const deps = { ...scheduledDeps(source, world.stores, at_(11)), disabledRules: new Set([intuneTokenReuse.meta.id]) };
    const pivot = await runScheduled(interactiveToNonInteractivePivot.meta.id, deps);
    expect(pivot.status === "ok" && pivot.reports.flatMap((r) => r.alerts.map((a) => a.account))).toEqual(["dan@contoso.com"]);
    expect(await world.stores.ruleState.get(intuneTokenReuse.meta.id)).toBeUndefined();
  });
});
