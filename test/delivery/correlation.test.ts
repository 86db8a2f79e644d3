// Account correlation from logs to consumer, over Azurite: two rules firing for one account
// (the correlation scenario's replay, run as the timers run it) make one correlated incident
// in the same guarded placement as the alerts, announced once as incident.correlated, also
// when the windows run again or two rules place into the account at the same moment.
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { summarise, teamsMessage, slackMessage } from "../../src/delivery/chat.js";
import { DeliveryRepository } from "../../src/delivery/deliveries.js";
import { deliverAfterDetection } from "../../src/delivery/index.js";
import { OUTBOX, outboxEventFromEntity, type OutboxEntity } from "../../src/store/outbox.js";
import { WebhookEventSchema } from "../../src/delivery/schema.js";
import { SubscriptionRepository } from "../../src/delivery/subscriptions.js";
import { DeliveryWorker } from "../../src/delivery/worker.js";
import { CORRELATION_RULE_ID, isCorrelation } from "../../src/model/correlation.js";
import { fromMs } from "../../src/model/time.js";
import { ReplaySource } from "../../src/sources/replay.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { prefixRange } from "../../src/store/keys.js";
import type { TableStore } from "../../src/store/tables.js";
import { replayAllRules } from "../support/replay-run.js";
import { ADMIN, alert, freshStore, Receiver, webhookAdmin } from "./support.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const LOGS = fileURLToPath(new URL("../fixtures/scenarios/correlation-pivot-and-sts/logs", import.meta.url));
const FROM = Date.parse("2026-11-01T00:00:00.000Z");
const TO = Date.parse("2026-11-02T00:00:00.000Z");
const PIVOT = "d9e5f7a8-b3c4-6d0e-1f2a-3b4c5d6e7f8a";
const STS = "4696e072-aca8-4a4f-bf05-89fddc5ac3c9";

let azurite: AzuriteTables;
let receiver: Receiver;
beforeAll(async () => {
  azurite = await startAzurite();
  receiver = new Receiver();
  await receiver.start();
});
afterAll(async () => {
  await receiver?.stop();
  await azurite?.stop();
});

async function correlatedEvents(store: TableStore) {
  const range = prefixRange(OUTBOX);
  const rows = await store.list<OutboxEntity>("Incidents", `RowKey ge '${range.ge}' and RowKey lt '${range.lt}'`);
  return rows.map(outboxEventFromEntity).filter((e) => e.type === "incident.correlated");
}

describe("account correlation over Azurite", () => {
  it("two rules for one account: one correlated incident, delivered once as incident.correlated; a re-run adds nothing", async () => {
    const { store } = freshStore(azurite.connectionString);
    const stores = createStores(store, incidentPlanner);
    const policy = { allowHttp: true, allowPrivate: true };
    const admin = webhookAdmin(store, { subscriptions: new SubscriptionRepository(store), deliveries: new DeliveryRepository(store), policy, now: Date.now });
    const created = await admin.createSubscription({ params: {}, headers: {}, principal: ADMIN, body: { url: receiver.url(), eventTypes: ["incident.correlated"] } });
    receiver.secrets.push((created.body as { secret: string }).secret);
    const worker = new DeliveryWorker(store, { policy });
    const source = await ReplaySource.open(LOGS);

    await replayAllRules(source, stores, FROM, TO);
    const incidents = await stores.incidents.listIncidents();
    const correlated = incidents.filter(isCorrelation);
    expect(correlated).toHaveLength(1);
    const [c] = correlated;
    const members = incidents.filter((i) => i.account === "dan@contoso.com" && !isCorrelation(i));
    expect(members.map((i) => i.ruleId).sort()).toEqual([PIVOT, STS].sort());
    expect(c).toMatchObject({ account: "dan@contoso.com", severity: "High", status: "New" });
    expect([...c!.memberIncidentIds!].sort()).toEqual(members.map((i) => i.id).sort());
    expect(c!.alertIds.sort()).toEqual(members.flatMap((i) => i.alertIds).sort());
    // Its evidence stays with the rules' incidents.
    expect((await stores.incidents.listAlerts()).every((a) => a.incidentId !== c!.id)).toBe(true);
    expect((await stores.incidents.alertsOf(c!)).map((a) => a.ruleId).sort()).toEqual([PIVOT, STS].sort());

    await deliverAfterDetection(async () => worker);
    const events = receiver.delivered.map((r) => WebhookEventSchema.parse(r.body));
    expect(events.map((e) => [e.type, e.subject])).toEqual([["com.tokenwatch.incident.correlated", c!.id]]);
    expect(events[0]!.data.incident.memberIncidentIds?.sort()).toEqual(c!.memberIncidentIds!.sort());
    expect(events[0]!.data.alerts.map((a) => a.ruleId).sort()).toEqual([PIVOT, STS].sort());

    // The same windows again (overlapping pivot windows included): nothing new, nothing announced.
    await replayAllRules(source, stores, FROM, TO);
    expect((await stores.incidents.listIncidents()).filter(isCorrelation)).toEqual([{ ...c!, etag: expect.any(String) }]);
    expect(await deliverAfterDetection(async () => worker)).toMatchObject({ fannedOut: 0, attempted: 0 });
    expect(receiver.delivered).toHaveLength(1);
  });

  it("two rules placing into one account at the same moment: one correlated incident, one announcement", async () => {
    const { store } = freshStore(azurite.connectionString);
    const t = Date.parse("2026-11-01T08:00:00.000Z");
    const pivot = { ...alert("eve@contoso.com", t, "High", PIVOT), links: ["SessionId:s-1"] };
    const sts = alert("eve@contoso.com", t + 2 * 3_600_000, "Low", STS);
    // Two repositories, as two rules' timers on two instances.
    await Promise.all([createStores(store, incidentPlanner).incidents.place([pivot], Date.now()), createStores(store, incidentPlanner).incidents.place([sts], Date.now())]);
    const correlated = (await createStores(store, incidentPlanner).incidents.listIncidents()).filter(isCorrelation);
    expect(correlated).toHaveLength(1);
    expect(correlated[0]!.alertIds.sort()).toEqual([pivot.id, sts.id].sort());
    expect(await correlatedEvents(store)).toHaveLength(1);
    // A backfill placing both again changes nothing.
    await createStores(store, incidentPlanner).incidents.place([pivot, sts], Date.now());
    expect((await createStores(store, incidentPlanner).incidents.listIncidents()).filter(isCorrelation)).toEqual([{ ...correlated[0]!, etag: correlated[0]!.etag }]);
    expect(await correlatedEvents(store)).toHaveLength(1);
  });

  it("alerts of two rules more than 24 h apart are not correlated, unless they share a SessionId", async () => {
    const { store } = freshStore(azurite.connectionString);
    const t = Date.parse("2026-11-01T08:00:00.000Z");
    const stores = createStores(store, incidentPlanner);
    await stores.incidents.place([alert("fay@contoso.com", t, "High", PIVOT), alert("fay@contoso.com", t + 25 * 3_600_000, "Low", STS)], Date.now());
    await stores.incidents.place([{ ...alert("gil@contoso.com", t, "High", PIVOT), links: ["SessionId:s-9"] }], Date.now());
    await stores.incidents.place([{ ...alert("gil@contoso.com", t + 3 * 86_400_000, "High", "5a6f1c3e-2a1b-4c9e-9f01-11a2b3c4d508"), links: ["SessionId:s-9"] }], Date.now());
    const correlated = (await stores.incidents.queryIncidents({ ruleId: CORRELATION_RULE_ID })).map((i) => i.account);
    expect(correlated).toEqual(["gil@contoso.com"]);
    const [gil] = await stores.incidents.queryIncidents({ account: "gil@contoso.com", ruleId: CORRELATION_RULE_ID });
    expect(gil!.lastAlertTime - gil!.firstAlertTime).toBe(fromMs(3 * 86_400_000));
  });

  it("Teams and Slack messages say it is a correlation and name the rules it links", async () => {
    const { store } = freshStore(azurite.connectionString);
    const t = Date.parse("2026-11-01T08:00:00.000Z");
    const stores = createStores(store, incidentPlanner);
    await stores.incidents.place([{ ...alert("hal@contoso.com", t, "High", PIVOT), ruleName: "Interactive to Non-Interactive Token Theft Pivot" }], Date.now());
    await stores.incidents.place([alert("hal@contoso.com", t + 3_600_000, "Low", STS)], Date.now());
    const [event] = await correlatedEvents(store);
    const [c] = await stores.incidents.queryIncidents({ ruleId: CORRELATION_RULE_ID });
    const alerts = await stores.incidents.alertsOf(c!);
    const { buildEvent } = await import("../../src/delivery/schema.js");
    const summary = summarise([buildEvent({ ...event!, alerts })], "https://tokenwatch.example/api/console/");
    expect(summary.kind).toBe("correlated");
    expect(summary.rules).not.toContain(c!.ruleName);
    expect(summary.rules).toHaveLength(2);
    const teams = JSON.stringify(teamsMessage(summary));
    expect(teams).toContain("Correlated High incident for hal@contoso.com: 2 rules hit one account");
    expect(teams).toContain("2 in 2 linked incidents");
    expect(slackMessage(summary).text).toContain("Correlated High incident");
  });
});
