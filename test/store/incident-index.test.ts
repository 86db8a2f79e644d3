// The incident index on Azurite: list and accounts pages always say what a scan of the
// Incidents table says, under concurrent placements and regrouping, analyst changes,
// retention, and a crash between the index write and the incident write; pages cross day
// partitions; new ids are point reads and bare-digest ids are still found.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticIncidents } from "../../src/cli/bench-incidents.js";
import type { Alert, Incident } from "../../src/engine/incidents.js";
import { accountOfIncidentId, isIncidentId, legacyIncidentId } from "../../src/model/incident-id.js";
import { fromMs } from "../../src/model/time.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { STALE_AFTER_MS, accountView, tallyOf } from "../../src/store/incident-index.js";
import { IncidentRepository } from "../../src/store/incidents.js";
import type { IncidentQuery } from "../../src/model/incident.js";
import { TableStore } from "../../src/store/tables.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const H = 3_600_000;
const T0 = Date.parse("2026-11-01T08:00:00.000Z");
const NOW = Date.parse("2026-11-02T00:00:00.000Z");
const STS = { id: "4696e072-aca8-4a4f-bf05-89fddc5ac3c9", name: "STS", severity: "Low" } as const;
const PIVOT = { id: "d9e5f7a8-b3c4-6d0e-1f2a-3b4c5d6e7f8a", name: "Pivot", severity: "High" } as const;
const analyst = { name: "ana@contoso.com", id: "00000000-0000-0000-0000-00000000000a", tenantId: "t" };

let azurite: AzuriteTables;
let prefix = 0;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => azurite?.stop());

const fresh = () => new TableStore({ connectionString: azurite.connectionString, tablePrefix: `idx${process.pid}n${++prefix}` });

let n = 0;
const alert = (rule: { id: string; name: string; severity: "Low" | "High" }, account: string, time: number, ip: string | null = null): Omit<Alert, "incidentId"> => ({
  id: `alert-${String(++n).padStart(5, "0")}`,
  ruleId: rule.id,
  ruleName: rule.name,
  severity: rule.severity,
  time: fromMs(time),
  account,
  ip,
  title: "t",
  details: {},
  entities: [],
});

const newestFirst = (a: Incident, b: Incident) => (a.lastAlertTime > b.lastAlertTime ? -1 : a.lastAlertTime < b.lastAlertTime ? 1 : a.id < b.id ? -1 : 1);
const state = (i: Incident) => ({ id: i.id, status: i.status, alertIds: [...i.alertIds].sort(), first: i.firstAlertTime, last: i.lastAlertTime, etag: i.etag });

/** Every page of a list, `limit` at a time. */
async function allPages(repo: IncidentRepository, q: IncidentQuery, limit: number): Promise<Incident[]> {
  const out: Incident[] = [];
  for (let after: { t: bigint; id: string } | undefined; ; ) {
    const page = await repo.incidentPage(q, limit, after);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    out.push(...page.items.map((i) => i.incident));
    if (!page.more) return out;
    const last = page.items.at(-1)!.incident;
    after = { t: last.lastAlertTime, id: last.id };
  }
}

async function allAccounts(repo: IncidentRepository, limit: number) {
  const out = [];
  for (let after: string | undefined; ; ) {
    const page = await repo.accountPage(limit, after);
    out.push(...page.items);
    if (page.next === null) return out;
    after = page.next;
  }
}

/** What the lists must say: a scan of the Incidents table, ordered as the views order. */
async function expectListsMatchScan(repo: IncidentRepository, limit = 2) {
  const scan = (await repo.listIncidents()).sort(newestFirst);
  expect((await allPages(repo, {}, limit)).map(state)).toEqual(scan.map(state));
  for (const status of ["New", "Active", "Closed"] as const)
    expect((await allPages(repo, { status: [status] }, limit)).map(state)).toEqual(scan.filter((i) => i.status === status).map(state));
  for (const severity of ["Informational", "Low", "Medium", "High"] as const)
    expect((await allPages(repo, { severity: [severity] }, limit)).map((i) => i.id)).toEqual(scan.filter((i) => i.severity === severity).map((i) => i.id));
  const byAccount = new Map<string, Incident[]>();
  for (const i of scan) byAccount.set(i.account, [...(byAccount.get(i.account) ?? []), i]);
  const expected = [...byAccount].map(([account, list]) => accountView(tallyOf(account, list)!));
  const accounts = await allAccounts(repo, limit);
  expect(accounts.map((a) => a.account).sort()).toEqual(expected.map((a) => a.account).sort());
  for (const a of accounts) expect(a).toEqual(expected.find((e) => e.account === a.account));
  return scan;
}

/** The index rows, counted by whether they are pending. */
async function indexRows(store: TableStore) {
  const rows = await store.list<{ pending?: boolean }>("IncidentIndex", "PartitionKey ne 'meta'");
  return { pending: rows.filter((r) => r.pending !== false).length, confirmed: rows.filter((r) => r.pending === false).length };
}

describe("incident index", () => {
  it("lists say what a scan says under concurrent placements, regrouping and analyst changes", async () => {
    const store = fresh();
    let clock = Date.now();
    const [one, two] = [new IncidentRepository(store, incidentPlanner, () => clock), new IncidentRepository(store, incidentPlanner, () => clock)];
    const accounts = ["a@contoso.com", "b@contoso.com", "c@contoso.com"];
    const late = accounts.flatMap((acc) => [alert(STS, acc, T0 + 2 * H, "198.51.100.1"), alert(STS, acc, T0 + 6.5 * H, "198.51.100.2")]);
    await one.place(late, NOW);
    await expectListsMatchScan(one);
    // Two writers at once, each with alerts that regroup the same untriaged incidents (earlier
    // alerts re-split them), and a second rule for one account.
    const early = accounts.map((acc) => alert(STS, acc, T0 + H, "198.51.100.3"));
    const earlier = accounts.map((acc) => alert(STS, acc, T0 - 3 * H, "198.51.100.4"));
    const pivot = [alert(PIVOT, "a@contoso.com", T0 + 3 * H, "203.0.113.9")];
    await Promise.all([one.place([...early, ...pivot], NOW + H), two.place([...earlier, ...pivot], NOW + H)]);
    const scan = await expectListsMatchScan(two);
    expect(scan.length).toBeGreaterThan(accounts.length);
    // Status changes move incidents between lists and change the open counts.
    const target = (await one.getIncident(scan[0]!.id))!;
    expect(await one.updateIncident(target, target.etag!, { status: "Closed", classification: "TruePositive" }, analyst, NOW + 2 * H)).toMatchObject({ ok: true });
    await expectListsMatchScan(one, 3);
    // Each list item carries the IPs of its alerts, in order of first alert.
    const listed = (await one.incidentPage({ account: "b@contoso.com" }, 50)).items;
    const indexed = (await one.incidentPage({}, 50)).items.filter((i) => i.incident.account === "b@contoso.com");
    expect(indexed.map((i) => i.ips)).toEqual(listed.map((i) => i.ips));
    for (const { incident, ips } of indexed) {
      const alerts = (await one.alertsOf(incident)).filter((a) => a.ip !== null);
      expect(ips).toEqual([...new Set(alerts.map((a) => a.ip))]);
    }
    // Rows a losing writer marked stay pending (checked on read) until old enough to repair;
    // then nothing is pending and a page is one query.
    clock = Date.now() + STALE_AFTER_MS + 60_000;
    await expectListsMatchScan(one);
    expect((await indexRows(store)).pending).toBe(0);
    const before = store.requests;
    await one.incidentPage({}, 50);
    expect(store.requests - before).toBe(1);
  });

  it("a crash between the index write and the incident write never shows a wrong list", async () => {
    const store = fresh();
    let clock = Date.now();
    const repo = new IncidentRepository(store, incidentPlanner, () => clock);
    await repo.place([alert(STS, "d@contoso.com", T0, "198.51.100.1")], NOW);
    const [before] = await expectListsMatchScan(repo);
    // The process dies after the index rows of the new state are written, before its commit.
    const crashing = Object.create(store) as TableStore;
    crashing.submitGuarded = async () => {
      throw new Error("killed");
    };
    const crashed = new IncidentRepository(crashing, incidentPlanner, () => clock);
    // (One account per placement: place() fails at the first account that fails, while others finish.)
    await expect(crashed.place([alert(STS, "d@contoso.com", T0 + H)], NOW + H)).rejects.toThrow("killed");
    await expect(crashed.place([alert(PIVOT, "e@contoso.com", T0)], NOW + H)).rejects.toThrow("killed");
    expect((await indexRows(store)).pending).toBeGreaterThan(0);
    expect((await expectListsMatchScan(repo)).map(state)).toEqual([state(before!)]);
    // Later, the leftovers are deleted by the reader that meets them.
    clock += STALE_AFTER_MS + 60_000;
    await expectListsMatchScan(repo);
    // And confirms those that match (the incident's rows the crashed change had marked).
    expect(await indexRows(store)).toEqual({ pending: 0, confirmed: 4 });
    // It dies again, this time right after the commit: the rows stay pending, and match.
    const late = Object.create(store) as TableStore;
    late.submitGuarded = async (...args: Parameters<TableStore["submitGuarded"]>) => {
      await store.submitGuarded(...args);
      throw new Error("killed after commit");
    };
    const lateRepo = new IncidentRepository(late, incidentPlanner, () => clock);
    await expect(lateRepo.place([alert(STS, "d@contoso.com", T0 + H)], NOW + H)).rejects.toThrow("killed after commit");
    await expect(lateRepo.place([alert(PIVOT, "e@contoso.com", T0)], NOW + H)).rejects.toThrow("killed after commit");
    const scan = await expectListsMatchScan(repo);
    expect(scan).toHaveLength(2);
    expect(scan.find((i) => i.id === before!.id)!.alertIds).toHaveLength(2);
    clock += STALE_AFTER_MS + 60_000;
    await expectListsMatchScan(repo);
  });

  it("pages cross day partitions in order, with every filter", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const { incidents, alerts } = syntheticIncidents(150, 5);
    await repo.bulkLoad(incidents, alerts);
    const scan = await expectListsMatchScan(repo, 7);
    expect(new Set(scan.map((i) => i.lastAlertTime / 864_000_000_000n)).size).toBeGreaterThan(50);
    const from = Date.parse("2026-10-01T00:00:00.000Z");
    const to = Date.parse("2026-11-01T00:00:00.000Z");
    const q: IncidentQuery = { status: ["New", "Active"], severity: ["High", "Medium"], from, to };
    const want = scan.filter((i) => i.status !== "Closed" && (i.severity === "High" || i.severity === "Medium") && i.lastAlertTime >= fromMs(from) && i.firstAlertTime < fromMs(to));
    expect(want.length).toBeGreaterThan(3);
    expect((await allPages(repo, q, 3)).map((i) => i.id)).toEqual(want.map((i) => i.id));
    const ruleId = scan[0]!.ruleId;
    expect((await allPages(repo, { ruleId, status: ["New"] }, 4)).map((i) => i.id)).toEqual(scan.filter((i) => i.ruleId === ruleId && i.status === "New").map((i) => i.id));
  });

  it("an account's tally follows analyst changes and retention", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    await repo.place([alert(STS, "f@contoso.com", T0), alert(PIVOT, "f@contoso.com", T0), alert(STS, "g@contoso.com", T0)], NOW);
    // Two rules on f within the correlation window: their two incidents and the correlated one.
    expect((await repo.accountPage(10)).items.map((a) => [a.account, a.openIncidents, a.multipleRules, a.correlated])).toEqual([
      ["f@contoso.com", 3, true, true],
      ["g@contoso.com", 1, false, false],
    ]);
    for (const i of await repo.queryIncidents({ account: "f@contoso.com" }))
      expect(await repo.updateIncident(i, i.etag!, { status: "Closed", classification: "FalsePositive" }, analyst, NOW)).toMatchObject({ ok: true });
    expect((await repo.accountPage(10)).items.map((a) => [a.account, a.openIncidents, a.totalIncidents, a.highestOpenSeverity])).toEqual([
      ["f@contoso.com", 0, 3, null],
      ["g@contoso.com", 1, 1, "Low"],
    ]);
    expect(await repo.purgeClosed(NOW + H, 100)).toBeGreaterThan(0);
    expect((await repo.accountPage(10)).items.map((a) => a.account)).toEqual(["g@contoso.com"]);
    await expectListsMatchScan(repo);
  });

  it("builds the index once for incidents stored before it", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    await repo.place([alert(STS, "h@contoso.com", T0, "198.51.100.7"), alert(PIVOT, "i@contoso.com", T0)], NOW);
    // As a deployment from before the index: no index rows, no tallies, no IPs on incident rows.
    const client = await store.table("IncidentIndex");
    for (const row of await store.list("IncidentIndex")) await client.deleteEntity(row.partitionKey, row.rowKey);
    const incidents = await store.table("Incidents");
    for (const row of await store.list<{ ips?: string }>("Incidents", "RowKey eq 'summary' or ips ne ''"))
      await (row.rowKey === "summary" ? incidents.deleteEntity(row.partitionKey, row.rowKey) : incidents.updateEntity({ partitionKey: row.partitionKey, rowKey: row.rowKey, ips: "" }, "Merge"));
    const scan = await expectListsMatchScan(new IncidentRepository(store, incidentPlanner));
    expect((await new IncidentRepository(store, incidentPlanner).incidentPage({ account: "h@contoso.com" }, 5)).items[0]!.ips).toEqual(["198.51.100.7"]);
    expect(scan).toHaveLength(2);
  });

  it("reads an incident by id: a point read for ids that carry their account, a query for bare-digest ids", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const placed = await repo.place([alert(STS, "Guest_x#EXT#@contoso.com".toLowerCase(), T0)], NOW);
    const id = placed.incidents[0]!.id;
    expect(isIncidentId(id)).toBe(true);
    expect(accountOfIncidentId(id)).toBe("guest_x#ext#@contoso.com");
    let before = store.requests;
    expect(await repo.getIncident(id)).toMatchObject({ id, account: "guest_x#ext#@contoso.com" });
    expect(store.requests - before).toBe(1);
    // The same digest naming another account names nothing.
    expect(await repo.getIncident(`${id.split(".")[0]}.${Buffer.from("other@contoso.com").toString("base64url")}`)).toBeUndefined();
    // An incident stored with an id from before ids carried their account.
    const { incidents, alerts } = syntheticIncidents(1, 3);
    const legacy = legacyIncidentId(incidents[0]!.ruleId, incidents[0]!.account, incidents[0]!.alertIds[0]!);
    await repo.bulkLoad([{ ...incidents[0]!, id: legacy }], [{ ...alerts[0]!, incidentId: legacy }]);
    expect(isIncidentId(legacy) && accountOfIncidentId(legacy) === null).toBe(true);
    before = store.requests;
    expect(await repo.getIncident(legacy)).toMatchObject({ id: legacy, account: incidents[0]!.account });
    expect(store.requests - before).toBe(1);
    expect((await repo.incidentPage({}, 10)).items.map((i) => i.incident.id)).toContain(legacy);
  });
});


