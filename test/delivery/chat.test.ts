// Teams and Slack delivery end to end: alerts placed through the real IncidentRepository
// on Azurite, the real worker, and real HTTP receivers on 127.0.0.1 that answer 400 to
// any payload a Teams Workflows or Slack incoming webhook would refuse (payloads.ts:
// Adaptive Card 1.5 schema with Ajv, Block Kit limits). Time is an injected clock.
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { WebhookAdminDeps as AdminDeps } from "../../src/api/webhooks.js";
import { DeliveryRepository } from "../../src/delivery/deliveries.js";
import { WebhookTestEventSchema } from "../../src/delivery/schema.js";
import { SubscriptionRepository } from "../../src/delivery/subscriptions.js";
import type { TargetPolicy } from "../../src/delivery/targets.js";
import { DeliveryWorker } from "../../src/delivery/worker.js";
import type { Alert } from "../../src/engine/incidents.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import type { TableStore } from "../../src/store/tables.js";
import { factsOf, linkOf, slackProblems, teamsProblems } from "./payloads.js";
import { ADMIN, alert, freshStore, place, Receiver, webhookAdmin } from "./support.js";

const LOCAL: TargetPolicy = { allowHttp: true, allowPrivate: true };
const STRICT: TargetPolicy = { allowHttp: true, allowPrivate: false };
const T0 = Date.parse("2026-11-22T08:00:00Z");
const MIN = 60_000;
const CONSOLE = "https://tokenwatch.example.com/";
type ChatFormat = "teams" | "slack";

let azurite: AzuriteTables;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

let store: TableStore;
let clock: { t: number };
let receivers: Record<ChatFormat | "cloudevents", Receiver>;
const deps = (policy: TargetPolicy): AdminDeps => ({ subscriptions: new SubscriptionRepository(store), deliveries: new DeliveryRepository(store), policy, now: () => clock.t });
const admin = (policy = LOCAL) => webhookAdmin(store, deps(policy));
const worker = () => new DeliveryWorker(store, { policy: LOCAL, now: () => clock.t, random: () => 0.5, timeoutMs: 2_000, consoleUrl: CONSOLE });

beforeEach(async () => {
  store = freshStore(azurite.connectionString).store;
  clock = { t: T0 };
  receivers = { teams: new Receiver(), slack: new Receiver(), cloudevents: new Receiver() };
  receivers.teams.checkPayload = teamsProblems;
  receivers.slack.checkPayload = slackProblems;
  for (const r of Object.values(receivers)) await r.start();
});
afterEach(async () => {
  for (const r of Object.values(receivers)) await r.stop();
});

async function subscribe(format: ChatFormat | "cloudevents", body: Record<string, unknown> = {}) {
  const res = await admin().createSubscription({
    params: {},
    headers: {},
    principal: ADMIN,
    body: { url: receivers[format].url(), format, eventTypes: ["incident.created", "incident.updated", "incident.alertAdded"], ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const out = res.body as { subscription: { id: string; url: string | null; endpoint: string; etag: string }; secret: string | null };
  if (out.secret) receivers[format].secrets.push(out.secret);
  return out;
}

/** A pivot-rule alert: two IPs (the token's and the interactive sign-in's) and two countries. */
function pivot(account: string, time: number, ip: string, country: string): Omit<Alert, "incidentId"> {
  const base = alert(account, time, "High");
  return {
    ...base,
    ruleName: "Interactive to Non-Interactive Token Theft Pivot",
    ip,
    details: { InteractiveIP: "198.51.100.1", InteractiveCountry: "NL", NonInteractiveCountry: country },
    entities: [{ type: "account", name: account }, { type: "ip", address: ip }],
  };
}

describe("Teams and Slack delivery", () => {
  it.each<ChatFormat>(["teams", "slack"])("%s: a valid, unsigned message with every field and the console link", async (format) => {
    await subscribe(format);
    const placed = await place(store, [pivot("alice@contoso.com", T0 - 30 * MIN, "203.0.113.9", "US"), pivot("alice@contoso.com", T0 - 20 * MIN, "203.0.113.10", "BR")], clock.t);
    const id = placed.incidents[0]!.id;
    expect(await worker().run()).toMatchObject({ delivered: 1, failed: 0 });

    const [got] = receivers[format].delivered;
    expect(receivers[format].received).toHaveLength(1);
    expect(got!.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(Object.keys(got!.headers).filter((h) => h.startsWith("webhook-"))).toEqual([]);
    expect(factsOf(format, got!.body)).toEqual({
      Severity: "High",
      Account: "alice@contoso.com",
      Rule: "Interactive to Non-Interactive Token Theft Pivot",
      "IP addresses": "203.0.113.9, 198.51.100.1, 203.0.113.10",
      Countries: "NL, US, BR",
      "First alert": "2026-11-22 07:30:00 UTC",
      "Last alert": "2026-11-22 07:40:00 UTC",
      Alerts: "2",
      "New in this message": "2",
      Status: "New",
    });
    expect(linkOf(format, got!.body)).toBe(`https://tokenwatch.example.com/#/incident/${encodeURIComponent(id)}`);
  });

  it.each<ChatFormat>(["teams", "slack"])("%s: a throttled burst of 40 alerts on one incident gives 5 messages that count every alert", async (format) => {
    const sub = await subscribe(format, { throttleSeconds: 600 });
    // One alert a minute for 40 minutes, the worker running every minute, then 20 quiet minutes.
    for (let minute = 0; minute < 60; minute++) {
      if (minute < 40) await place(store, [pivot("bob@contoso.com", T0 + minute * MIN, `203.0.113.${minute}`, "US")], clock.t);
      await worker().run();
      clock.t += MIN;
    }
    const messages = receivers[format].delivered.map((m) => factsOf(format, m.body));
    // Minute 0: the new incident. Then at most one per 10 minutes, each carrying what
    // arrived since: alerts of minutes 1-10, 11-20, 21-30, 31-39.
    expect(messages.map((m) => Number(m["New in this message"]))).toEqual([1, 10, 10, 10, 9]);
    expect(messages.map((m) => Number(m.Alerts))).toEqual([1, 11, 21, 31, 40]);
    expect(messages.reduce((n, m) => n + Number(m["New in this message"]), 0)).toBe(40);
    expect(receivers[format].received).toHaveLength(5);
    // The delivery log: 40 events, all delivered, 35 of them within another's message.
    const log = await new DeliveryRepository(store).forSubscription(sub.subscription.id);
    expect(log).toHaveLength(40);
    expect(log.every((d) => d.status === "delivered")).toBe(true);
    expect(log.filter((d) => d.mergedInto).length).toBe(35);
  });

  it("honours a 429's Retry-After, and the retried message takes in what arrived meanwhile", async () => {
    const sub = await subscribe("slack", { throttleSeconds: 0 });
    receivers.slack.reply = (_r, n) => (n === 1 ? { status: 429, headers: { "retry-after": "120" } } : { status: 200 });
    await place(store, [pivot("carol@contoso.com", T0, "203.0.113.1", "US")], clock.t);
    expect(await worker().run()).toMatchObject({ attempted: 1, failed: 1 });
    const [head] = await new DeliveryRepository(store).forSubscription(sub.subscription.id);
    expect(head!.attempts[0]).toMatchObject({ statusCode: 429, retryAfterMs: 120_000 });
    expect(head!.nextAttemptAt).toBe(T0 + 120_000);

    clock.t = T0 + 60_000;
    await place(store, [pivot("carol@contoso.com", T0 + MIN, "203.0.113.2", "FR")], clock.t);
    clock.t = T0 + 119_000;
    expect(await worker().run()).toMatchObject({ attempted: 0 });
    clock.t = T0 + 120_000;
    expect(await worker().run()).toMatchObject({ attempted: 1, delivered: 1, merged: 1 });
    expect(receivers.slack.received).toHaveLength(2);
    const [message] = receivers.slack.delivered;
    expect(factsOf("slack", message!.body)).toMatchObject({ Alerts: "2", "New in this message": "2", Countries: "NL, US, FR" });
  });

  it("a redelivered message summarises again the events merged into it", async () => {
    const sub = await subscribe("teams", { throttleSeconds: 600 });
    await place(store, [pivot("dan@contoso.com", T0, "203.0.113.1", "US")], clock.t);
    await worker().run();
    clock.t += MIN;
    await place(store, [pivot("dan@contoso.com", T0 + MIN, "203.0.113.2", "US")], clock.t);
    clock.t += MIN;
    await place(store, [pivot("dan@contoso.com", T0 + 2 * MIN, "203.0.113.3", "US")], clock.t);
    clock.t = T0 + 10 * MIN;
    expect(await worker().run()).toMatchObject({ delivered: 1, merged: 1 });
    const log = await new DeliveryRepository(store).forSubscription(sub.subscription.id);
    const merged = log.find((d) => d.mergedInto)!;
    const head = log.find((d) => d.id === merged.mergedInto)!;
    const res = await admin().redeliver({ params: { id: sub.subscription.id, deliveryId: head.id }, headers: {}, principal: ADMIN });
    expect(res.status).toBe(202);
    // Still throttled: the last message went out at minute 10.
    clock.t = T0 + 19 * MIN;
    expect(await worker().run()).toMatchObject({ attempted: 0 });
    clock.t = T0 + 20 * MIN;
    expect(await worker().run()).toMatchObject({ delivered: 1 });
    const messages = receivers.teams.delivered.map((m) => factsOf("teams", m.body)["New in this message"]);
    expect(messages).toEqual(["1", "2", "2"]);
  });

  it("keeps a chat URL secret: no signing secret, never listed back, nothing to rotate", async () => {
    const created = await subscribe("teams");
    expect(created.secret).toBeNull();
    expect(created.subscription.url).toBeNull();
    expect(created.subscription.endpoint).toBe(`http://127.0.0.1:${receivers.teams.port}`);
    const h = admin();
    const listed = await h.listSubscriptions({ params: {}, headers: {}, principal: ADMIN });
    const got = await h.getSubscription({ params: { id: created.subscription.id }, headers: {}, principal: ADMIN });
    for (const res of [listed, got]) expect(JSON.stringify(res.body)).not.toContain(receivers.teams.url());
    const rotate = await h.rotateSecret({ params: { id: created.subscription.id }, headers: { "if-match": "*" }, principal: ADMIN, body: {} });
    expect(rotate.status).toBe(409);
    // The format is fixed; the throttle is for chat formats only.
    const patchFormat = await h.updateSubscription({ params: { id: created.subscription.id }, headers: { "if-match": "*" }, principal: ADMIN, body: { format: "slack" } });
    expect(patchFormat.status).toBe(400);
    // A replaced URL is write-only too.
    const replaced = await h.updateSubscription({
      params: { id: created.subscription.id },
      headers: { "if-match": "*" },
      principal: ADMIN,
      body: { url: receivers.teams.url("/replaced"), throttleSeconds: 60 },
    });
    expect(replaced).toMatchObject({ status: 200, body: { url: null, throttleSeconds: 60 } });
    expect((await new SubscriptionRepository(store).get(created.subscription.id))!.url).toBe(receivers.teams.url("/replaced"));
    const signed = await subscribe("cloudevents");
    const throttleSigned = await h.updateSubscription({ params: { id: signed.subscription.id }, headers: { "if-match": "*" }, principal: ADMIN, body: { throttleSeconds: 60 } });
    expect(throttleSigned.status).toBe(400);
    const ce = await admin().createSubscription({
      params: {},
      headers: {},
      principal: ADMIN,
      body: { url: receivers.cloudevents.url(), eventTypes: ["incident.created"], throttleSeconds: 60 },
    });
    expect(ce.status).toBe(400);
    expect(JSON.stringify(ce.body)).toContain("body.throttleSeconds");
  });
});

describe("send test message", () => {
  it.each<ChatFormat>(["teams", "slack"])("%s: posts a valid sample card now and reports the answer", async (format) => {
    const { subscription } = await subscribe(format);
    const res = await admin().sendTest({ params: { id: subscription.id }, headers: {}, principal: ADMIN });
    expect(res).toMatchObject({ status: 200, body: { delivered: true, statusCode: 204, error: null } });
    const [got] = receivers[format].delivered;
    expect(factsOf(format, got!.body)).toMatchObject({ Severity: "High", Account: "test.user@contoso.com" });
    // Outside the outbox: no delivery is recorded.
    expect(await new DeliveryRepository(store).forSubscription(subscription.id)).toEqual([]);
  });

  it("cloudevents: a signed test event the consumer verifies", async () => {
    const { subscription, secret } = await subscribe("cloudevents");
    const res = await admin().sendTest({ params: { id: subscription.id }, headers: {}, principal: ADMIN });
    expect(res).toMatchObject({ status: 200, body: { delivered: true, statusCode: 204 } });
    const [got] = receivers.cloudevents.delivered;
    expect(new Webhook(secret!).verify(JSON.stringify(got!.body), got!.headers)).toBeTruthy();
    expect(WebhookTestEventSchema.parse(got!.body)).toMatchObject({ type: "com.tokenwatch.webhook.test", subject: subscription.id });
  });

  it("reports a refused target or a failing endpoint instead of pretending", async () => {
    const { subscription } = await subscribe("slack");
    const refused = await admin(STRICT).sendTest({ params: { id: subscription.id }, headers: {}, principal: ADMIN });
    expect(refused.body).toMatchObject({ delivered: false, statusCode: null, error: expect.stringContaining("target refused") });
    receivers.slack.reply = () => ({ status: 404 });
    const notFound = await admin().sendTest({ params: { id: subscription.id }, headers: {}, principal: ADMIN });
    expect(notFound.body).toMatchObject({ delivered: false, statusCode: 404, error: "HTTP 404" });
    expect(receivers.slack.received).toHaveLength(1);
  });
});
