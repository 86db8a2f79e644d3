// Retention on Azurite: closed incidents past retention go with their alerts and history,
// open ones and recently closed ones stay; settled deliveries past retention go, pending
// ones stay; old allowlist audit rows go; one run deletes at most the bound, the next
// carries on; an incident reopened part-way through keeps every row it still has.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemActor } from "../../src/model/actor.js";
import { loadConfig } from "../../src/config.js";
import { createDeliveryWorker } from "../../src/delivery/index.js";
import { RETENTION_IDLE_MS } from "../../src/delivery/worker.js";
import { DeliveryRepository, type Delivery } from "../../src/delivery/deliveries.js";
import type { Alert } from "../../src/engine/incidents.js";
import { fromMs } from "../../src/model/time.js";
import { AllowlistRepository } from "../../src/store/allowlists.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { IncidentRepository } from "../../src/store/incidents.js";
import { purgeExpired, type RetentionPolicy } from "../../src/delivery/retention.js";
import { TableStore } from "../../src/store/tables.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const DAY = 86_400_000;
const NOW = Date.parse("2026-11-30T00:00:00.000Z");
const OLD = NOW - 400 * DAY;
const RULE = stsRefreshTokenModification.meta.id;
const analyst = systemActor("analyst@contoso.com");
const policy = (maxDeletesPerRun: number): RetentionPolicy => ({ closedIncidentDays: 365, deliveryDays: 30, auditDays: 730, maxDeletesPerRun });

let azurite: AzuriteTables;
let prefix = 0;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => azurite?.stop());

const fresh = () => new TableStore({ connectionString: azurite.connectionString, tablePrefix: `ret${process.pid}n${++prefix}` });

let n = 0;
/** `count` alerts a minute apart for one account: one incident. */
const alerts = (account: string, count: number, start = OLD): Omit<Alert, "incidentId">[] =>
  Array.from({ length: count }, (_, i) => ({
    id: `alert-${String(++n).padStart(5, "0")}`,
    ruleId: RULE,
    ruleName: "Rule",
    severity: "Medium",
    time: fromMs(start + i * 60_000),
    account,
    ip: null,
    title: "t",
    details: {},
    entities: [],
  }));

async function incidentOf(repo: IncidentRepository, account: string, count: number) {
  const placed = await repo.place(alerts(account, count), OLD);
  expect(placed.incidents).toHaveLength(1);
  return (await repo.getIncident(placed.incidents[0]!.id))!;
}

/** Sets an incident's status (and a comment: one more history row) at `at`. */
async function setStatus(repo: IncidentRepository, id: string, status: "Active" | "Closed", at: number) {
  const current = (await repo.getIncident(id))!;
  expect(await repo.updateIncident(current, current.etag!, { status, comment: `${status} by retention test` }, analyst, at)).toMatchObject({ ok: true });
}

/** Every row an incident has: itself, its alerts, its history. */
async function rowsOf(repo: IncidentRepository, id: string): Promise<number> {
  const incident = await repo.getIncident(id);
  if (!incident) return 0;
  return 1 + (await repo.alertsOf(incident)).length + (await repo.historyPage(incident, 1000)).changes.length;
}

describe("retention", () => {
  it("deletes closed incidents past retention with their alerts and history, never open or recently closed ones", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const expired = await incidentOf(repo, "gone@contoso.com", 4);
    await setStatus(repo, expired.id, "Closed", OLD);
    const recent = await incidentOf(repo, "recent@contoso.com", 3);
    await setStatus(repo, recent.id, "Closed", NOW - 10 * DAY);
    // Open, and last changed long ago: kept whatever its age.
    const open = await incidentOf(repo, "open@contoso.com", 3);
    await setStatus(repo, open.id, "Active", OLD);
    const before = { recent: await rowsOf(repo, recent.id), open: await rowsOf(repo, open.id) };
    expect(await rowsOf(repo, expired.id)).toBe(1 + 4 + 2);

    const report = await purgeExpired(store, policy(500), NOW);
    expect(report).toEqual({ incidentRows: 7, deliveries: 0, auditRows: 0 });
    expect(await repo.getIncident(expired.id)).toBeUndefined();
    expect(await repo.listAlerts(`incidentId eq '${expired.id}'`)).toEqual([]);
    expect(await repo.historyPage(expired, 1000)).toEqual({ changes: [], next: null });
    expect({ recent: await rowsOf(repo, recent.id), open: await rowsOf(repo, open.id) }).toEqual(before);
    expect(await purgeExpired(store, policy(500), NOW)).toEqual({ incidentRows: 0, deliveries: 0, auditRows: 0 });
  });

  it("deletes at most the bound per run and the rest in the next runs", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const ids: string[] = [];
    for (const account of ["a@contoso.com", "b@contoso.com"]) {
      const incident = await incidentOf(repo, account, 5);
      await setStatus(repo, incident.id, "Closed", OLD);
      ids.push(incident.id);
    }
    // 2 × (1 incident + 5 alerts + 2 history rows) = 16 rows, 5 per run.
    const runs: number[] = [];
    for (let run = 0; run < 6; run++) runs.push((await purgeExpired(store, policy(5), NOW)).incidentRows);
    expect(runs).toEqual([5, 5, 5, 1, 0, 0]);
    for (const id of ids) expect(await repo.getIncident(id)).toBeUndefined();
    expect(await repo.listAlerts()).toEqual([]);
  });

  it("leaves every remaining row of an incident reopened part-way through its purge", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const incident = await incidentOf(repo, "reopened@contoso.com", 6);
    await setStatus(repo, incident.id, "Closed", OLD);
    expect(await purgeExpired(store, policy(4), NOW)).toMatchObject({ incidentRows: 4 });
    const left = await rowsOf(repo, incident.id);
    expect(left).toBe(1 + 6 + 2 - 4);
    await setStatus(repo, incident.id, "Active", OLD + 1);
    expect(await purgeExpired(store, policy(500), NOW)).toMatchObject({ incidentRows: 0 });
    // Reopening added two history rows (the status and the comment).
    expect(await rowsOf(repo, incident.id)).toBe(left + 2);
  });

  it("deletes nothing of an incident reopened between the purge's read and its first write", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const incident = await incidentOf(repo, "race@contoso.com", 3);
    await setStatus(repo, incident.id, "Closed", OLD);
    // The analyst reopens it between the purge's read of the incident and its first write.
    const first = store.first.bind(store);
    let reopened = false;
    store.first = (async (...args: Parameters<typeof first>) => {
      const rows = await first(...args);
      if (!reopened && args[1].includes("incidentId eq")) {
        reopened = true;
        await setStatus(repo, incident.id, "Active", OLD + 1);
      }
      return rows;
    }) as typeof store.first;
    expect(await purgeExpired(store, policy(500), NOW)).toMatchObject({ incidentRows: 0 });
    expect(reopened).toBe(true);
    expect(await rowsOf(repo, incident.id)).toBe(1 + 3 + 4);
  });

  it("deletes delivered and dead deliveries past retention, never pending ones", async () => {
    const store = fresh();
    const deliveries = new DeliveryRepository(store);
    const delivery = (id: string, status: Delivery["status"], updatedAt: number): Omit<Delivery, "etag"> => ({
      id,
      subscriptionId: "sub-1",
      eventId: `evt-${id}`,
      eventType: "incident.created",
      incidentId: "inc-1",
      account: "a@contoso.com",
      eventTime: updatedAt,
      seq: 0,
      status,
      attemptCount: 1,
      firstAttemptAt: updatedAt,
      nextAttemptAt: updatedAt,
      createdAt: updatedAt,
      updatedAt,
      attempts: [],
    });
    for (const d of [
      delivery("old-delivered", "delivered", NOW - 31 * DAY),
      delivery("old-dead", "dead", NOW - 40 * DAY),
      delivery("old-pending", "pending", NOW - 90 * DAY),
      delivery("new-delivered", "delivered", NOW - 29 * DAY),
    ])
      expect(await deliveries.createIfAbsent(d, "{}")).toBe(true);
    expect(await purgeExpired(store, policy(1), NOW)).toEqual({ incidentRows: 0, deliveries: 1, auditRows: 0 });
    expect(await purgeExpired(store, policy(500), NOW)).toEqual({ incidentRows: 0, deliveries: 1, auditRows: 0 });
    expect((await deliveries.forSubscription("sub-1")).map((d) => d.id).sort()).toEqual(["new-delivered", "old-pending"]);
  });

  it("deletes allowlist audit rows past retention", async () => {
    const store = fresh();
    const allowlists = new AllowlistRepository(store);
    await allowlists.audit("network", analyst, "add", [], ["10.0.0.1"], NOW - 800 * DAY);
    await allowlists.audit("network", analyst, "add", [], ["10.0.0.2"], NOW - 10 * DAY);
    expect(await purgeExpired(store, policy(500), NOW)).toEqual({ incidentRows: 0, deliveries: 0, auditRows: 1 });
    expect(await store.list("AllowlistAudit")).toHaveLength(1);
  });
});

describe("the delivery worker", () => {
  it("applies the configured retention at the end of a run: every run during a backlog, else hourly", async () => {
    const store = fresh();
    const repo = new IncidentRepository(store, incidentPlanner);
    const incident = await incidentOf(repo, "worker@contoso.com", 2);
    await setStatus(repo, incident.id, "Closed", OLD);
    const config = loadConfig({ TOKENWATCH_RETENTION_CLOSED_INCIDENT_DAYS: "365", TOKENWATCH_RETENTION_MAX_DELETES_PER_RUN: "3" });
    let clock = NOW;
    const worker = createDeliveryWorker(store, config, { now: () => clock });
    expect((await worker.run()).purged).toEqual({ incidentRows: 3, deliveries: 0, auditRows: 0 });
    expect((await worker.run()).purged).toEqual({ incidentRows: 2, deliveries: 0, auditRows: 0 });
    expect(await repo.getIncident(incident.id)).toBeUndefined();
    // No backlog left: the next runs within the hour skip retention (its filters scan tables).
    expect((await worker.run()).purged).toBeUndefined();
    clock += RETENTION_IDLE_MS;
    expect((await worker.run()).purged).toEqual({ incidentRows: 0, deliveries: 0, auditRows: 0 });
  });
});
