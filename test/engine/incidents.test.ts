import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { fromMs, toMs } from "../../src/model/time.js";
import { INCIDENT_LOOKBACK_MS, MAX_ALERTS_PER_INCIDENT, groupAlerts, type Alert, type Grouping, type Incident } from "../../src/engine/incidents.js";

const H = 3_600_000;
const M = 60_000;
const T0 = Date.parse("2026-11-01T08:00:00.000Z");
const NOW = Date.parse("2026-11-02T00:00:00.000Z");
const RULE_A = "4696e072-aca8-4a4f-bf05-89fddc5ac3c9";
const RULE_B = "634dfbd6-0a42-40da-854e-2161cf137f14";

type NewAlert = Omit<Alert, "incidentId">;

let n = 0;
function alert(time: number, over: Partial<NewAlert> = {}): NewAlert {
  const id = over.id ?? `alert-${String(++n).padStart(5, "0")}`;
  return {
    id,
    ruleId: RULE_A,
    ruleName: "Rule A",
    severity: "Low",
    time: fromMs(time),
    account: "alice@contoso.com",
    ip: "203.0.113.1",
    title: "t",
    details: {},
    entities: [],
    ...over,
  };
}

/** Every incident's alerts, as sorted times, for readable assertions. */
function membership(incidents: readonly Incident[], alerts: readonly NewAlert[]): number[][] {
  const timeOf = new Map(alerts.map((a) => [a.id, toMs(a.time)]));
  return incidents
    .map((i) => i.alertIds.map((id) => timeOf.get(id)!).sort((a, b) => a - b))
    .sort((a, b) => a[0]! - b[0]!);
}

/** Every alert of an incident lies within the lookback of its first alert; first/last match its alerts. */
function expectWellFormed(incidents: readonly Incident[], alerts: readonly NewAlert[]) {
  const timeOf = new Map(alerts.map((a) => [a.id, toMs(a.time)]));
  for (const i of incidents) {
    const times = i.alertIds.map((id) => timeOf.get(id)).filter((t): t is number => t !== undefined);
    expect(i.alertIds.length).toBeLessThanOrEqual(MAX_ALERTS_PER_INCIDENT);
    expect(new Set(i.alertIds).size).toBe(i.alertIds.length);
    if (times.length === i.alertIds.length) {
      expect(toMs(i.firstAlertTime)).toBe(Math.min(...times));
      expect(toMs(i.lastAlertTime)).toBe(Math.max(...times));
    }
    for (const t of times) expect(t - toMs(i.firstAlertTime)).toBeLessThanOrEqual(INCIDENT_LOOKBACK_MS);
  }
}

describe("groupAlerts", () => {
  it("alerts of the same rule and account within 5h of the first alert join one incident", () => {
    const alerts = [alert(T0), alert(T0 + 2 * H), alert(T0 + 5 * H)];
    const { incidents, alerts: placed } = groupAlerts([], alerts, NOW);
    expect(incidents).toHaveLength(1);
    const [incident] = incidents;
    expect(incident!.alertIds).toEqual(alerts.map((a) => a.id));
    expect(incident!.firstAlertTime).toBe(fromMs(T0));
    expect(incident!.lastAlertTime).toBe(fromMs(T0 + 5 * H));
    expect(incident!.status).toBe("New");
    expect(incident!.ruleId).toBe(RULE_A);
    expect(incident!.account).toBe("alice@contoso.com");
    expect(incident!.createdAt).toBe(NOW);
    expect(placed.map((a) => a.incidentId)).toEqual([incident!.id, incident!.id, incident!.id]);
  });

  it("an alert beyond 5h of the first alert starts a new incident (measured from the first, not the last)", () => {
    // 0h, 4h, 5h01m: the third is within 5h of the second but not of the first.
    const alerts = [alert(T0), alert(T0 + 4 * H), alert(T0 + 5 * H + M)];
    const { incidents } = groupAlerts([], alerts, NOW);
    expect(membership(incidents, alerts)).toEqual([[T0, T0 + 4 * H], [T0 + 5 * H + M]]);
    expectWellFormed(incidents, alerts);
  });

  it("joins an existing open incident from an earlier run, and starts a new one past its lookback", () => {
    const first = groupAlerts([], [alert(T0)], NOW).incidents;
    const later = [alert(T0 + 3 * H), alert(T0 + 6 * H)];
    const { incidents, alerts: placed } = groupAlerts(first, later, NOW + H);
    expect(incidents).toHaveLength(2);
    const joined = incidents.find((i) => i.id === first[0]!.id)!;
    expect(joined.alertIds).toHaveLength(2);
    expect(joined.lastAlertTime).toBe(fromMs(T0 + 3 * H));
    expect(joined.updatedAt).toBe(NOW + H);
    expect(placed[0]!.incidentId).toBe(first[0]!.id);
    expect(placed[1]!.incidentId).not.toBe(first[0]!.id);
    // The input incidents are not mutated.
    expect(first[0]!.alertIds).toHaveLength(1);
  });

  it("different rules or different accounts never share an incident", () => {
    const alerts = [
      alert(T0),
      alert(T0 + M, { ruleId: RULE_B, ruleName: "Rule B", severity: "Medium" }),
      alert(T0 + 2 * M, { account: "bob@contoso.com" }),
      alert(T0 + 3 * M),
    ];
    const { incidents } = groupAlerts([], alerts, NOW);
    expect(incidents).toHaveLength(3);
    const key = (i: Incident) => `${i.ruleId}|${i.account}`;
    expect(incidents.map(key).sort()).toEqual([`${RULE_A}|alice@contoso.com`, `${RULE_A}|bob@contoso.com`, `${RULE_B}|alice@contoso.com`].sort());
    expect(incidents.find((i) => i.ruleId === RULE_B)!.severity).toBe("Medium");
    expect(incidents.find((i) => i.ruleId === RULE_A && i.account === "alice@contoso.com")!.alertIds).toHaveLength(2);
  });

  it("an existing incident of another rule or account is not joined either", () => {
    const other = groupAlerts([], [alert(T0, { ruleId: RULE_B }), alert(T0, { account: "bob@contoso.com" })], NOW).incidents;
    const { incidents } = groupAlerts(other, [alert(T0 + H)], NOW);
    expect(incidents).toHaveLength(1);
    expect(other.map((i) => i.id)).not.toContain(incidents[0]!.id);
  });

  it("a closed incident is never reopened: a new one starts, the closed one is left unchanged", () => {
    const [open] = groupAlerts([], [alert(T0)], NOW).incidents;
    const closed: Incident = { ...open!, status: "Closed", classification: "TruePositive" };
    const next = alert(T0 + H);
    const { incidents, alerts: placed } = groupAlerts([closed], [next], NOW + H);
    expect(incidents).toHaveLength(1);
    expect(incidents[0]!.id).not.toBe(closed.id);
    expect(incidents[0]!.status).toBe("New");
    expect(incidents[0]!.alertIds).toEqual([next.id]);
    expect(placed[0]!.incidentId).toBe(incidents[0]!.id);
  });

  it("caps an incident at 150 alerts: the 151st starts a new incident", () => {
    const alerts = Array.from({ length: 320 }, (_, i) => alert(T0 + i * 1000));
    const { incidents, alerts: placed } = groupAlerts([], alerts, NOW);
    expect(incidents.map((i) => i.alertIds.length).sort((a, b) => b - a)).toEqual([150, 150, 20]);
    expect(placed).toHaveLength(320);
    expect(new Set(incidents.flatMap((i) => i.alertIds)).size).toBe(320);
    expectWellFormed(incidents, alerts);
  });

  it("a full incident from an earlier run is not joined", () => {
    const full = groupAlerts([], Array.from({ length: 150 }, (_, i) => alert(T0 + i * 1000)), NOW).incidents;
    expect(full).toHaveLength(1);
    const { incidents } = groupAlerts(full, [alert(T0 + H)], NOW);
    expect(incidents).toHaveLength(1);
    expect(incidents[0]!.id).not.toBe(full[0]!.id);
  });

  it("an alert already in an incident is not placed twice (same batch, or already in an existing incident)", () => {
    const a = alert(T0);
    const first = groupAlerts([], [a, a], NOW);
    expect(first.alerts).toHaveLength(1);
    expect(first.incidents[0]!.alertIds).toEqual([a.id]);
    const again = groupAlerts(first.incidents, [a, alert(T0 + H)], NOW);
    expect(again.alerts.map((x) => x.id)).not.toContain(a.id);
    expect(again.incidents).toHaveLength(1);
    expect(again.incidents[0]!.alertIds.filter((id) => id === a.id)).toHaveLength(1);
    // Not even when its incident is closed.
    const closed = first.incidents.map((i) => ({ ...i, status: "Closed" as const }));
    const third = groupAlerts(closed, [a], NOW);
    expect(third).toEqual({ incidents: [], removed: [], alerts: [], moved: [] });
  });

  it("a late alert earlier than the first joins when within the lookback, and becomes the first", () => {
    const { incidents: existing } = groupAlerts([], [alert(T0 + 3 * H), alert(T0 + 4 * H)], NOW);
    const late = alert(T0 + H);
    const { incidents } = groupAlerts(existing, [late], NOW + 5 * H);
    expect(incidents).toHaveLength(1);
    expect(incidents[0]!.id).toBe(existing[0]!.id);
    expect(incidents[0]!.firstAlertTime).toBe(fromMs(T0 + H));
    expect(incidents[0]!.lastAlertTime).toBe(fromMs(T0 + 4 * H));
    expect(incidents[0]!.alertIds).toContain(late.id);
  });

  it("a late alert more than 5h before the first starts its own incident", () => {
    const { incidents: existing } = groupAlerts([], [alert(T0 + 6 * H)], NOW);
    const late = alert(T0);
    const { incidents } = groupAlerts(existing, [late], NOW);
    expect(incidents).toHaveLength(1);
    expect(incidents[0]!.id).not.toBe(existing[0]!.id);
    expect(incidents[0]!.alertIds).toEqual([late.id]);
  });

  it("a late earlier alert never stretches an incident past 5h from its first alert", () => {
    // The incident spans 10:00..14:00; an alert at 07:00 is within 5h of 10:00 but joining
    // would put 14:00 seven hours after the incident's first alert.
    const existingAlerts = [alert(T0 + 2 * H), alert(T0 + 6 * H)];
    const { incidents: existing } = groupAlerts([], existingAlerts, NOW);
    expect(existing).toHaveLength(1);
    const late = alert(T0 - H);
    const { incidents } = groupAlerts(existing, [late], NOW);
    expectWellFormed([...existing.filter((e) => !incidents.some((i) => i.id === e.id)), ...incidents], [...existingAlerts, late]);
  });

  it("groups the same regardless of input order (replay vs live run)", () => {
    const alerts = [0, 1, 2, 5.5, 6, 11, 11.5].map((h) => alert(T0 + h * H));
    const sorted = membership(groupAlerts([], alerts, NOW).incidents, alerts);
    const shuffled = membership(groupAlerts([], [...alerts].reverse(), NOW).incidents, alerts);
    expect(shuffled).toEqual(sorted);
    expect(sorted).toEqual([
      [T0, T0 + H, T0 + 2 * H],
      [T0 + 5.5 * H, T0 + 6 * H],
      [T0 + 11 * H, T0 + 11.5 * H],
    ]);
  });

  it("incident ids are deterministic: the same alerts give the same incident ids", () => {
    const alerts = [alert(T0), alert(T0 + 6 * H)];
    expect(groupAlerts([], alerts, NOW).incidents.map((i) => i.id)).toEqual(groupAlerts([], alerts, NOW + 1).incidents.map((i) => i.id));
  });
});

/** A store in memory: what IncidentRepository.place keeps, applied from each Grouping. */
class Placed {
  incidents = new Map<string, Incident>();
  alerts = new Map<string, Alert>();
  commented = new Set<string>();

  place(alerts: readonly NewAlert[], now = NOW): Grouping {
    const grouping = groupAlerts([...this.incidents.values()], alerts, now, { stored: [...this.alerts.values()], commented: this.commented });
    for (const i of grouping.removed) this.incidents.delete(i.id);
    for (const i of grouping.incidents) this.incidents.set(i.id, i);
    for (const a of [...grouping.alerts, ...grouping.moved]) this.alerts.set(a.id, a);
    return grouping;
  }

  /** Incidents as sorted alert times; every stored alert's incidentId names the incident holding it. */
  membership(): number[][] {
    for (const i of this.incidents.values()) for (const id of i.alertIds) expect(this.alerts.get(id)!.incidentId).toBe(i.id);
    const all = [...this.alerts.values()];
    expectWellFormed([...this.incidents.values()], all);
    return membership([...this.incidents.values()], all);
  }

  incidentOf(a: NewAlert): Incident {
    return this.incidents.get(this.alerts.get(a.id)!.incidentId)!;
  }
}

/** The chronological grouping of alert times (one rule and account): what a straight run gives. */
function chronological(times: readonly number[]): number[][] {
  const groups: number[][] = [];
  for (const t of [...times].sort((a, b) => a - b)) {
    const open = groups.at(-1);
    if (open && t - open[0]! <= INCIDENT_LOOKBACK_MS && open.length < MAX_ALERTS_PER_INCIDENT) open.push(t);
    else groups.push([t]);
  }
  return groups;
}

describe("groupAlerts: earlier alerts arriving later (late rows, backfill)", () => {
  it("an alert within the lookback before an untriaged incident's first alert joins it and becomes its first; the id stays", () => {
    const store = new Placed();
    const [a3, a4] = [alert(T0 + 3 * H), alert(T0 + 7 * H)];
    store.place([a3, a4]);
    const [before] = [...store.incidents.values()];
    const early = alert(T0 + 2.5 * H);
    const grouping = store.place([early], NOW + H);
    expect(store.membership()).toEqual([[T0 + 2.5 * H, T0 + 3 * H, T0 + 7 * H]]);
    expect(grouping.incidents.map((i) => i.id)).toEqual([before!.id]);
    expect(grouping.incidents[0]!.firstAlertTime).toBe(fromMs(T0 + 2.5 * H));
    expect(grouping.incidents[0]!.updatedAt).toBe(NOW + H);
    expect(grouping.incidents[0]!.createdAt).toBe(NOW);
    expect(grouping.alerts.map((a) => [a.id, a.incidentId])).toEqual([[early.id, before!.id]]);
    expect(grouping).toMatchObject({ removed: [], moved: [] });
  });

  it("re-splits an untriaged incident when an earlier alert moves its first: the later alerts go where a chronological run put them", () => {
    // 10:00 and 14:30 form one incident. 09:00 arrives late: a chronological run groups
    // 09:00, 10:00 | 14:30 (5h30m after 09:00).
    const store = new Placed();
    const [a10, a1430] = [alert(T0 + 2 * H), alert(T0 + 6.5 * H)];
    store.place([a10, a1430]);
    const [before] = [...store.incidents.values()];
    const a9 = alert(T0 + H);
    const grouping = store.place([a9], NOW + H);
    expect(store.membership()).toEqual([[T0 + H, T0 + 2 * H], [T0 + 6.5 * H]]);
    // The incident keeps its id with its founding alert (10:00); 14:30 starts one named after it.
    expect(store.incidentOf(a10).id).toBe(before!.id);
    expect(store.incidentOf(a9).id).toBe(before!.id);
    const split = store.incidentOf(a1430);
    expect(split.id).not.toBe(before!.id);
    expect(split).toMatchObject({ status: "New", createdAt: NOW + H, firstAlertTime: fromMs(T0 + 6.5 * H), alertIds: [a1430.id] });
    expect(grouping.alerts.map((a) => a.id)).toEqual([a9.id]);
    expect(grouping.moved.map((a) => [a.id, a.incidentId])).toEqual([[a1430.id, split.id]]);
    expect(grouping.removed).toEqual([]);
    // The grouping a straight run over the same alerts gives (its ids follow its own founding alerts).
    const straight = new Placed();
    straight.place([a10, a1430, a9]);
    expect(straight.membership()).toEqual(store.membership());
  });

  it("merges when two founding alerts end up in one group: the earlier founding alert keeps its id, the other incident is removed", () => {
    // 11:00 founds A, 08:00 arrives late and joins it (A = 08:00, 11:00); 13:30 founds B
    // (5h30m after 08:00). Then 05:00 arrives: chronologically 05:00, 08:00 | 11:00, 13:30.
    const store = new Placed();
    const [a11, a8, a1330, a5] = [alert(T0 + 3 * H), alert(T0), alert(T0 + 5.5 * H), alert(T0 - 3 * H)];
    store.place([a11]);
    store.place([a8]);
    store.place([a1330]);
    expect(store.membership()).toEqual([[T0, T0 + 3 * H], [T0 + 5.5 * H]]);
    const [idA, idB] = [store.incidentOf(a11).id, store.incidentOf(a1330).id];
    const grouping = store.place([a5], NOW + H);
    expect(store.membership()).toEqual([[T0 - 3 * H, T0], [T0 + 3 * H, T0 + 5.5 * H]]);
    expect(store.incidentOf(a11).id).toBe(idA);
    expect(store.incidentOf(a1330).id).toBe(idA);
    expect(grouping.removed.map((i) => i.id)).toEqual([idB]);
    expect([idA, idB]).not.toContain(store.incidentOf(a5).id);
    expect(grouping.moved.map((a) => a.id).sort()).toEqual([a8.id, a1330.id].sort());
  });

  it("a triaged incident is never re-split: an earlier alert joins only while all its alerts stay within the lookback of the first", () => {
    for (const triage of [
      (i: Incident) => ({ ...i, status: "Active" as const }),
      (i: Incident) => ({ ...i, owner: "bob@contoso.com" }),
      (i: Incident) => ({ ...i, classification: "TruePositive" }),
      (i: Incident, store: Placed) => (store.commented.add(i.id), i),
    ]) {
      const store = new Placed();
      const [a10, a1430] = [alert(T0 + 2 * H), alert(T0 + 6.5 * H)];
      store.place([a10, a1430]);
      const [before] = [...store.incidents.values()];
      store.incidents.set(before!.id, triage(before!, store));
      // 09:00 would stretch it to 5h30m: a new incident; 09:45 keeps it within 4h45m: joins.
      const [a9, a945] = [alert(T0 + H), alert(T0 + 1.75 * H)];
      const grouping = store.place([a9, a945], NOW + H);
      expect(store.membership()).toEqual([[T0 + H], [T0 + 1.75 * H, T0 + 2 * H, T0 + 6.5 * H]]);
      expect(store.incidentOf(a945).id).toBe(before!.id);
      expect(store.incidentOf(a9).id).not.toBe(before!.id);
      expect(grouping).toMatchObject({ removed: [], moved: [] });
    }
  });

  it("a closed incident takes no earlier alert either", () => {
    const store = new Placed();
    const a10 = alert(T0 + 2 * H);
    store.place([a10]);
    const [before] = [...store.incidents.values()];
    store.incidents.set(before!.id, { ...before!, status: "Closed" });
    const a9 = alert(T0 + H);
    store.place([a9]);
    expect(store.incidentOf(a9).id).not.toBe(before!.id);
    expect(store.incidents.get(before!.id)!.alertIds).toEqual([a10.id]);
  });

  it("whatever the arrival order and batches, untriaged incidents are the chronological grouping", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 48 * 12 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
        (slots, batchSizes, keys) => {
          // Times on a 5-minute grid so that exactly-5h gaps occur.
          const alerts = slots.map((s) => alert(T0 + s * 5 * M));
          const order = alerts.map((a, i) => ({ a, k: keys[i]! })).sort((x, y) => x.k - y.k).map((x) => x.a);
          const store = new Placed();
          for (let i = 0, b = 0; i < order.length; i += batchSizes[b++ % batchSizes.length]!) store.place(order.slice(i, i + batchSizes[b % batchSizes.length]!));
          expect(store.membership()).toEqual(chronological(alerts.map((a) => toMs(a.time))));
        },
      ),
      { numRuns: 300 },
    );
  });
});

