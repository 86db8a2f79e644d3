// Webhook delivery end to end: alerts placed through the real IncidentRepository on
// Azurite (outbox rows in the same transaction), the real worker, and a real HTTP
// receiver on 127.0.0.1 verifying every request with the `standardwebhooks` library.
// Time is an injected clock, never a sleep.
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { WebhookAdminDeps as AdminDeps } from "../../src/api/webhooks.js";
import { DeliveryRepository, type Delivery } from "../../src/delivery/deliveries.js";
import { OUTBOX, outboxEventFromEntity } from "../../src/store/outbox.js";
import { MAX_ATTEMPTS } from "../../src/delivery/schedule.js";
import { buildEvent, WebhookEventSchema } from "../../src/delivery/schema.js";
import { SubscriptionRepository } from "../../src/delivery/subscriptions.js";
import type { TargetPolicy } from "../../src/delivery/targets.js";
import { deliveryId, DeliveryWorker, type WorkerOptions } from "../../src/delivery/worker.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { IncidentRepository } from "../../src/store/incidents.js";
import { TableStore } from "../../src/store/tables.js";
import { ADMIN, alert, freshStore, place, Receiver, webhookAdmin } from "./support.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const LOCAL: TargetPolicy = { allowHttp: true, allowPrivate: true };
const T0 = Date.parse("2026-11-22T08:00:00Z");
const MIN = 60_000;
const HOUR = 3_600_000;

let azurite: AzuriteTables;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

interface Ctx {
  store: TableStore;
  prefix: string;
  receiver: Receiver;
  clock: { t: number };
  admin: ReturnType<typeof webhookAdmin>;
  deliveries: DeliveryRepository;
  worker(options?: Partial<WorkerOptions>, store?: TableStore): DeliveryWorker;
  subscribe(body?: Record<string, unknown>, policy?: TargetPolicy): Promise<{ id: string; secret: string }>;
}

let ctx: Ctx;
beforeEach(async () => {
  const { store, prefix } = freshStore(azurite.connectionString);
  const receiver = new Receiver();
  await receiver.start();
  const clock = { t: T0 };
  const deliveries = new DeliveryRepository(store);
  const adminDeps = (policy: TargetPolicy): AdminDeps => ({ subscriptions: new SubscriptionRepository(store), deliveries, policy, now: () => clock.t });
  const admin = webhookAdmin(store, adminDeps(LOCAL));
  ctx = {
    store,
    prefix,
    receiver,
    clock,
    admin,
    deliveries,
    worker: (options = {}, s = store) => new DeliveryWorker(s, { policy: LOCAL, now: () => clock.t, random: () => 0.5, timeoutMs: 2_000, ...options }),
    async subscribe(body = {}, policy = LOCAL) {
      const res = await webhookAdmin(store, adminDeps(policy)).createSubscription({
        params: {},
        headers: {},
        principal: ADMIN,
        body: { url: receiver.url(), eventTypes: ["incident.created", "incident.updated", "incident.alertAdded"], ...body },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const out = res.body as { subscription: { id: string }; secret: string };
      receiver.secrets.push(out.secret);
      return { id: out.subscription.id, secret: out.secret };
    },
  };
});
afterEach(async () => {
  await ctx.receiver.stop();
});

async function outboxRows(store: TableStore) {
  return store.list("Incidents", `RowKey ge '${OUTBOX}' and RowKey lt 'outbox;'`);
}

async function allDeliveries(subscriptionId: string): Promise<Delivery[]> {
  return ctx.deliveries.forSubscription(subscriptionId);
}

describe("webhook delivery", () => {
  it("delivers a signed CloudEvent for each incident change, to matching subscriptions only", async () => {
    const sub = await ctx.subscribe();
    const highOnly = await ctx.subscribe({ minSeverity: "High" });
    const createdOnly = await ctx.subscribe({ eventTypes: ["incident.created"] });
    const a1 = alert("alice@contoso.com", T0 - 30 * MIN);
    const a2 = alert("alice@contoso.com", T0 - 20 * MIN);
    const placed = await place(ctx.store, [a1, a2], ctx.clock.t);
    expect(placed.incidents).toHaveLength(1);
    // The announcement is stored with the incident, before any delivery runs.
    expect(await outboxRows(ctx.store)).toHaveLength(1);

    const report = await ctx.worker().run();
    expect(report).toMatchObject({ fannedOut: 1, deliveriesCreated: 2, delivered: 2, failed: 0 });
    expect(await outboxRows(ctx.store)).toHaveLength(0);

    const got = ctx.receiver.delivered;
    expect(got).toHaveLength(2);
    for (const r of got) {
      const event = WebhookEventSchema.parse(r.body);
      expect(event).toMatchObject({ specversion: "1.0", type: "com.tokenwatch.incident.created", source: "/tokenwatch/incidents", datacontenttype: "application/json" });
      expect(event.data.incident.id).toBe(placed.incidents[0]!.id);
      expect(event.data.alerts.map((a) => a.id)).toEqual([a1.id, a2.id]);
      expect(event.data.entities).toEqual([
        { type: "account", name: "alice", upnSuffix: "contoso.com" },
        { type: "ip", address: "198.51.100.7" },
      ]);
      expect(r.headers["content-type"]).toBe("application/cloudevents+json; charset=utf-8");
    }
    expect(new Set(got.map((r) => r.id))).toEqual(new Set([deliveryId(got[0]!.body.id, sub.id), deliveryId(got[0]!.body.id, createdOnly.id)]));
    expect(await allDeliveries(highOnly.id)).toEqual([]);

    // An alert joining the incident: alertAdded, with just the new alert.
    ctx.clock.t += HOUR;
    const a3 = alert("alice@contoso.com", T0 + 10 * MIN);
    await place(ctx.store, [a3], ctx.clock.t);
    await ctx.worker().run();
    expect(got).toHaveLength(3);
    const added = WebhookEventSchema.parse(got[2]!.body);
    expect(added.type).toBe("com.tokenwatch.incident.alertAdded");
    expect(added.data.alerts.map((a) => a.id)).toEqual([a3.id]);
    expect(added.data.incident.alertCount).toBe(3);

    const log = await allDeliveries(sub.id);
    expect(log).toHaveLength(2);
    expect(log.every((d) => d.status === "delivered" && d.attempts.length === 1 && d.attempts[0]!.statusCode === 204)).toBe(true);
    // Running again sends nothing more.
    expect(await ctx.worker().run()).toMatchObject({ fannedOut: 0, attempted: 0 });
  });

  it("a receiver down for hours then back gets everything, in order per incident, none lost", async () => {
    const sub = await ctx.subscribe();
    const accounts = ["a@contoso.com", "b@contoso.com", "c@contoso.com"];
    await ctx.receiver.stop();
    const expected = new Map<string, number>();
    // Three changes per incident while the receiver is down, the worker running every 15 min.
    for (let round = 0; round < 3; round++) {
      await place(ctx.store, accounts.map((a) => alert(a, T0 + round * 10 * MIN)), ctx.clock.t);
      for (let i = 0; i < 3; i++) {
        await ctx.worker().run();
        ctx.clock.t += 15 * MIN;
      }
    }
    for (let i = 0; i < 4; i++) {
      await ctx.worker().run();
      ctx.clock.t += 15 * MIN;
    }
    const during = await allDeliveries(sub.id);
    expect(during).toHaveLength(9);
    for (const d of during) expected.set(d.eventId, d.seq);
    expect(during.every((d) => d.status === "pending")).toBe(true);
    // Only the oldest change of each incident was tried; the later ones wait behind it.
    const tried = during.filter((d) => d.attemptCount > 0);
    expect(tried).toHaveLength(3);
    expect(tried.every((d) => d.seq === 1 && d.attempts.every((a) => a.statusCode === null && a.error !== null))).toBe(true);

    await ctx.receiver.restart();
    for (let i = 0; i < 20 && (await ctx.deliveries.pending()).length > 0; i++) {
      ctx.clock.t += HOUR;
      await ctx.worker().run();
    }
    const got = ctx.receiver.delivered;
    expect(new Set(got.map((r) => r.body.id))).toEqual(new Set(expected.keys()));
    expect(got).toHaveLength(9);
    const byIncident = new Map<string, number[]>();
    for (const r of got) {
      const seqs = byIncident.get(r.body.subject) ?? [];
      seqs.push(r.body.data.incident.alertCount);
      byIncident.set(r.body.subject, seqs);
    }
    expect([...byIncident.values()]).toEqual([
      [1, 2, 3],
      [1, 2, 3],
      [1, 2, 3],
    ]);
    expect((await allDeliveries(sub.id)).every((d) => d.status === "delivered")).toBe(true);
  });

  it("retries 500s with the same webhook-id until the receiver accepts", async () => {
    const sub = await ctx.subscribe();
    ctx.receiver.reply = (_r, n) => (n <= 2 ? { status: 500 } : { status: 200 });
    await place(ctx.store, [alert("dave@contoso.com", T0)], ctx.clock.t);
    const worker = ctx.worker();
    expect(await worker.run()).toMatchObject({ attempted: 1, failed: 1 });
    // Not due yet: nothing is sent.
    expect(await worker.run()).toMatchObject({ attempted: 0 });
    for (let i = 0; i < 5 && ctx.receiver.delivered.length === 0; i++) {
      ctx.clock.t += 12 * HOUR;
      await worker.run();
    }
    const [d] = await allDeliveries(sub.id);
    expect(d!.status).toBe("delivered");
    expect(d!.attempts.map((a) => a.statusCode)).toEqual([500, 500, 200]);
    expect(d!.attempts[0]!.error).toBe("HTTP 500");
    expect(ctx.receiver.received.map((r) => r.headers["webhook-id"])).toEqual([d!.id, d!.id, d!.id]);
    expect(ctx.receiver.received.every((r) => r.verifiedWith === sub.secret)).toBe(true);
    // Each retry is signed afresh over the same bytes.
    expect(new Set(ctx.receiver.received.map((r) => r.body)).size).toBe(1);
  });

  it("gives up on a slow receiver at the per-attempt timeout and retries later", async () => {
    const sub = await ctx.subscribe();
    ctx.receiver.reply = (_r, n) => (n === 1 ? "hang" : { status: 202 });
    await place(ctx.store, [alert("erin@contoso.com", T0)], ctx.clock.t);
    expect(await ctx.worker({ timeoutMs: 300 }).run()).toMatchObject({ attempted: 1, failed: 1 });
    const [d] = await allDeliveries(sub.id);
    expect(d!.status).toBe("pending");
    expect(d!.attempts[0]).toMatchObject({ statusCode: null, error: "timeout after 300 ms" });
    expect(d!.nextAttemptAt).toBeGreaterThan(ctx.clock.t);
    ctx.clock.t += HOUR;
    await ctx.worker({ timeoutMs: 300 }).run();
    expect((await allDeliveries(sub.id))[0]!.status).toBe("delivered");
  });

  it("honours Retry-After on 429 (seconds) and 503 (HTTP date)", async () => {
    const sub = await ctx.subscribe();
    ctx.receiver.reply = (_r, n) =>
      n === 1
        ? { status: 429, headers: { "retry-after": "120" } }
        : n === 2
          ? { status: 503, headers: { "retry-after": new Date(ctx.clock.t + 40 * MIN).toUTCString() } }
          : { status: 200 };
    await place(ctx.store, [alert("frank@contoso.com", T0)], ctx.clock.t);
    const start = ctx.clock.t;
    await ctx.worker().run();
    let [d] = await allDeliveries(sub.id);
    expect(d!.attempts[0]).toMatchObject({ statusCode: 429, retryAfterMs: 120_000 });
    expect(d!.nextAttemptAt).toBe(start + 120_000);
    ctx.clock.t = start + 119_000;
    expect(await ctx.worker().run()).toMatchObject({ attempted: 0 });
    ctx.clock.t = start + 120_000;
    await ctx.worker().run();
    [d] = await allDeliveries(sub.id);
    expect(d!.attempts[1]).toMatchObject({ statusCode: 503, retryAfterMs: 40 * MIN });
    expect(d!.nextAttemptAt).toBe(ctx.clock.t + 40 * MIN);
    ctx.clock.t += 40 * MIN;
    await ctx.worker().run();
    expect((await allDeliveries(sub.id))[0]!.status).toBe("delivered");
  });

  it("loses nothing when the process dies between the outbox write and sending", async () => {
    const sub = await ctx.subscribe();
    // Process 1 places alerts (the outbox rows commit with the incidents) and dies.
    const first = new TableStore({ connectionString: azurite.connectionString, tablePrefix: ctx.prefix });
    const placed = await place(first, [alert("gina@contoso.com", T0), alert("hank@contoso.com", T0)], ctx.clock.t);
    expect(await outboxRows(first)).toHaveLength(2);
    // Process 2: a new store and worker find the announcements and deliver them.
    const second = new TableStore({ connectionString: azurite.connectionString, tablePrefix: ctx.prefix });
    expect(await ctx.worker({}, second).run()).toMatchObject({ fannedOut: 2, delivered: 2 });
    expect(new Set(ctx.receiver.delivered.map((r) => r.body.subject))).toEqual(new Set(placed.incidents.map((i) => i.id)));
  });

  it("sends once when a fan-out died after recording deliveries but before clearing the outbox", async () => {
    const sub = await ctx.subscribe();
    await place(ctx.store, [alert("ivan@contoso.com", T0)], ctx.clock.t);
    // What a fan-out that died before deleting the outbox row leaves behind: the delivery
    // is recorded, the outbox row is still there.
    const [row] = await outboxRows(ctx.store);
    const incident = outboxEventFromEntity(row as Parameters<typeof outboxEventFromEntity>[0]).incident;
    const eventId = row!.rowKey!.slice(OUTBOX.length);
    const alerts = await new IncidentRepository(ctx.store, incidentPlanner).listAlerts(`PartitionKey eq '${row!.partitionKey}'`);
    const body = JSON.stringify(buildEvent({ id: eventId, type: "incident.created", time: ctx.clock.t, incident, alerts }));
    await ctx.deliveries.createIfAbsent(
      {
        id: deliveryId(eventId, sub.id),
        subscriptionId: sub.id,
        eventId,
        eventType: "incident.created",
        incidentId: incident.id,
        account: incident.account,
        eventTime: ctx.clock.t,
        seq: 1,
        status: "pending",
        attemptCount: 0,
        firstAttemptAt: 0,
        nextAttemptAt: ctx.clock.t,
        createdAt: ctx.clock.t,
        updatedAt: ctx.clock.t,
        attempts: [],
      },
      body,
    );
    expect(await ctx.worker().run()).toMatchObject({ fannedOut: 1, deliveriesCreated: 0, delivered: 1 });
    expect(ctx.receiver.delivered).toHaveLength(1);
    expect(await outboxRows(ctx.store)).toHaveLength(0);
  });

  it("lets the consumer reject forged and replayed messages", async () => {
    const sub = await ctx.subscribe();
    await place(ctx.store, [alert("judy@contoso.com", T0)], ctx.clock.t);
    // Signed 10 minutes ago (a replay of a captured message looks like this): the
    // receiver's standardwebhooks check refuses it, and the attempt is logged as failed.
    await ctx.worker({ wallClock: () => Date.now() - 10 * MIN }).run();
    expect(ctx.receiver.received).toHaveLength(1);
    expect(ctx.receiver.received[0]!.verifiedWith).toBeNull();
    expect(ctx.receiver.received[0]!.error).toMatch(/timestamp/i);
    const [d] = await allDeliveries(sub.id);
    expect(d!.attempts[0]!.statusCode).toBe(401);

    ctx.clock.t += HOUR;
    await ctx.worker().run();
    const good = ctx.receiver.delivered[0]!;
    const verifier = new Webhook(sub.secret);
    const raw = ctx.receiver.received.at(-1)!;
    expect(() => verifier.verify(raw.body, raw.headers)).not.toThrow();
    // Forged: a changed body, another id, or a signature made with another secret.
    expect(() => verifier.verify(raw.body.replace("judy", "mallory"), raw.headers)).toThrow();
    expect(() => verifier.verify(raw.body, { ...raw.headers, "webhook-id": "msg_other" })).toThrow();
    const forged = new Webhook("whsec_" + Buffer.alloc(32, 7).toString("base64")).sign(good.id, new Date(), raw.body);
    expect(() => verifier.verify(raw.body, { ...raw.headers, "webhook-signature": forged })).toThrow();
  });

  it("signs with both secrets during a rotation's overlap, then with the new one only", async () => {
    const sub = await ctx.subscribe();
    const current = await ctx.admin.getSubscription({ params: { id: sub.id }, headers: {}, principal: ADMIN });
    const rotated = await ctx.admin.rotateSecret({
      params: { id: sub.id },
      headers: { "if-match": (current.headers as Record<string, string>).etag! },
      principal: ADMIN,
      body: { overlapSeconds: 3600 },
    });
    expect(rotated.status).toBe(200);
    const newSecret = (rotated.body as { secret: string }).secret;
    expect(newSecret).not.toBe(sub.secret);

    await place(ctx.store, [alert("kim@contoso.com", T0)], ctx.clock.t);
    await ctx.worker().run();
    const during = ctx.receiver.received.at(-1)!;
    expect(during.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    expect(() => new Webhook(sub.secret).verify(during.body, during.headers)).not.toThrow();
    expect(() => new Webhook(newSecret).verify(during.body, during.headers)).not.toThrow();

    ctx.clock.t += 2 * HOUR;
    await place(ctx.store, [alert("lee@contoso.com", T0 + 2 * HOUR)], ctx.clock.t);
    await ctx.worker().run();
    const after = ctx.receiver.received.at(-1)!;
    expect(after.headers["webhook-signature"]!.split(" ")).toHaveLength(1);
    expect(() => new Webhook(newSecret).verify(after.body, after.headers)).not.toThrow();
    expect(() => new Webhook(sub.secret).verify(after.body, after.headers)).toThrow();
  });

  it("refuses private targets unless the operator allows them, checking the resolved address at every attempt", async () => {
    const strict: TargetPolicy = { allowHttp: true, allowPrivate: false };
    const strictAdmin = webhookAdmin(ctx.store, { subscriptions: new SubscriptionRepository(ctx.store), deliveries: ctx.deliveries, policy: strict, now: () => ctx.clock.t });
    for (const url of [ctx.receiver.url(), "https://169.254.169.254/latest", "https://[fd00:ec2::254]/", "http://localhost:8080/"]) {
      const res = await strictAdmin.createSubscription({ params: {}, headers: {}, principal: ADMIN, body: { url, eventTypes: ["incident.created"] } });
      expect(res.status, url).toBe(400);
      expect(JSON.stringify(res.body)).toMatch(/private, loopback, link-local or metadata/);
    }
    // A subscription stored while private targets were allowed, delivered without the flag.
    const sub = await ctx.subscribe();
    await place(ctx.store, [alert("mia@contoso.com", T0)], ctx.clock.t);
    await ctx.worker({ policy: strict }).run();
    const [d] = await allDeliveries(sub.id);
    expect(d!.status).toBe("pending");
    expect(d!.attempts[0]!.error).toMatch(/^target refused: address 127\.0\.0\.1 is private/);
    // A public-looking name that resolves to a private address (DNS rebinding) is refused too.
    await ctx.admin.updateSubscription({
      params: { id: sub.id },
      headers: { "if-match": "*" },
      principal: ADMIN,
      body: { url: `http://hooks.example.com:${ctx.receiver.port}/hook` },
    });
    ctx.clock.t += HOUR;
    await ctx.worker({ policy: strict, resolver: async () => [{ address: "127.0.0.1", family: 4 }] }).run();
    const [d2] = await allDeliveries(sub.id);
    expect(d2!.attempts[1]!.error).toMatch(/hooks.example.com resolves to 127.0.0.1/);
    expect(ctx.receiver.received).toHaveLength(0);
    // With the operator's flag, the same name connects to the address it was checked at.
    ctx.clock.t += HOUR;
    await ctx.worker({ resolver: async () => [{ address: "127.0.0.1", family: 4 }] }).run();
    expect(ctx.receiver.delivered).toHaveLength(1);
    expect(ctx.receiver.delivered[0]!.headers.host).toBe(`hooks.example.com:${ctx.receiver.port}`);
  });

  it("does not follow redirects", async () => {
    const sub = await ctx.subscribe();
    ctx.receiver.reply = (r) => (r.path === "/hook" ? { status: 302, headers: { location: ctx.receiver.url("/elsewhere") } } : { status: 200 });
    await place(ctx.store, [alert("ned@contoso.com", T0)], ctx.clock.t);
    await ctx.worker().run();
    const [d] = await allDeliveries(sub.id);
    expect(d!.attempts[0]).toMatchObject({ statusCode: 302, error: "redirect (302) not followed" });
    expect(d!.status).toBe("pending");
    expect(ctx.receiver.received.map((r) => r.path)).toEqual(["/hook"]);
  });

  it("dead-letters after the last attempt, lets later changes through, and redelivers on request", async () => {
    const sub = await ctx.subscribe();
    let up = false;
    ctx.receiver.reply = () => (up ? { status: 200 } : { status: 500 });
    await place(ctx.store, [alert("olga@contoso.com", T0)], ctx.clock.t);
    for (let i = 0; i < MAX_ATTEMPTS + 5; i++) {
      await ctx.worker().run();
      ctx.clock.t += 13 * HOUR;
      if ((await ctx.deliveries.pending()).length === 0) break;
    }
    let [dead] = await allDeliveries(sub.id);
    expect(dead!.status).toBe("dead");
    expect(dead!.attemptCount).toBeGreaterThanOrEqual(MAX_ATTEMPTS);
    expect(ctx.clock.t - dead!.firstAttemptAt).toBeGreaterThanOrEqual(24 * HOUR);

    // A later change to the same incident is not held back by the dead one.
    up = true;
    await place(ctx.store, [alert("olga@contoso.com", T0 + 60 * MIN)], ctx.clock.t);
    await ctx.worker().run();
    expect(ctx.receiver.delivered.map((r) => r.body.type)).toEqual(["com.tokenwatch.incident.alertAdded"]);

    // The delivery log, then a redelivery of the dead-lettered one: same webhook-id.
    const log = await ctx.admin.listDeliveries({ params: { id: sub.id }, query: { status: "dead" }, headers: {}, principal: ADMIN });
    const items = (log.body as { items: { id: string; attempts: { statusCode: number | null; latencyMs: number }[] }[] }).items;
    expect(items).toHaveLength(1);
    expect(items[0]!.attempts.every((a) => a.statusCode === 500 && a.latencyMs >= 0)).toBe(true);
    const res = await ctx.admin.redeliver({ params: { id: sub.id, deliveryId: items[0]!.id }, headers: {}, principal: ADMIN });
    expect(res.status).toBe(202);
    await ctx.worker().run();
    [dead] = (await allDeliveries(sub.id)).filter((d) => d.id === items[0]!.id);
    expect(dead!.status).toBe("delivered");
    expect(ctx.receiver.delivered.at(-1)!.id).toBe(items[0]!.id);
    expect(ctx.receiver.delivered.at(-1)!.body.type).toBe("com.tokenwatch.incident.created");
    // A delivered one can be redelivered too.
    expect((await ctx.admin.redeliver({ params: { id: sub.id, deliveryId: items[0]!.id }, headers: {}, principal: ADMIN })).status).toBe(202);
    await ctx.worker().run();
    expect(ctx.receiver.delivered.filter((r) => r.id === items[0]!.id)).toHaveLength(2);
  });
});

describe("webhook administration", () => {
  it("shows a secret once, never again, and checks role, input and If-Match", async () => {
    const created = await ctx.admin.createSubscription({
      params: {},
      headers: {},
      principal: ADMIN,
      body: { url: "https://hooks.example.com/tokenwatch", eventTypes: ["incident.created"], minSeverity: "Medium", description: "SOAR" },
    });
    expect(created.status).toBe(201);
    const { subscription, secret } = created.body as { subscription: { id: string; etag: string }; secret: string };
    expect(secret).toMatch(/^whsec_/);

    const list = await ctx.admin.listSubscriptions({ params: {}, headers: {}, principal: ADMIN });
    const got = await ctx.admin.getSubscription({ params: { id: subscription.id }, headers: {}, principal: ADMIN });
    for (const res of [list, got]) {
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body)).not.toContain(secret.slice(6, 20));
      expect(JSON.stringify(res.body)).not.toContain("whsec_");
    }
    expect(got.body).toMatchObject({ url: "https://hooks.example.com/tokenwatch", minSeverity: "Medium", enabled: true, createdBy: ADMIN.name });

    const reader = { id: "r", name: "reader@contoso.com", roles: ["Incidents.Read"] };
    expect((await ctx.admin.listSubscriptions({ params: {}, headers: {}, principal: reader })).status).toBe(403);
    expect((await ctx.admin.listSubscriptions({ params: {}, headers: {}, principal: null })).status).toBe(401);

    const bad = await ctx.admin.createSubscription({ params: {}, headers: {}, principal: ADMIN, body: { url: "not a url", eventTypes: ["incident.deleted"], extra: 1 } });
    expect(bad.status).toBe(400);
    const fields = (bad.body as { errors: { field: string }[] }).errors.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(["body.url", "body.eventTypes.0"]));

    const noMatch = await ctx.admin.updateSubscription({ params: { id: subscription.id }, headers: {}, principal: ADMIN, body: { enabled: false } });
    expect(noMatch.status).toBe(428);
    const staleRes = await ctx.admin.updateSubscription({ params: { id: subscription.id }, headers: { "if-match": '"bm9wZQ"' }, principal: ADMIN, body: { enabled: false } });
    expect(staleRes.status).toBe(412);
    const ok = await ctx.admin.updateSubscription({ params: { id: subscription.id }, headers: { "if-match": subscription.etag }, principal: ADMIN, body: { enabled: false } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ enabled: false });

    const rotated = await ctx.admin.rotateSecret({ params: { id: subscription.id }, headers: { "if-match": "*" }, principal: ADMIN, body: {} });
    const newSecret = (rotated.body as { secret: string }).secret;
    expect(newSecret).toMatch(/^whsec_/);
    const again = await ctx.admin.getSubscription({ params: { id: subscription.id }, headers: {}, principal: ADMIN });
    expect(JSON.stringify(again.body)).not.toContain("whsec_");
    expect((again.body as { secrets: unknown[] }).secrets).toHaveLength(2);

    const del = await ctx.admin.deleteSubscription({ params: { id: subscription.id }, headers: { "if-match": "*" }, principal: ADMIN });
    expect(del.status).toBe(204);
    expect((await ctx.admin.getSubscription({ params: { id: subscription.id }, headers: {}, principal: ADMIN })).status).toBe(404);
  });

  it("keeps a disabled subscription's deliveries waiting and returns the payload sent", async () => {
    const sub = await ctx.subscribe();
    await place(ctx.store, [alert("pat@contoso.com", T0)], ctx.clock.t);
    await ctx.admin.updateSubscription({ params: { id: sub.id }, headers: { "if-match": "*" }, principal: ADMIN, body: { enabled: false } });
    // Disabled: events are not fanned out to it.
    expect(await ctx.worker().run()).toMatchObject({ fannedOut: 1, deliveriesCreated: 0 });
    await ctx.admin.updateSubscription({ params: { id: sub.id }, headers: { "if-match": "*" }, principal: ADMIN, body: { enabled: true } });
    await place(ctx.store, [alert("pat@contoso.com", T0 + MIN)], ctx.clock.t);
    await ctx.worker().run();
    const [d] = await allDeliveries(sub.id);
    const res = await ctx.admin.getDelivery({ params: { id: sub.id, deliveryId: d!.id }, headers: {}, principal: ADMIN });
    expect(res.status).toBe(200);
    const body = res.body as { payload: unknown; attempts: unknown[]; status: string };
    expect(WebhookEventSchema.parse(body.payload).type).toBe("com.tokenwatch.incident.alertAdded");
    expect(body.status).toBe("delivered");
  });
});
