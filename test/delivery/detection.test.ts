// Detection to consumer: the rules replayed through the engine's runRule (as the timers run
// them) over public scenario logs, then the delivery run made after detection. Every
// incident is announced, every alert reaches the consumer exactly once, and a re-run of
// the same windows announces nothing new.
import { replayAllRules } from "../support/replay-run.js";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryRepository } from "../../src/delivery/deliveries.js";
import { deliverAfterDetection } from "../../src/delivery/index.js";
import { WebhookEventSchema } from "../../src/delivery/schema.js";
import { SubscriptionRepository } from "../../src/delivery/subscriptions.js";
import { DeliveryWorker } from "../../src/delivery/worker.js";
import { isCorrelation } from "../../src/model/correlation.js";
import { ReplaySource } from "../../src/sources/replay.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { ADMIN, freshStore, Receiver, webhookAdmin } from "./support.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const LOGS = fileURLToPath(new URL("../fixtures/api/logs", import.meta.url));
const FROM = Date.parse("2026-11-01T00:00:00.000Z");
const TO = Date.parse("2026-11-02T00:00:00.000Z");

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

describe("delivery after detection", () => {
  it("announces every incident and alert a replayed detection stores, once", async () => {
    const { store } = freshStore(azurite.connectionString);
    const stores = createStores(store, incidentPlanner);
    const policy = { allowHttp: true, allowPrivate: true };
    const admin = webhookAdmin(store, { subscriptions: new SubscriptionRepository(store), deliveries: new DeliveryRepository(store), policy, now: Date.now });
    const created = await admin.createSubscription({
      params: {},
      headers: {},
      principal: ADMIN,
      body: { url: receiver.url(), eventTypes: ["incident.created", "incident.alertAdded"] },
    });
    receiver.secrets.push((created.body as { secret: string }).secret);
    const worker = new DeliveryWorker(store, { policy });

    const source = await ReplaySource.open(LOGS);
    const detect = () => replayAllRules(source, stores, FROM, TO);
    await detect();
    const report = await deliverAfterDetection(async () => worker);
    expect(report).not.toBeNull();

    // The rules' incidents; a correlated one (evil app: two rules) is announced as incident.correlated, not subscribed here.
    const incidents = (await stores.incidents.listIncidents()).filter((i) => !isCorrelation(i));
    const alerts = await stores.incidents.listAlerts();
    expect(incidents.length).toBeGreaterThan(0);
    const events = receiver.delivered.map((r) => WebhookEventSchema.parse(r.body));
    expect(receiver.received.every((r) => r.verifiedWith !== null)).toBe(true);
    expect(events.every((e) => e.type !== "com.tokenwatch.incident.correlated")).toBe(true);
    expect(new Set(events.filter((e) => e.type === "com.tokenwatch.incident.created").map((e) => e.subject))).toEqual(new Set(incidents.map((i) => i.id)));
    const announced = events.flatMap((e) => e.data.alerts.map((a) => a.id));
    expect(announced.sort()).toEqual(alerts.map((a) => a.id).sort());
    for (const e of events) for (const a of e.data.alerts) expect(a.incidentId).toBe(e.subject);

    // The same windows again: nothing changes, nothing is announced.
    const before = receiver.delivered.length;
    await detect();
    expect(await deliverAfterDetection(async () => worker)).toMatchObject({ fannedOut: 0, attempted: 0 });
    expect(receiver.delivered.length).toBe(before);
  });
});
