// Placing earlier alerts later, through the real repository on Azurite: untriaged incidents
// are regrouped (alert rows follow, each change is announced in the outbox, a merged-away
// incident is deleted), triaged ones (a comment is enough) keep their alerts, also when the
// analyst's change lands between a placement's read and its write.
import { fromMs } from "../../src/model/time.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OUTBOX, outboxEventFromEntity, type OutboxEntity } from "../../src/store/outbox.js";
import type { Alert } from "../../src/engine/incidents.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { IncidentRepository } from "../../src/store/incidents.js";
import { prefixRange } from "../../src/store/keys.js";
import { TableStore } from "../../src/store/tables.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const H = 3_600_000;
const T0 = Date.parse("2026-11-01T08:00:00.000Z");
const NOW = Date.parse("2026-11-02T00:00:00.000Z");
const RULE = "4696e072-aca8-4a4f-bf05-89fddc5ac3c9";

let azurite: AzuriteTables;
let prefix = 0;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => azurite?.stop());

const fresh = () => new TableStore({ connectionString: azurite.connectionString, tablePrefix: `inc${process.pid}n${++prefix}` });

let n = 0;
const alert = (time: number): Omit<Alert, "incidentId"> => ({
  id: `alert-${String(++n).padStart(4, "0")}`,
  ruleId: RULE,
  ruleName: "Rule",
  severity: "Medium",
  time: fromMs(time),
  account: "op@contoso.com",
  ip: null,
  title: "t",
  details: {},
  entities: [],
});

async function outbox(store: TableStore) {
  const range = prefixRange(OUTBOX);
  const rows = await store.list<OutboxEntity>("Incidents", `RowKey ge '${range.ge}' and RowKey lt '${range.lt}'`);
  return rows.map(outboxEventFromEntity).map((e) => ({ type: e.type, incident: e.incident.id, alerts: [...e.alertIds].sort(), count: e.incident.alertIds.length }));
}

/** Incident id of each alert, from the alert rows; and every incident's alerts agree with them. */
async function placement(repo: IncidentRepository): Promise<Map<string, string>> {
  const alerts = await repo.listAlerts();
  const incidents = await repo.listIncidents();
  const of = new Map(alerts.map((a) => [a.id, a.incidentId]));
  expect(incidents.flatMap((i) => i.alertIds.map((id) => [id, i.id])).sort()).toEqual([...of].sort());
  return of;
}

describe("IncidentRepository.place: earlier alerts placed later", () => {
  it("re-splits an untriaged incident: alert rows move, the changes are announced", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const [a10, a1430, a9] = [alert(T0 + 2 * H), alert(T0 + 6.5 * H), alert(T0 + H)];
    const first = await repo.place([a10, a1430], NOW);
    const id = first.incidents[0]!.id;
    const before = await outbox(store);
    const second = await repo.place([a9], NOW + H);
    expect(second.alerts.map((a) => a.id)).toEqual([a9.id]);
    const of = await placement(repo);
    expect([of.get(a9.id), of.get(a10.id)]).toEqual([id, id]);
    const split = of.get(a1430.id)!;
    expect(split).not.toBe(id);
    const events = (await outbox(store)).filter((e) => !before.some((b) => JSON.stringify(b) === JSON.stringify(e)));
    expect(events.sort((x, y) => x.type.localeCompare(y.type))).toEqual([
      { type: "incident.alertAdded", incident: id, alerts: [a9.id], count: 2 },
      { type: "incident.created", incident: split, alerts: [a1430.id], count: 1 },
    ]);
  });

  it("deletes an incident merged into another and announces it with no alerts", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const [a11, a8, a1330, a5] = [alert(T0 + 3 * H), alert(T0), alert(T0 + 5.5 * H), alert(T0 - 3 * H)];
    for (const a of [a11, a8, a1330]) await repo.place([a], NOW);
    const [idA, idB] = [(await placement(repo)).get(a11.id)!, (await placement(repo)).get(a1330.id)!];
    expect(idA).not.toBe(idB);
    await repo.place([a5], NOW + H);
    const of = await placement(repo);
    expect([of.get(a11.id), of.get(a1330.id)]).toEqual([idA, idA]);
    expect(of.get(a8.id)).toBe(of.get(a5.id));
    expect(await repo.getIncident(idB)).toBeUndefined();
    expect((await outbox(store)).filter((e) => e.incident === idB && e.type === "incident.updated")).toEqual([
      { type: "incident.updated", incident: idB, alerts: [], count: 0 },
    ]);
  });

  it("a comment triages: the incident is not re-split, the earlier alert starts its own", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const [a10, a1430, a9] = [alert(T0 + 2 * H), alert(T0 + 6.5 * H), alert(T0 + H)];
    const [incident] = (await repo.place([a10, a1430], NOW)).incidents;
    const stored = (await repo.getIncident(incident!.id))!;
    expect(await repo.updateIncident(stored, stored.etag!, { comment: "looking" }, "analyst@contoso.com", NOW)).toMatchObject({ ok: true });
    await repo.place([a9], NOW + H);
    const of = await placement(repo);
    expect([of.get(a10.id), of.get(a1430.id)]).toEqual([incident!.id, incident!.id]);
    expect(of.get(a9.id)).not.toBe(incident!.id);
  });

  it("an analyst's change between a placement's read and its write makes the placement group again", async () => {
    // The merge case above, with the incident to be merged away triaged by an analyst right
    // after the placement read it untriaged. A batch delete takes no ETag, so only the
    // placement row (which the analyst's change rewrites) can stop it.
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const [a11, a8, a1330, a5] = [alert(T0 + 3 * H), alert(T0), alert(T0 + 5.5 * H), alert(T0 - 3 * H)];
    for (const a of [a11, a8, a1330]) await repo.place([a], NOW);
    const idB = (await placement(repo)).get(a1330.id)!;
    const racing = Object.create(store) as TableStore;
    let raced = false;
    racing.list = async (...args: Parameters<TableStore["list"]>) => {
      const rows = await store.list(...args);
      if (!raced) {
        raced = true;
        const stored = (await repo.getIncident(idB))!;
        expect(await repo.updateIncident(stored, stored.etag!, { owner: "bob@contoso.com" }, "bob@contoso.com", NOW)).toMatchObject({ ok: true });
      }
      return rows as never;
    };
    await new IncidentRepository(racing, incidentPlanner).place([a5], NOW + H);
    expect(raced).toBe(true);
    const of = await placement(repo);
    expect((await repo.getIncident(idB))).toMatchObject({ owner: "bob@contoso.com", alertIds: [a1330.id] });
    expect(of.get(a1330.id)).toBe(idB);
    expect(of.get(a5.id)).toBe(of.get(a8.id));
  });
});
