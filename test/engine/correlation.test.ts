// Account correlation, pure: which alerts of one account make one correlated incident.
import { describe, expect, it } from "vitest";
import { correlate } from "../../src/engine/correlation.js";
import { CORRELATION_RULE_ID, DEFAULT_CORRELATION, type CorrelationSettings } from "../../src/model/correlation.js";
import type { Alert, Incident } from "../../src/engine/incidents.js";
import { toDateTime } from "../../src/model/time.js";

const PIVOT = "d9e5f7a8-b3c4-6d0e-1f2a-3b4c5d6e7f8a";
const INTUNE = "5a6f1c3e-2a1b-4c9e-9f01-11a2b3c4d508";
const NOW = Date.parse("2026-11-03T00:00:00Z");

let n = 0;
/** One alert of the account alice@contoso.com: the rule, the time, and what a case changes. */
function alert(ruleId: string, time: string, change: Partial<Alert> = {}): Alert {
  n++;
  return {
    id: `alert${n}`.padEnd(32, "0"),
    ruleId,
    ruleName: ruleId === PIVOT ? "Interactive to Non-Interactive Token Theft Pivot" : "Intune - Possible refresh token / PRT reuse accessing Intune resource",
    severity: "High",
    time: toDateTime(time)!,
    account: "alice@contoso.com",
    ip: "203.0.113.7",
    title: "t",
    details: {},
    entities: [],
    links: [],
    incidentId: `incident-${ruleId.slice(0, 4)}-${time.slice(0, 10)}`,
    ...change,
  };
}

const run = (alerts: Alert[], existing: Incident[] = [], settings: CorrelationSettings = DEFAULT_CORRELATION) => correlate(alerts, existing, settings, NOW);

describe("account correlation", () => {
  it("two rules within 24 h: one correlated High incident linking both incidents", () => {
    const a = alert(PIVOT, "2026-11-01T08:00:00Z");
    const b = alert(INTUNE, "2026-11-02T07:00:00Z");
    const [c, ...more] = run([b, a]);
    expect(more).toEqual([]);
    expect(c).toMatchObject({ ruleId: CORRELATION_RULE_ID, severity: "High", status: "New", account: "alice@contoso.com", alertIds: [a.id, b.id], memberIncidentIds: [a.incidentId, b.incidentId] });
    expect(c!.firstAlertTime).toBe(a.time);
    expect(c!.lastAlertTime).toBe(b.time);
    expect(c!.title).toContain("2 rules");
  });

  it("two rules more than 24 h apart: none", () => {
    expect(run([alert(PIVOT, "2026-11-01T08:00:00Z"), alert(INTUNE, "2026-11-02T08:00:00.0000001Z")])).toEqual([]);
  });

  it("the window is a setting", () => {
    const alerts = [alert(PIVOT, "2026-11-01T08:00:00Z"), alert(INTUNE, "2026-11-01T10:00:00Z")];
    expect(run(alerts, [], { ...DEFAULT_CORRELATION, windowMs: 3_600_000 })).toEqual([]);
    expect(run(alerts, [], { ...DEFAULT_CORRELATION, windowMs: 2 * 3_600_000 })).toHaveLength(1);
  });

  it("the same rule twice: none", () => {
    expect(run([alert(PIVOT, "2026-11-01T08:00:00Z"), alert(PIVOT, "2026-11-01T09:00:00Z", { incidentId: "other" })])).toEqual([]);
  });

  it("a SessionId shared by two rules' alerts days apart: correlated", () => {
    const a = alert(PIVOT, "2026-11-01T08:00:00Z", { links: ["SessionId:s-1", "UniqueTokenIdentifier:u-1"] });
    const b = alert(INTUNE, "2026-11-05T08:00:00Z", { links: ["SessionId:s-1"] });
    expect(run([a, b])).toMatchObject([{ alertIds: [a.id, b.id] }]);
  });

  it("a shared UniqueTokenIdentifier correlates; different sessions do not; nor one beyond the lookback", () => {
    const a = alert(PIVOT, "2026-11-01T08:00:00Z", { links: ["UniqueTokenIdentifier:u-1", "SessionId:s-1"] });
    expect(run([a, alert(INTUNE, "2026-11-04T08:00:00Z", { links: ["UniqueTokenIdentifier:u-1"] })])).toHaveLength(1);
    expect(run([a, alert(INTUNE, "2026-11-04T08:00:00Z", { links: ["SessionId:s-2"] })])).toEqual([]);
    expect(run([a, alert(INTUNE, "2026-11-16T08:00:00Z", { links: ["SessionId:s-1"] })])).toEqual([]);
  });

  it("run again over the same alerts: nothing changes, so nothing is written or announced", () => {
    const alerts = [alert(PIVOT, "2026-11-01T08:00:00Z"), alert(INTUNE, "2026-11-01T09:00:00Z")];
    const [c] = run(alerts);
    expect(run(alerts, [c!])).toEqual([]);
  });

  it("a later alert of a third rule extends the open correlated incident, keeping its id", () => {
    const alerts = [alert(PIVOT, "2026-11-01T08:00:00Z"), alert(INTUNE, "2026-11-01T09:00:00Z")];
    const [c] = run(alerts);
    const later = alert("4696e072-aca8-4a4f-bf05-89fddc5ac3c9", "2026-11-01T20:00:00Z", { ruleName: "Interactive STS refresh token modifications" });
    const [d, ...more] = run([...alerts, later], [c!]);
    expect(more).toEqual([]);
    expect(d).toMatchObject({ id: c!.id, alertIds: [...c!.alertIds, later.id], memberIncidentIds: [...c!.memberIncidentIds!, later.incidentId], updatedAt: NOW });
  });

  it("an earlier alert found by a backfill joins the existing correlated incident rather than founding another", () => {
    const pivot = alert(PIVOT, "2026-11-01T08:00:00Z");
    const intune = alert(INTUNE, "2026-11-01T09:00:00Z");
    const [c] = run([pivot, intune]);
    const earlier = alert(INTUNE, "2026-11-01T01:00:00Z", { incidentId: "incident-earlier" });
    const [d] = run([earlier, pivot, intune], [c!]);
    expect(d!.id).toBe(c!.id);
    expect(d!.firstAlertTime).toBe(earlier.time);
  });

  it("a closed correlated incident is not reopened: new evidence founds another", () => {
    const alerts = [alert(PIVOT, "2026-11-01T08:00:00Z"), alert(INTUNE, "2026-11-01T09:00:00Z")];
    const [c] = run(alerts);
    const closed = { ...c!, status: "Closed" as const };
    expect(run(alerts, [closed])).toEqual([]);
    const later = alert(PIVOT, "2026-11-01T12:00:00Z", { incidentId: "incident-later" });
    const [d] = run([...alerts, later], [closed]);
    expect(d!.id).not.toBe(c!.id);
    expect(d).toMatchObject({ status: "New", alertIds: [later.id] });
    expect(d!.title).toContain("2 rules");
  });

  it("a member incident merged away by a regrouping leaves the links; the incident its alert moved to joins", () => {
    const pivot = alert(PIVOT, "2026-11-01T08:00:00Z");
    const intune = alert(INTUNE, "2026-11-01T09:00:00Z");
    const [c] = run([pivot, intune]);
    const moved = { ...intune, incidentId: "incident-merged-into" };
    const [d] = correlate([pivot, moved], [c!], DEFAULT_CORRELATION, NOW, new Set([intune.incidentId]));
    expect(d).toMatchObject({ id: c!.id, alertIds: c!.alertIds, memberIncidentIds: [pivot.incidentId, "incident-merged-into"] });
  });

  it("the same evidence has the same id, whichever run finds it", () => {
    const alerts = [alert(PIVOT, "2026-11-01T08:00:00Z"), alert(INTUNE, "2026-11-01T09:00:00Z")];
    expect(run([...alerts].reverse())[0]!.id).toBe(run(alerts)[0]!.id);
  });
});
