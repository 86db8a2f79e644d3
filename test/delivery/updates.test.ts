// incident.updated: an analyst's PATCH through the real API (createApi with the incident and
// webhook routes, dev-token auth) on Azurite writes the event's outbox row in the same
// transaction as the incident and its history; the real worker delivers it to a real HTTP
// receiver on 127.0.0.1 verifying every request with the `standardwebhooks` library.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApi, type Api } from "../../src/api/app.js";
import { Authenticator } from "../../src/api/auth.js";
import { devTrust, loadDevKey, signDevToken, type DevKey } from "../../src/api/dev-auth.js";
import { loadConfig } from "../../src/config.js";
import { webhookAdminDeps } from "../../src/app.js";
import { createDeliveryWorker } from "../../src/delivery/index.js";
import { OUTBOX } from "../../src/store/outbox.js";
import { webhookRoutes } from "../../src/api/webhooks.js";
import { WebhookEventSchema } from "../../src/delivery/schema.js";
import type { DeliveryWorker } from "../../src/delivery/worker.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import type { TableStore } from "../../src/store/tables.js";
import { alert, freshStore, place, Receiver } from "./support.js";
import { incidentPlanner } from "../../src/engine/planner.js";

// The local host's operator flags: http and loopback receivers allowed.
const config = loadConfig({ TOKENWATCH_WEBHOOK_ALLOW_HTTP: "true", TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS: "true" });

let azurite: AzuriteTables;
let key: DevKey;
beforeAll(async () => {
  azurite = await startAzurite();
  process.env.TOKENWATCH_HOME = await mkdtemp(join(tmpdir(), "tw-updates-"));
  key = await loadDevKey();
});
afterAll(async () => {
  await azurite?.stop();
});

let store: TableStore;
let api: Api;
let worker: DeliveryWorker;
const receivers: Receiver[] = [];
beforeEach(async () => {
  ({ store } = freshStore(azurite.connectionString));
  api = createApi({ stores: createStores(store, incidentPlanner), auth: new Authenticator([devTrust(key)]), now: Date.now, extraRoutes: webhookRoutes(webhookAdminDeps(store, config)) });
  worker = createDeliveryWorker(store, config, { timeoutMs: 5_000 });
  return async () => {
    for (const r of receivers.splice(0)) await r.stop();
  };
});

async function call(method: string, path: string, options: { roles?: string[]; body?: unknown; headers?: Record<string, string> } = {}) {
  const token = await signDevToken(key, { roles: options.roles ?? ["Tokenwatch.Admin", "Incidents.Write"], user: "analyst@contoso.com" });
  const res = await api.handle({
    method,
    path,
    query: new URLSearchParams(),
    headers: { authorization: `Bearer ${token}`, ...(options.body !== undefined ? { "content-type": "application/json" } : {}), ...options.headers },
    body: options.body !== undefined ? Buffer.from(JSON.stringify(options.body)) : null,
  });
  return res as { status: number; headers: Record<string, string>; body: any };
}

/** A receiver subscribed (through the admin route) to the given event types. */
async function subscribed(eventTypes: string[]): Promise<Receiver> {
  const receiver = new Receiver();
  await receiver.start();
  receivers.push(receiver);
  const res = await call("POST", "/api/webhooks/subscriptions", { body: { url: receiver.url(), eventTypes } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  receiver.secrets.push(res.body.secret);
  return receiver;
}

const outboxRows = () => store.list<{ eventType: string; incidentId: string }>("Incidents", `RowKey ge '${OUTBOX}' and RowKey lt 'outbox;'`);

/** One incident placed for a fresh account, its placement announced, and the incident as the API shows it. */
async function incident(): Promise<{ id: string; etag: string; historyLength: number }> {
  const now = Date.now();
  const placed = await place(store, [alert(`u${now.toString(36)}@contoso.com`, now - 60_000)], now);
  await worker.run();
  expect(await outboxRows()).toHaveLength(0);
  const id = placed.incidents[0]!.id;
  const read = await call("GET", `/api/incidents/${id}`);
  expect(read.status).toBe(200);
  return { id, etag: read.headers.etag!, historyLength: read.body.history.length };
}

describe("incident.updated", () => {
  it("a PATCH announces the change once, to the subscriptions that asked for incident.updated only", async () => {
    const updates = await subscribed(["incident.updated"]);
    const created = await subscribed(["incident.created"]);
    const { id, etag } = await incident();
    expect(created.delivered.map((d) => d.body.type)).toEqual(["com.tokenwatch.incident.created"]);
    expect(updates.received).toHaveLength(0);

    const patched = await call("PATCH", `/api/incidents/${id}`, { headers: { "if-match": etag }, body: { status: "Active", owner: "bob@contoso.com", comment: "looking" } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    // Stored with the change: one outbox row, before any worker runs.
    expect((await outboxRows()).map((r) => [r.eventType, r.incidentId])).toEqual([["incident.updated", id]]);

    const report = await worker.run();
    expect(report).toMatchObject({ fannedOut: 1, deliveriesCreated: 1, delivered: 1, failed: 0 });
    expect(updates.delivered).toHaveLength(1);
    const event = WebhookEventSchema.parse(updates.delivered[0]!.body);
    expect(event).toMatchObject({ type: "com.tokenwatch.incident.updated", subject: id, data: { incident: { id, status: "Active", owner: "bob@contoso.com" }, alerts: [] } });
    expect(event.data.incident.updatedAt).toBe(patched.body.updatedAt);
    // Every request the receiver got verified with its secret; nothing more for either.
    expect(updates.received.every((r) => r.verifiedWith !== null)).toBe(true);
    expect(created.delivered).toHaveLength(1);
    expect(await worker.run()).toMatchObject({ fannedOut: 0, attempted: 0 });
    expect(updates.delivered).toHaveLength(1);
  });

  it("a failed PATCH (412) writes no outbox row, at the edge or when the transaction itself loses the race", async () => {
    const updates = await subscribed(["incident.updated"]);
    const { id, etag, historyLength } = await incident();
    const before = (await createStores(store, incidentPlanner).incidents.getIncident(id))!;
    expect((await call("PATCH", `/api/incidents/${id}`, { headers: { "if-match": etag }, body: { owner: "bob@contoso.com" } })).status).toBe(200);
    await worker.run();
    expect(updates.delivered).toHaveLength(1);

    // The If-Match names the version before that change: refused before any write.
    const refused = await call("PATCH", `/api/incidents/${id}`, { headers: { "if-match": etag }, body: { status: "Closed", classification: "FalsePositive" } });
    expect(refused.status).toBe(412);
    expect(await outboxRows()).toHaveLength(0);
    // A writer that read before that change and submits now: the incident's ETag condition
    // fails the whole transaction, the outbox row with it.
    const lost = await createStores(store, incidentPlanner).incidents.updateIncident(before, before.etag!, { status: "Closed", classification: "FalsePositive" }, "late@contoso.com", Date.now());
    expect(lost).toEqual({ ok: false, reason: "stale" });
    expect(await outboxRows()).toHaveLength(0);

    const now = await call("GET", `/api/incidents/${id}`);
    expect(now.body).toMatchObject({ status: "New", owner: "bob@contoso.com" });
    expect(now.body.history).toHaveLength(historyLength + 1);
    expect(await worker.run()).toMatchObject({ fannedOut: 0, attempted: 0 });
    expect(updates.delivered).toHaveLength(1);
  });

  it("a comment alone, or a PATCH that changes nothing, announces nothing", async () => {
    const updates = await subscribed(["incident.updated"]);
    const { id, etag, historyLength } = await incident();
    const commented = await call("PATCH", `/api/incidents/${id}`, { headers: { "if-match": etag }, body: { comment: "seen it" } });
    expect(commented.status).toBe(200);
    expect(commented.body.history).toHaveLength(historyLength + 1);
    const same = await call("PATCH", `/api/incidents/${id}`, { headers: { "if-match": commented.headers.etag! }, body: { status: "New" } });
    expect(same.status).toBe(200);
    expect(await outboxRows()).toHaveLength(0);
    await worker.run();
    expect(updates.received).toHaveLength(0);
  });
});
