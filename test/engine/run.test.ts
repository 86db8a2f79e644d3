// runRule against a real Azurite over HTTP: idempotency, overlapping and late windows,
// crash recovery, key encoding, batching, and the Intune baseline. Each test uses its own
// table prefix, so tests never see each other's state.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Alert, Incident } from "../../src/engine/incidents.js";
import { runRule, type WindowReport } from "../../src/engine/run.js";
import type { Repositories } from "../../src/store/repositories.js";
import { intuneTokenReuse } from "../../src/rules/intune-token-reuse.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import type { Rule } from "../../src/rules/rule.js";
import { isoOf, toMs } from "../../src/model/time.js";
import { tick } from "../support/rows.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";
import { ReplaySource } from "../../src/sources/replay.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { decodeKey, encodeKey } from "../../src/model/keys.js";
import { LeaseHeld, StateConflict } from "../../src/model/rule-state.js";
import { TableStore } from "../../src/store/tables.js";
import { DAY, HOUR, at, cleanupTempDirs, interactiveSignIn, nonInteractiveSignIn, stsAudit, writeLogs, type Row } from "../support/replay-fixtures.js";
import { incidentPlanner } from "../../src/engine/planner.js";
import { forkedSession } from "../../src/rules/forked-session.js";
import { SessionFold } from "../../src/rules/sessions.js";
import type { SessionState } from "../../src/model/sessions.js";
import { parseRow, rowSchemas } from "../../src/model/rows.js";

const FROM = at("2026-11-01T00:00:00.000Z");
const TO = FROM + DAY;
const NOW = at("2026-11-05T00:00:00.000Z");

let azurite: AzuriteTables;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
  await cleanupTempDirs();
});

const runId = randomBytes(3).toString("hex");
let tables = 0;
/** Repositories over fresh tables: a unique prefix per call. */
function freshStores(): { store: TableStore; stores: Repositories } {
  const store = new TableStore({ connectionString: azurite.connectionString, tablePrefix: `t${runId}n${++tables}` });
  return { store, stores: createStores(store, incidentPlanner) };
}

async function replay(files: Record<string, readonly Row[]>): Promise<ReplaySource> {
  const source = await ReplaySource.open(await writeLogs(files));
  expect(source.load.rejected).toEqual([]);
  return source;
}

interface RunArgs {
  from?: number;
  to?: number;
  until?: number;
  maxWindows?: number;
}
function run(rule: Rule, source: ReplaySource, stores: Repositories, args: RunArgs = {}): Promise<WindowReport[]> {
  const from = args.from ?? FROM;
  const to = args.to ?? TO;
  return runRule(rule, { source, stores, now: () => NOW }, { startAt: from, until: args.until ?? to, maxWindows: args.maxWindows, eventRange: { from, to } });
}

/** The rule's checkpoint put back to `windowEnd`, as if the runs after it never moved it. */
async function resetCheckpoint(stores: Repositories, rule: Rule, windowEnd: number) {
  const state = await stores.ruleState.get(rule.meta.id);
  expect(state).toBeDefined();
  await stores.ruleState.put(rule.meta.id, { ...state!, windowEnd });
}

const byId = <T extends { id: string }>(items: readonly T[]) => [...items].sort((a, b) => a.id.localeCompare(b.id));
const stable = (incidents: readonly Incident[]) =>
  byId(incidents).map(({ etag: _etag, updatedAt: _updatedAt, ...rest }) => ({ ...rest, alertIds: [...rest.alertIds].sort() }));
const placedIn = (reports: readonly WindowReport[]) => reports.flatMap((r) => r.alerts);

/** Every stored alert is in exactly one stored incident, the one its incidentId names. */
function expectConsistent(alerts: readonly Alert[], incidents: readonly Incident[]) {
  const owner = new Map<string, string>();
  for (const i of incidents) {
    expect(i.alertIds.length).toBeLessThanOrEqual(150);
    for (const id of i.alertIds) {
      expect(owner.has(id), `alert ${id} in two incidents`).toBe(false);
      owner.set(id, i.id);
    }
  }
  expect(new Set(alerts.map((a) => a.id)).size).toBe(alerts.length);
  for (const a of alerts) expect(owner.get(a.id), `alert ${a.id} of ${a.account}`).toBe(a.incidentId);
  expect(owner.size).toBe(alerts.length);
}

describe("runRule over Azurite", () => {
  it("running the same windows twice adds no alert and no incident (deterministic ids, idempotent writes)", async () => {
    const rule = stsRefreshTokenModification;
    const source = await replay({
      AuditLogs: [
        stsAudit({ time: "2026-11-01T09:15:00Z", app: "Evil App" }),
        stsAudit({ time: "2026-11-01T10:40:00Z", app: "Evil App" }),
        stsAudit({ time: "2026-11-01T20:00:00Z", user: "Mallory@Contoso.com", ip: "203.0.113.9" }),
        stsAudit({ time: "2026-11-01T11:00:00Z", app: "Microsoft Cloud App Security" }),
      ],
    });
    const { stores } = freshStores();

    const first = await run(rule, source, stores);
    expect(first).toHaveLength(24);
    expect(placedIn(first)).toHaveLength(3);
    const alerts1 = await stores.incidents.listAlerts();
    const incidents1 = await stores.incidents.listIncidents();
    expect(alerts1.map((a) => `${a.account}|${a.ip}`).sort()).toEqual(["evil app|null", "evil app|null", "mallory@contoso.com|203.0.113.9"]);
    expect(incidents1).toHaveLength(2);
    expect(incidents1.find((i) => i.account === "evil app")!.alertIds).toHaveLength(2);
    expectConsistent(alerts1, incidents1);

    // Nothing is due: the checkpoint moved to the end.
    expect(await run(rule, source, stores)).toEqual([]);

    // The same 24 windows again, from the same starting checkpoint.
    await resetCheckpoint(stores, rule, FROM);
    const second = await run(rule, source, stores);
    expect(second).toHaveLength(24);
    expect(placedIn(second)).toEqual([]);
    expect(second.flatMap((r) => r.incidents)).toEqual([]);
    const alerts2 = await stores.incidents.listAlerts();
    expect(byId(alerts2)).toEqual(byId(alerts1));
    expect(stable(await stores.incidents.listIncidents())).toEqual(stable(incidents1));
  });

  it("the pivot's overlapping 3h period alerts each (non-interactive, interactive) pair once, whichever side arrives last", async () => {
    const rule = interactiveToNonInteractivePivot;
    const source = await replay({
      SigninLogs: [
        interactiveSignIn({ time: "2026-11-01T09:10:00Z", upn: "dan@contoso.com", ip: "198.18.1.10", country: "US" }),
        interactiveSignIn({ time: "2026-11-01T13:00:00Z", upn: "erin@contoso.com", ip: "198.18.1.20", country: "US" }),
        // frank's interactive sign-in arrives 2h20m late, after its non-interactive side.
        interactiveSignIn({ time: "2026-11-01T12:10:00Z", upn: "frank@contoso.com", ip: "198.18.1.30", country: "US", received: "2026-11-01T14:30:00Z" }),
      ],
      AADNonInteractiveUserSignInLogs: [
        // Same window as the interactive sign-in.
        nonInteractiveSignIn({ time: "2026-11-01T09:40:00Z", upn: "dan@contoso.com", ip: "203.0.113.90", country: "DE" }),
        // Next windows: pairs with the interactive sign-in from an earlier window.
        nonInteractiveSignIn({ time: "2026-11-01T10:30:00Z", upn: "dan@contoso.com", ip: "203.0.113.91", country: "DE" }),
        nonInteractiveSignIn({ time: "2026-11-01T11:05:00Z", upn: "dan@contoso.com", ip: "203.0.113.92", country: "FR" }),
        // Same country: no alert.
        nonInteractiveSignIn({ time: "2026-11-01T13:30:00Z", upn: "erin@contoso.com", ip: "198.18.1.21", country: "US" }),
        nonInteractiveSignIn({ time: "2026-11-01T12:40:00Z", upn: "frank@contoso.com", ip: "203.0.113.95", country: "NL" }),
      ],
    });
    const { stores } = freshStores();
    const reports = await run(rule, source, stores);
    const placed = placedIn(reports);
    expect(placed.map((a) => `${a.account}|${a.ip}`).sort()).toEqual([
      "dan@contoso.com|203.0.113.90",
      "dan@contoso.com|203.0.113.91",
      "dan@contoso.com|203.0.113.92",
      "frank@contoso.com|203.0.113.95",
    ]);
    const stored = await stores.incidents.listAlerts();
    expect(byId(stored)).toEqual(byId(placed));
    // frank's pair is evaluated when its late interactive side arrives: in the 14:00-15:00 window.
    const frank = reports.filter((r) => r.alerts.some((a) => a.account === "frank@contoso.com"));
    expect(frank.map((r) => r.window)).toEqual([{ start: at("2026-11-01T14:00:00Z"), end: at("2026-11-01T15:00:00Z") }]);
    expect(frank[0]!.alerts[0]!.time).toBe(tick("2026-11-01T12:40:00Z"));
    const incidents = await stores.incidents.listIncidents();
    expect(incidents.map((i) => `${i.account}:${i.alertIds.length}`).sort()).toEqual(["dan@contoso.com:3", "frank@contoso.com:1"]);
    expectConsistent(stored, incidents);
  });

  it("a late event is evaluated exactly once, in the window it arrives in", async () => {
    const rule = stsRefreshTokenModification;
    const source = await replay({
      AuditLogs: [
        // Happened at 09:15, arrived at 13:20: after the 09:00-10:00 window had run.
        stsAudit({ time: "2026-11-01T09:15:00Z", app: "Late App", received: "2026-11-01T13:20:00Z" }),
        // Arrived during --from..--to but happened before it: history, never an alert.
        stsAudit({ time: "2026-10-31T23:30:00Z", app: "Old App", received: "2026-11-01T01:10:00Z" }),
      ],
    });
    const { stores } = freshStores();
    // The hourly timer runs up to noon: the event has not arrived yet.
    const morning = await run(rule, source, stores, { until: at("2026-11-01T12:00:00Z") });
    expect(morning).toHaveLength(12);
    expect(placedIn(morning)).toEqual([]);
    expect(morning.reduce((n, r) => n + r.rowsFetched, 0)).toBe(1); // Old App's row, as history
    // The rest of the day.
    const rest = await run(rule, source, stores);
    expect(rest).toHaveLength(12);
    const withAlerts = rest.filter((r) => r.alerts.length > 0);
    expect(withAlerts.map((r) => r.window)).toEqual([{ start: at("2026-11-01T13:00:00Z"), end: at("2026-11-01T14:00:00Z") }]);
    expect(withAlerts[0]!.alerts).toHaveLength(1);
    expect(withAlerts[0]!.alerts[0]!.time).toBe(tick("2026-11-01T09:15:00Z"));
    // Fetched by exactly one window of the whole day.
    expect(rest.reduce((n, r) => n + r.rowsFetched, 0)).toBe(1);
    expect(await stores.incidents.listAlerts()).toHaveLength(1);
    expect((await stores.incidents.listAlerts())[0]!.account).toBe("late app");
  });

  it("late alerts earlier than an untriaged incident's first regroup it as a chronological run would", async () => {
    const rule = stsRefreshTokenModification;
    const source = await replay({
      AuditLogs: [
        stsAudit({ time: "2026-11-01T10:00:00Z", app: "Evil App" }),
        stsAudit({ time: "2026-11-01T14:00:00Z", app: "Evil App" }),
        // Both arrive at 15:30, after the 10:00-14:00 incident exists.
        // In event-time order 08:00 comes first, and 14:00 is 6h after it: 14:00 moves out.
        stsAudit({ time: "2026-11-01T09:30:00Z", app: "Evil App", received: "2026-11-01T15:30:00Z" }),
        stsAudit({ time: "2026-11-01T08:00:00Z", app: "Evil App", received: "2026-11-01T15:30:00Z" }),
      ],
    });
    const { stores } = freshStores();
    await run(rule, source, stores);
    const alerts = await stores.incidents.listAlerts();
    const incidents = await stores.incidents.listIncidents();
    expect(alerts).toHaveLength(4);
    expectConsistent(alerts, incidents);
    const timeOf = new Map(alerts.map((a) => [a.id, isoOf(a.time).slice(11, 16)]));
    expect(incidents.map((i) => i.alertIds.map((id) => timeOf.get(id)).sort().join(",")).sort()).toEqual(["08:00,09:30,10:00", "14:00"]);
    for (const i of incidents) expect(toMs(i.lastAlertTime - i.firstAlertTime)).toBeLessThanOrEqual(5 * HOUR);
  });

  it("a crash after alerts were stored but before the checkpoint moved causes no duplicates on the next run", async () => {
    const sts = stsRefreshTokenModification;
    const pivot = interactiveToNonInteractivePivot;
    const source = await replay({
      AuditLogs: [
        stsAudit({ time: "2026-11-01T09:15:00Z", app: "Evil App" }),
        stsAudit({ time: "2026-11-01T09:45:00Z", app: "Evil App" }),
        stsAudit({ time: "2026-11-01T10:20:00Z", app: "Evil App" }),
      ],
      SigninLogs: [interactiveSignIn({ time: "2026-11-01T08:10:00Z", upn: "dan@contoso.com", ip: "198.18.1.10", country: "US" })],
      AADNonInteractiveUserSignInLogs: [
        nonInteractiveSignIn({ time: "2026-11-01T09:40:00Z", upn: "dan@contoso.com", ip: "203.0.113.90", country: "DE" }),
        nonInteractiveSignIn({ time: "2026-11-01T10:05:00Z", upn: "dan@contoso.com", ip: "203.0.113.91", country: "DE" }),
      ],
    });
    const { stores } = freshStores();
    for (const rule of [sts, pivot]) {
      // Runs through 09:00-10:00: its alerts are stored...
      const before = await run(rule, source, stores, { until: at("2026-11-01T10:00:00Z") });
      expect(placedIn(before).length).toBeGreaterThan(0);
      // ...but the "crash" lost the checkpoint write: it still says 09:00.
      await resetCheckpoint(stores, rule, at("2026-11-01T09:00:00Z"));
      const after = await run(rule, source, stores);
      expect(after[0]!.window.start).toBe(at("2026-11-01T09:00:00Z"));
      expect(after[0]!.alerts).toEqual([]); // the re-run window adds nothing
      expect(placedIn(after)).toHaveLength(1); // only the 10:xx event is new
    }
    const alerts = await stores.incidents.listAlerts();
    expect(alerts.filter((a) => a.ruleId === sts.meta.id)).toHaveLength(3);
    expect(alerts.filter((a) => a.ruleId === pivot.meta.id)).toHaveLength(2);
    const incidents = await stores.incidents.listIncidents();
    expect(incidents.map((i) => `${i.ruleId === sts.meta.id ? "sts" : "pivot"}:${i.account}:${i.alertIds.length}`).sort()).toEqual([
      "pivot:dan@contoso.com:2",
      "sts:evil app:3",
    ]);
    expectConsistent(alerts, incidents);
  });

  it("guest UPNs with #EXT#, '/', '\\', '?', '%' and quotes work as partition keys and round-trip", async () => {
    const accounts = [
      "guest_fabrikam.com#EXT#@contoso.onmicrosoft.com",
      "ops/admin@contoso.com",
      "back\\slash?query@contoso.com",
      "o'brien%41#ext#@contoso.onmicrosoft.com",
      "zoë@contoso.com",
    ];
    const rule = stsRefreshTokenModification;
    const source = await replay({
      AuditLogs: accounts.flatMap((upn, i) => [
        stsAudit({ time: FROM + (9 + i) * HOUR, user: upn, ip: `203.0.113.${10 + i}` }),
        stsAudit({ time: FROM + (9 + i) * HOUR + 30 * 60_000, user: upn.toUpperCase(), ip: `203.0.113.${10 + i}` }),
      ]),
    });
    const { store, stores } = freshStores();
    const reports = await run(rule, source, stores);
    expect(placedIn(reports)).toHaveLength(2 * accounts.length);
    const alerts = await stores.incidents.listAlerts();
    const incidents = await stores.incidents.listIncidents();
    expect([...new Set(alerts.map((a) => a.account))].sort()).toEqual(accounts.map((a) => a.toLowerCase()).sort());
    expect(incidents.map((i) => i.account).sort()).toEqual(accounts.map((a) => a.toLowerCase()).sort());
    for (const i of incidents) expect(i.alertIds).toHaveLength(2);
    expectConsistent(alerts, incidents);
    // The keys themselves hold none of the characters Table Storage forbids, and decode back.
    const raw = await store.list<{ account: string }>("Incidents");
    for (const e of raw) {
      expect(e.partitionKey).not.toMatch(/[/\\#?]/);
      // Incidents and alerts carry their account; other rows of the partition may not.
      if (/^(incident|alert):/.test(e.rowKey!)) expect(decodeKey(e.partitionKey!), e.rowKey).toBe(e.account);
      else expect(accounts.map((a) => a.toLowerCase())).toContain(decodeKey(e.partitionKey!));
    }
    // A re-run finds each account's existing alerts by those keys: nothing new.
    await resetCheckpoint(stores, rule, FROM);
    expect(placedIn(await run(rule, source, stores))).toEqual([]);
    expect(await stores.incidents.listAlerts()).toHaveLength(2 * accounts.length);

    // Baselines keyed by the same accounts (and by IPv6 addresses, whose ':' stays).
    const intune = intuneTokenReuse;
    const guest = accounts[0]!;
    const slash = accounts[1]!;
    const intuneSource = await replay({
      AADNonInteractiveUserSignInLogs: [
        nonInteractiveSignIn({ time: "2026-10-25T10:00:00Z", upn: guest, ip: "2001:db8::7", asn: 64496 }),
        nonInteractiveSignIn({ time: "2026-10-25T10:00:00Z", upn: slash, ip: "198.51.100.7", asn: 64497 }),
        // Known IPv6 address, new ASN: no alert.
        nonInteractiveSignIn({ time: "2026-11-01T10:00:00Z", upn: guest, ip: "2001:db8::7", asn: 64999, resource: "Microsoft Intune" }),
        // New IP, known ASN: no alert.
        nonInteractiveSignIn({ time: "2026-11-01T10:05:00Z", upn: slash.toUpperCase(), ip: "198.51.100.8", asn: "64497", resource: "Microsoft Intune" }),
        // New IP and ASN: alert.
        nonInteractiveSignIn({ time: "2026-11-01T11:00:00Z", upn: guest, ip: "2001:db8::9", asn: 64998, resource: "Microsoft Intune" }),
      ],
    });
    const intuneReports = await run(intune, intuneSource, stores);
    expect(placedIn(intuneReports).map((a) => `${a.account}|${a.ip}`)).toEqual([`${guest.toLowerCase()}|2001:db8::9`]);
    const known = await stores.baselines.load([guest.toLowerCase(), slash], FROM - 14 * DAY);
    expect([...known.get(guest.toLowerCase())!.ips].sort()).toEqual(["2001:db8::7", "2001:db8::9"]);
    expect([...known.get(slash)!.asns]).toEqual(["64497"]);
  });

  it("more than 100 alerts for one account in one window are all stored (several transactions), at most 150 per incident", async () => {
    const rule = stsRefreshTokenModification;
    const count = 170;
    const start = at("2026-11-01T09:00:00Z");
    const source = await replay({
      AuditLogs: Array.from({ length: count }, (_, i) => stsAudit({ time: start + i * 10_000, app: "Bulk App", target: `user${i}@contoso.com` })),
    });
    const { stores } = freshStores();
    const reports = await run(rule, source, stores);
    const window = reports.find((r) => r.window.start === start)!;
    expect(window.alerts).toHaveLength(count);
    const alerts = await stores.incidents.listAlerts();
    expect(alerts).toHaveLength(count);
    const incidents = await stores.incidents.listIncidents();
    expect(incidents.map((i) => i.alertIds.length).sort((a, b) => b - a)).toEqual([150, 20]);
    expectConsistent(alerts, incidents);
    // And a re-run of the whole day stays put.
    await resetCheckpoint(stores, rule, FROM);
    expect(placedIn(await run(rule, source, stores))).toEqual([]);
    expect(await stores.incidents.listAlerts()).toHaveLength(count);
    expect((await stores.incidents.listIncidents()).map((i) => i.alertIds.length).sort((a, b) => b - a)).toEqual([150, 20]);
  });

  it("a crash between the transactions of one placement (>100 alerts) leaves no alert without its incident after the re-run", async () => {
    const rule = stsRefreshTokenModification;
    const start = at("2026-11-01T09:00:00Z");
    const source = await replay({
      AuditLogs: Array.from({ length: 130 }, (_, i) => stsAudit({ time: start + i * 10_000, app: "Bulk App", target: `user${i}@contoso.com` })),
    });
    // What a complete run stores...
    const complete = freshStores();
    await run(rule, source, complete.stores);
    const entities = await complete.store.list<Record<string, unknown>>("Incidents");
    const alertEntities = entities.filter((e) => e.rowKey!.startsWith("alert:")).sort((a, b) => a.rowKey!.localeCompare(b.rowKey!));
    expect(alertEntities).toHaveLength(130);
    // ...and a run that crashed after its first transaction (100 alert entities) committed,
    // before the one holding the rest and the incident: the checkpoint never moved.
    const crashed = freshStores();
    const client = await crashed.store.table("Incidents");
    await client.submitTransaction(alertEntities.slice(0, 100).map(({ etag: _e, timestamp: _t, ...e }) => ["upsert", e as never, "Replace"]));
    const reports = await run(rule, source, crashed.stores);
    expect(reports).toHaveLength(24);
    const alerts = await crashed.stores.incidents.listAlerts();
    const incidents = await crashed.stores.incidents.listIncidents();
    expect(alerts).toHaveLength(130);
    expect(incidents.map((i) => i.alertIds.length)).toEqual([130]);
    expectConsistent(alerts, incidents);
  });

  it("a closed incident stays closed: a later alert of its rule and account starts a new incident", async () => {
    const rule = stsRefreshTokenModification;
    const source = await replay({
      AuditLogs: [stsAudit({ time: "2026-11-01T09:15:00Z", app: "Evil App" }), stsAudit({ time: "2026-11-01T10:40:00Z", app: "Evil App" })],
    });
    const { store, stores } = freshStores();
    await run(rule, source, stores, { until: at("2026-11-01T10:00:00Z") });
    const [first] = await stores.incidents.listIncidents();
    expect(first!.alertIds).toHaveLength(1);
    // An analyst closes it (a Merge of its status, as the API does).
    const client = await store.table("Incidents");
    await client.updateEntity({ partitionKey: encodeKey(first!.account), rowKey: `incident:${first!.id}`, status: "Closed" }, "Merge");
    await run(rule, source, stores);
    const incidents = await stores.incidents.listIncidents();
    expect(incidents).toHaveLength(2);
    const closed = incidents.find((i) => i.id === first!.id)!;
    expect(closed.status).toBe("Closed");
    expect(closed.alertIds).toEqual(first!.alertIds);
    const fresh = incidents.find((i) => i.id !== first!.id)!;
    expect(fresh.status).toBe("New");
    expect(fresh.alertIds).toHaveLength(1);
    expectConsistent(await stores.incidents.listAlerts(), incidents);
  });

  it("two instances running the same rule at once store each alert once (ETags on checkpoint and incidents)", async () => {
    const rule = stsRefreshTokenModification;
    const source = await replay({
      AuditLogs: Array.from({ length: 30 }, (_, i) =>
        stsAudit({ time: at("2026-11-01T09:00:00Z") + i * 20 * 60_000, app: i % 3 === 0 ? "Evil App" : `App ${i % 3}` }),
      ),
    });
    const { store } = freshStores();
    // Both instances see the same initialized checkpoint, then race through the day.
    await run(rule, source, createStores(store, incidentPlanner), { until: FROM });
    const results = await Promise.allSettled([run(rule, source, createStores(store, incidentPlanner)), run(rule, source, createStores(store, incidentPlanner))]);
    expect(results.some((r) => r.status === "fulfilled")).toBe(true);
    // The loser is told the rule is busy; it never half-applies a window.
    for (const r of results) if (r.status === "rejected") expect(r.reason instanceof LeaseHeld || r.reason instanceof StateConflict, String(r.reason)).toBe(true);
    const stores = createStores(store, incidentPlanner);
    const alerts = await stores.incidents.listAlerts();
    expect(alerts).toHaveLength(30);
    const incidents = await stores.incidents.listIncidents();
    expectConsistent(alerts, incidents);
    for (const i of incidents) expect(toMs(i.lastAlertTime - i.firstAlertTime)).toBeLessThanOrEqual(5 * HOUR);
    expect((await stores.ruleState.get(rule.meta.id))!.windowEnd).toBe(TO);
  });

  const raceAlerts = (account: string, count: number): Omit<Alert, "incidentId">[] =>
    Array.from({ length: count }, (_, i) => ({
      id: `race-${String(i).padStart(3, "0")}`,
      ruleId: stsRefreshTokenModification.meta.id,
      ruleName: stsRefreshTokenModification.meta.name,
      severity: "Low" as const,
      time: tick("2026-11-01T09:00:00Z") + BigInt(i) * 600_000_000n,
      account,
      ip: null,
      title: "t",
      details: {},
      entities: [],
    }));

  it("concurrent placements of the same alerts into one account place each alert once (409/412 retried)", async () => {
    const { store } = freshStores();
    const all = raceAlerts("race#ext#@contoso.onmicrosoft.com", 40);
    const repos = [1, 2, 3].map(() => createStores(store, incidentPlanner).incidents);
    const results = await Promise.all(repos.map((r) => r.place(all, NOW)));
    // Between them, every alert was placed exactly once.
    expect(results.flatMap((r) => r.alerts).map((x) => x.id).sort()).toEqual(all.map((x) => x.id));
    const alerts = await repos[0]!.listAlerts();
    const incidents = await repos[0]!.listIncidents();
    expect(alerts).toHaveLength(40);
    expect(incidents).toHaveLength(1);
    expectConsistent(alerts, incidents);
  });

  it("concurrent placements of overlapping alert sets place each alert once, also across several transactions", async () => {
    for (const count of [40, 230]) {
      const { store } = freshStores();
      const all = raceAlerts(`race${count}#ext#@contoso.onmicrosoft.com`, count);
      const third = Math.floor(count / 3);
      const [a, b, c] = [1, 2, 3].map(() => createStores(store, incidentPlanner).incidents);
      const results = await Promise.all([a!.place(all.slice(0, 2 * third), NOW), b!.place(all.slice(third), NOW), c!.place(all.slice(third, 2 * third), NOW)]);
      expect(results.flatMap((r) => r.alerts).map((x) => x.id).sort(), `${count} alerts`).toEqual(all.map((x) => x.id));
      const alerts = await a!.listAlerts();
      expect(alerts).toHaveLength(count);
      expectConsistent(alerts, await a!.listIncidents());
    }
  });

  describe("Intune baseline", () => {
    const intune = intuneTokenReuse;
    const intuneRow = (time: string, upn: string, ip: string, asn: string | number, extra: Partial<Parameters<typeof nonInteractiveSignIn>[0]> = {}) =>
      nonInteractiveSignIn({ time, upn, ip, asn, resource: "Microsoft Intune", ...extra });
    const history = (time: string, upn: string, ip: string, asn: string | number) => nonInteractiveSignIn({ time, upn, ip, asn, resource: "Office 365 Exchange Online" });

    it("learns from history before the first window; entries older than 14 days do not count", async () => {
      const to = FROM + 2 * DAY;
      const source = await replay({
        AADNonInteractiveUserSignInLogs: [
          // alice's baseline: 198.18.0.10 / AS8075, any result counts.
          history("2026-10-20T03:00:00Z", "alice@contoso.com", "198.18.0.10", "8075"),
          nonInteractiveSignIn({ time: "2026-10-21T03:00:00Z", upn: "alice@contoso.com", ip: "198.18.0.11", asn: 8076, resultType: "50126" }),
          // bob and carl were last seen 14d 18h before the first window's start; erin 22 days before.
          history("2026-10-18T06:00:00Z", "bob@contoso.com", "192.0.2.20", "64510"),
          history("2026-10-18T06:00:00Z", "carl@contoso.com", "192.0.2.30", "64511"),
          history("2026-10-10T06:00:00Z", "erin@contoso.com", "192.0.2.50", "64513"),

          intuneRow("2026-11-01T10:20:00Z", "alice@contoso.com", "203.0.113.50", "64500"), // new IP and ASN: alert
          intuneRow("2026-11-01T11:20:00Z", "alice@contoso.com", "198.18.0.99", "8075"), // known ASN
          intuneRow("2026-11-01T12:00:00Z", "ALICE@contoso.com", "198.18.0.10", "9999"), // known IP
          intuneRow("2026-11-01T12:30:00Z", "alice@contoso.com", "198.18.0.11", 7), // known IP from a failed sign-in
          intuneRow("2026-11-01T13:00:00Z", "alice@contoso.com", "203.0.113.60", "64501", { mfa: true }), // MFA: not a candidate
          nonInteractiveSignIn({ time: "2026-11-01T13:10:00Z", upn: "alice@contoso.com", ip: "203.0.113.61", asn: "64502", resource: "Office 365 Exchange Online" }),
          intuneRow("2026-11-01T02:00:00Z", "bob@contoso.com", "192.0.2.20", "64510"), // 14d - 4h after last seen: known
          intuneRow("2026-11-02T08:00:00Z", "carl@contoso.com", "192.0.2.30", "64511"), // 15d 2h after last seen: stale
          intuneRow("2026-11-01T05:00:00Z", "dave@contoso.com", "192.0.2.40", "64512"), // never seen
          intuneRow("2026-11-01T03:00:00Z", "erin@contoso.com", "192.0.2.50", "64513"), // 22 days: stale
        ],
      });
      const { stores } = freshStores();
      const reports = await run(intune, source, stores, { to });
      expect(reports).toHaveLength(48);
      expect(reports.every((r) => r.baselineEstablished === true)).toBe(true);
      const alerts = placedIn(reports);
      expect(alerts.map((a) => `${a.account}|${a.ip}`).sort()).toEqual([
        "alice@contoso.com|203.0.113.50",
        "carl@contoso.com|192.0.2.30",
        "dave@contoso.com|192.0.2.40",
        "erin@contoso.com|192.0.2.50",
      ]);
      expect(alerts.find((a) => a.account === "dave@contoso.com")!.details.baseline).toBe("no baseline for this user");
      expect(alerts.find((a) => a.account === "alice@contoso.com")!.details.baseline).toBe("IP and ASN unseen in the baseline period");
      expect(alerts.find((a) => a.account === "carl@contoso.com")!.details.baseline).toBe("no baseline for this user");
      expect(await stores.incidents.listAlerts()).toHaveLength(4);
    });

    it("while learning, holds back users without a baseline (counted) and judges users with one; after 14 days of data, every user", async () => {
      const from = at("2026-10-01T00:00:00Z");
      const to = at("2026-10-16T00:00:00Z");
      const source = await replay({
        AADNonInteractiveUserSignInLogs: [
          // The first data the workspace has: no history before the first window.
          intuneRow("2026-10-01T01:00:00Z", "alice@contoso.com", "198.18.0.10", "8075"),
          intuneRow("2026-10-02T09:00:00Z", "bob@contoso.com", "203.0.113.7", "64500"),
          // Not yet 14 days, but alice has a baseline: judged against it, a new IP and ASN alert.
          intuneRow("2026-10-14T23:00:00Z", "alice@contoso.com", "203.0.113.8", "64501"),
          // 14 days after the data began: established.
          intuneRow("2026-10-15T12:00:00Z", "alice@contoso.com", "203.0.113.8", "9999"), // known IP (learned while silent)
          // 198.18.0.10 / AS8075 were last seen more than 14 days ago by now: new again.
          intuneRow("2026-10-15T14:00:00Z", "alice@contoso.com", "198.18.0.10", "8075"),
          intuneRow("2026-10-15T13:00:00Z", "alice@contoso.com", "203.0.113.9", "64502"), // new: alert
        ],
      });
      const { stores } = freshStores();
      const reports = await run(intune, source, stores, { from, to });
      expect(reports).toHaveLength(15 * 24);
      const established = (t: string) => reports.find((r) => r.window.end === at(t))!.baselineEstablished;
      expect(established("2026-10-01T02:00:00Z")).toBe(false);
      expect(established("2026-10-15T00:00:00Z")).toBe(false);
      expect(established("2026-10-15T02:00:00Z")).toBe(true);
      // Held back while learning: alice's and bob's first sign-ins (no baseline yet), counted.
      expect(reports.reduce((n, r) => n + r.heldBack, 0)).toBe(2);
      expect(placedIn(reports).map((a) => `${a.account}|${a.ip}|${isoOf(a.time)}`)).toEqual([
        "alice@contoso.com|203.0.113.8|2026-10-14T23:00:00.000Z",
        "alice@contoso.com|203.0.113.9|2026-10-15T13:00:00.000Z",
        "alice@contoso.com|198.18.0.10|2026-10-15T14:00:00.000Z",
      ]);
    });

    it("a tenant without any data stays silent: every window reports the baseline as not established", async () => {
      const source = await replay({
        AADNonInteractiveUserSignInLogs: [intuneRow("2026-11-01T05:00:00Z", "dave@contoso.com", "192.0.2.40", "64512")],
      });
      const { stores } = freshStores();
      const reports = await run(intune, source, stores, { until: FROM + 6 * HOUR });
      expect(reports.map((r) => r.baselineEstablished)).toEqual([false, false, false, false, false, false]);
      expect(placedIn(reports)).toEqual([]);
      expect(await stores.incidents.listAlerts()).toEqual([]);
    });
  });
});

describe("the forked-session rule's memory", () => {
  const LAPTOP = JSON.stringify({ deviceId: "dev-laptop", operatingSystem: "Windows 10", browser: "Edge 130.0.0" });
  const EDGE = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0";
  const use = (interactive: boolean, o: { time: string; upn: string; session: string; asn?: string; ip?: string; device?: string; resultType?: string }): Row => ({
    ...(interactive ? interactiveSignIn : nonInteractiveSignIn)({ time: o.time, upn: o.upn, ip: o.ip ?? "198.51.100.7", asn: o.asn ?? "8075", resultType: o.resultType }),
    SessionId: o.session,
    DeviceDetail: o.device ?? LAPTOP,
    UserAgent: EDGE,
  });

  it("a window records each session as evaluate() folded its sign-ins, and the next window judges against that record", async () => {
    // Out of time order in the files, across both tables; one failed sign-in and one without a session, neither remembered.
    const first = {
      AADNonInteractiveUserSignInLogs: [
        use(false, { time: "2026-11-01T09:40:00.1234567Z", upn: "Alice@Contoso.com", session: "s-alice", asn: "3320", ip: "203.0.113.4" }),
        use(false, { time: "2026-11-01T09:05:00Z", upn: "alice@contoso.com", session: "s-alice" }),
        use(false, { time: "2026-11-01T09:10:00Z", upn: "bob@contoso.com", session: "s-failed", resultType: "50126" }),
        use(false, { time: "2026-11-01T09:20:00Z", upn: "bob@contoso.com", session: "" }),
      ],
      SigninLogs: [use(true, { time: "2026-11-01T09:30:00Z", upn: "alice@contoso.com", session: "s-alice" }), use(true, { time: "2026-11-01T09:15:00Z", upn: "bob@contoso.com", session: "s-bob" })],
    };
    // Alice's session from a network and a device it never used: a fork. Bob's from what it used: none.
    const second = {
      AADNonInteractiveUserSignInLogs: [
        use(false, { time: "2026-11-01T10:30:00Z", upn: "alice@contoso.com", session: "s-alice", asn: "64512", ip: "192.0.2.66", device: JSON.stringify({ deviceId: "", operatingSystem: "Linux", browser: "Firefox 130.0" }) }),
        use(false, { time: "2026-11-01T10:35:00Z", upn: "bob@contoso.com", session: "s-bob" }),
      ],
      SigninLogs: [],
    };
    const { stores } = freshStores();
    const refs = [
      { account: "alice@contoso.com", sessionId: "s-alice" },
      { account: "bob@contoso.com", sessionId: "s-bob" },
      { account: "bob@contoso.com", sessionId: "s-failed" },
      { account: "bob@contoso.com", sessionId: "" },
    ];
    const firstRows = Object.entries(first).flatMap(([table, rows]) => rows.map((raw) => parseRow(rowSchemas[table as "SigninLogs"], raw))).map((r) => (r.ok ? r.row : expect.fail(r.reason)));
    // What a state holds, whatever order its values were folded in.
    const held = (s: SessionState) => ({ ...s, seen: Object.fromEntries(Object.entries(s.seen).map(([facet, values]) => [facet, [...values].sort()])) });
    const expected = new Map([...new SessionFold(() => undefined).addAll(firstRows).touched()].map((s) => [s.sessionId, held(s)]));
    expect([...expected.keys()].sort()).toEqual(["s-alice", "s-bob"]);

    const reports = await run(forkedSession, await replay(first), stores, { from: at("2026-11-01T09:00:00Z"), to: at("2026-11-01T10:00:00Z") });
    expect(placedIn(reports)).toEqual([]);
    const recorded = await stores.sessions.load(refs, at("2026-11-01T00:00:00Z"));
    expect(new Map([...recorded].map(([id, s]) => [id, held(s)]))).toEqual(expected);
    expect(recorded.get("s-alice")?.first.time).toBe(tick("2026-11-01T09:05:00Z"));
    expect(recorded.get("s-alice")?.lastSeen).toBe(tick("2026-11-01T09:40:00.1234567Z"));

    const next = await run(forkedSession, await replay(second), stores, { from: at("2026-11-01T10:00:00Z"), to: at("2026-11-01T11:00:00Z") });
    expect(placedIn(next).map((a) => a.account)).toEqual(["alice@contoso.com"]);
    expect((await stores.sessions.load(refs, at("2026-11-01T00:00:00Z"))).get("s-alice")?.seen.asn.has("64512")).toBe(true);
  });
});
