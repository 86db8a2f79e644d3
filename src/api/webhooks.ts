// Webhook administration as API routes under /api/webhooks, admin role only: subscriptions
// CRUD, secret rotation, the delivery log, redelivery, a test message, and the payload's
// JSON Schema (GET /webhooks/event-schema; the OpenAPI document describes the events in its
// `webhooks` section). Built like every other route group: the router checks the role and
// validates query and body, errors are HttpErrors (RFC 9457 problems), writes take If-Match.
// Secrets appear in exactly two responses: create and rotate. A Teams or Slack URL in none.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { flatActor } from "../model/actor.js";
import { FORMATS, isChat, testSummary } from "../delivery/chat.js";
import { DELIVERY_STATUSES, type Attempt, type Delivery, type DeliveryRepository } from "../delivery/deliveries.js";
import { chatRequest, signedEvent } from "../delivery/message.js";
import { buildTestEvent, EVENT_TYPES, WebhookEventSchema } from "../delivery/schema.js";
import { send } from "../delivery/send.js";
import { publicView, type SubscriptionRepository, type SubscriptionWithSecrets } from "../delivery/subscriptions.js";
import { checkUrl, resolveTarget, TargetRefused, type Resolver, type TargetPolicy } from "../delivery/targets.js";
import { DEFAULT_TIMEOUT_MS } from "../delivery/worker.js";
import { Severity } from "../model/severity.js";
import { HttpError, notFound, route, type ApiRequest, type RouteDef } from "./router.js";
import { actorFields, JsonSchemaDocumentSchema } from "./schemas.js";
import { httpEtag, iso, stale, writeIfMatch } from "./tokens.js";

export interface WebhookAdminDeps {
  subscriptions: SubscriptionRepository;
  deliveries: DeliveryRepository;
  policy: TargetPolicy;
  now(): number;
  resolver?: Resolver;
  /** The clock behind a test message's `webhook-timestamp` (default Date.now). */
  wallClock?: () => number;
  /** A test message's timeout (default the worker's). */
  timeoutMs?: number;
}

// ---- schemas ----

const Url = z.url({ protocol: /^https?$/ }).max(2048);
const Throttle = z
  .number()
  .int()
  .min(0)
  .max(86_400)
  .meta({ description: "teams and slack only: at most one message per incident per this many seconds; events in between are summarised in the next message (default 300)" });
export const DEFAULT_THROTTLE_SECONDS = 300;
export const SubscriptionCreateBody = z
  .strictObject({
    url: Url.meta({ description: "HTTPS endpoint receiving the events: your receiver, a Teams Workflows webhook URL, or a Slack incoming-webhook URL" }),
    format: z.enum(FORMATS).optional().meta({ description: "cloudevents (signed CloudEvents, the default), teams (Adaptive Card) or slack (Block Kit); fixed at creation" }),
    throttleSeconds: Throttle.optional(),
    description: z.string().max(500).optional(),
    eventTypes: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length),
    minSeverity: Severity.optional().meta({ description: "events about incidents below this severity are not sent (default Informational)" }),
    enabled: z.boolean().optional(),
  })
  .refine((b) => b.throttleSeconds === undefined || (b.format !== undefined && isChat(b.format)), {
    message: "throttleSeconds applies to teams and slack subscriptions only: a cloudevents consumer gets every event",
    path: ["throttleSeconds"],
  });
export const SubscriptionPatchBody = z
  .strictObject({
    url: Url.optional(),
    throttleSeconds: Throttle.optional(),
    description: z.string().max(500).optional(),
    eventTypes: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length).optional(),
    minSeverity: Severity.optional(),
    enabled: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "give at least one field to change" });
export const RotateBody = z.strictObject({
  overlapSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .optional()
    .meta({ description: "how long the previous secret keeps signing next to the new one (default 86400, at most 7 days)" }),
});
export const DeliveriesQuery = z.strictObject({
  status: z.enum(DELIVERY_STATUSES).optional(),
  incidentId: z.string().min(1).max(128).optional(),
  limit: z.union([z.string().regex(/^\d{1,3}$/), z.number().int()]).optional().meta({ description: "page size, 1 to 200 (default 50)" }),
});

const time = z.string().meta({ description: "RFC 3339 timestamp" });
export const SubscriptionSchema = z
  .object({
    id: z.string(),
    url: z.string().nullable().describe("null for teams and slack: their URL is a credential and is never returned"),
    endpoint: z.string().describe("scheme and host of the URL"),
    format: z.enum(FORMATS),
    throttleSeconds: z.number().int().describe("teams and slack: at most one message per incident per this many seconds; 0 for cloudevents"),
    description: z.string(),
    eventTypes: z.array(z.enum(EVENT_TYPES)),
    minSeverity: Severity,
    enabled: z.boolean(),
    createdAt: time,
    updatedAt: time,
    ...actorFields("createdBy"),
    ...actorFields("updatedBy"),
    secrets: z.array(z.object({ createdAt: time, expiresAt: time.nullable() })).describe("signing secrets in use (values are never returned after creation)"),
    etag: z.string(),
  })
  .meta({ title: "WebhookSubscription" });
export const SubscriptionWithSecretSchema = z.object({
  subscription: SubscriptionSchema,
  secret: z.string().nullable().describe("whsec_… signing secret: shown this once, store it now (null for teams and slack, which are not signed)"),
});
export const TestResultSchema = z
  .object({
    delivered: z.boolean().describe("the endpoint answered 2xx"),
    statusCode: z.number().int().nullable(),
    latencyMs: z.number().int(),
    error: z.string().nullable(),
  })
  .meta({ title: "WebhookTestResult" });
export const AttemptSchema = z.object({
  at: time,
  statusCode: z.number().int().nullable(),
  latencyMs: z.number().int(),
  error: z.string().nullable(),
  retryAfterMs: z.number().int().optional(),
});
export const DeliverySchema = z
  .object({
    id: z.string().describe("the webhook-id header: the same on every attempt"),
    subscriptionId: z.string(),
    eventId: z.string(),
    eventType: z.enum(EVENT_TYPES),
    incidentId: z.string(),
    account: z.string(),
    eventTime: time,
    status: z.enum(DELIVERY_STATUSES),
    attemptCount: z.number().int(),
    nextAttemptAt: time.nullable(),
    createdAt: time,
    updatedAt: time,
    attempts: z.array(AttemptSchema),
    mergedInto: z.string().nullable().describe("teams and slack: the delivery whose message summarised this event"),
    etag: z.string(),
  })
  .meta({ title: "WebhookDelivery" });
export const DeliveryDetailSchema = DeliverySchema.extend({
  payload: WebhookEventSchema.describe("the event; for teams and slack, the message sent was built from it (and the events merged into it)"),
});

// ---- views ----

function subscriptionView(s: SubscriptionWithSecrets) {
  const v = publicView(s);
  return {
    ...v,
    ...flatActor("createdBy", v.createdBy),
    ...flatActor("updatedBy", v.updatedBy),
    createdAt: iso(v.createdAt),
    updatedAt: iso(v.updatedAt),
    secrets: v.secrets.map((x) => ({ createdAt: iso(x.createdAt), expiresAt: x.expiresAt === null ? null : iso(x.expiresAt) })),
    etag: httpEtag(s.etag),
  };
}

const attemptView = (a: Attempt) => ({ ...a, at: iso(a.at) });

function deliveryView(d: Delivery) {
  return {
    id: d.id,
    subscriptionId: d.subscriptionId,
    eventId: d.eventId,
    eventType: d.eventType,
    incidentId: d.incidentId,
    account: d.account,
    eventTime: iso(d.eventTime),
    status: d.status,
    attemptCount: d.attemptCount,
    nextAttemptAt: d.status === "pending" ? iso(d.nextAttemptAt) : null,
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    attempts: d.attempts.map(attemptView),
    mergedInto: d.mergedInto ?? null,
    etag: httpEtag(d.etag),
  };
}

// ---- checks ----

const fieldError = (field: string, message: string) => new HttpError(400, `${field}: ${message}`, [{ field, message }]);

async function checkTarget(deps: WebhookAdminDeps, url: string): Promise<void> {
  try {
    checkUrl(url, deps.policy);
    await resolveTarget(url, deps.policy, deps.resolver);
  } catch (error) {
    if (!(error instanceof TargetRefused)) throw error;
    // A name that does not resolve yet is accepted: every attempt resolves and checks again.
    if (error.message.startsWith("cannot resolve")) return;
    throw fieldError("body.url", error.message);
  }
}

const subscriptionMissing = (id: string) => notFound(`webhook subscription ${id}`);

async function loadSubscription(deps: WebhookAdminDeps, id: string): Promise<SubscriptionWithSecrets> {
  const sub = await deps.subscriptions.get(id);
  if (!sub) throw subscriptionMissing(id);
  return sub;
}

/** A conditional write's outcome, or its problem: 404 when the subscription is gone, 412 when it changed. */
function written<T>(id: string, result: { ok: true; value: T } | { ok: false; reason: string }): T {
  if (!result.ok) throw result.reason === "missing" ? subscriptionMissing(id) : stale();
  return result.value;
}

function testRequest(sub: SubscriptionWithSecrets, now: number, wallClock: number) {
  if (isChat(sub.format)) return chatRequest(sub.format, testSummary(now));
  const id = `msg_${randomUUID().replace(/-/g, "")}`;
  return signedEvent(sub, id, JSON.stringify(buildTestEvent(id, sub.id, now)), now, wallClock);
}

// ---- routes ----

const ADMIN = ["Tokenwatch.Admin"] as const;
const group = "webhooks";
const IF_MATCH = [{ name: "If-Match", required: true, description: "the ETag of your last read (or *)" }];
const idOf = (req: ApiRequest<unknown, unknown>) => req.params.id ?? "";

export function webhookRoutes(deps: WebhookAdminDeps): RouteDef[] {
  return [
    route({
      method: "GET",
      path: "/webhooks/event-schema",
      group,
      roles: ADMIN,
      summary: "JSON Schema of the webhook payload (CloudEvents 1.0 structured JSON, signed per Standard Webhooks)",
      response: { status: 200, schema: JsonSchemaDocumentSchema, description: "the JSON Schema of the payload every webhook POST carries (the OpenAPI document's `WebhookEvent`)" },
      handler: async () => ({ status: 200, body: z.toJSONSchema(WebhookEventSchema, { target: "draft-2020-12" }) }),
    }),
    route({
      method: "GET",
      path: "/webhooks/subscriptions",
      group,
      roles: ADMIN,
      summary: "Webhook subscriptions (secrets are never shown)",
      response: { status: 200, schema: z.object({ items: z.array(SubscriptionSchema) }) },
      handler: async () => ({ status: 200, body: { items: (await deps.subscriptions.list()).map(subscriptionView) } }),
    }),
    route({
      method: "POST",
      path: "/webhooks/subscriptions",
      group,
      roles: ADMIN,
      summary: "Create a subscription (cloudevents, teams or slack); a cloudevents one's response carries its signing secret, shown this once",
      body: SubscriptionCreateBody,
      response: { status: 201, schema: SubscriptionWithSecretSchema },
      async handler(req) {
        const { body } = req;
        await checkTarget(deps, body.url);
        const format = body.format ?? "cloudevents";
        const { subscription, secret } = await deps.subscriptions.create(
          {
            url: body.url,
            format,
            throttleSeconds: isChat(format) ? (body.throttleSeconds ?? DEFAULT_THROTTLE_SECONDS) : 0,
            description: body.description ?? "",
            eventTypes: [...new Set(body.eventTypes)],
            minSeverity: body.minSeverity ?? "Informational",
            enabled: body.enabled ?? true,
          },
          req.principal!,
          deps.now(),
        );
        return {
          status: 201,
          headers: { location: `/api/webhooks/subscriptions/${subscription.id}`, etag: httpEtag(subscription.etag) },
          body: { subscription: subscriptionView(subscription), secret },
        };
      },
    }),
    route({
      method: "GET",
      path: "/webhooks/subscriptions/{id}",
      group,
      roles: ADMIN,
      summary: "One subscription, with its ETag",
      response: { status: 200, schema: SubscriptionSchema },
      async handler(req) {
        const sub = await loadSubscription(deps, idOf(req));
        return { status: 200, headers: { etag: httpEtag(sub.etag) }, body: subscriptionView(sub) };
      },
    }),
    route({
      method: "PATCH",
      path: "/webhooks/subscriptions/{id}",
      group,
      roles: ADMIN,
      summary: "Change a subscription's URL, event types, minimum severity, throttle, description or enabled flag",
      body: SubscriptionPatchBody,
      requestHeaders: IF_MATCH,
      response: { status: 200, schema: SubscriptionSchema },
      async handler(req) {
        const { body } = req;
        const id = idOf(req);
        if (body.throttleSeconds !== undefined && !isChat((await loadSubscription(deps, id)).format))
          throw fieldError("body.throttleSeconds", "throttleSeconds applies to teams and slack subscriptions only: a cloudevents consumer gets every event");
        if (body.url !== undefined) await checkTarget(deps, body.url);
        const changes = { ...body, ...(body.eventTypes ? { eventTypes: [...new Set(body.eventTypes)] } : {}) };
        const sub = written(id, await writeIfMatch(req.headers, true, () => loadSubscription(deps, id), (s, etag) => deps.subscriptions.update(s.id, changes, etag, req.principal!, deps.now())));
        return { status: 200, headers: { etag: httpEtag(sub.etag) }, body: subscriptionView(sub) };
      },
    }),
    route({
      method: "DELETE",
      path: "/webhooks/subscriptions/{id}",
      group,
      roles: ADMIN,
      summary: "Delete a subscription and its delivery log",
      requestHeaders: IF_MATCH,
      response: { status: 204 },
      async handler(req) {
        const id = idOf(req);
        written(id, await writeIfMatch(req.headers, true, () => loadSubscription(deps, id), (sub, etag) => deps.subscriptions.delete(sub.id, etag)));
        await deps.deliveries.deleteForSubscription(id);
        return { status: 204 };
      },
    }),
    route({
      method: "POST",
      path: "/webhooks/subscriptions/{id}/rotate-secret",
      group,
      roles: ADMIN,
      summary: "New signing secret, shown once; the previous one keeps signing for the overlap",
      body: RotateBody,
      requestHeaders: IF_MATCH,
      response: { status: 200, schema: SubscriptionWithSecretSchema },
      async handler(req) {
        const id = idOf(req);
        const format = (await loadSubscription(deps, id)).format;
        if (isChat(format)) throw new HttpError(409, `a ${format} subscription is not signed and has no secret; its URL is the credential: to replace it, PATCH a new url`);
        const overlapMs = (req.body.overlapSeconds ?? 86_400) * 1000;
        const rotated = written(id, await writeIfMatch(req.headers, true, () => loadSubscription(deps, id), (sub, etag) => deps.subscriptions.rotate(sub.id, overlapMs, etag, req.principal!, deps.now())));
        return { status: 200, headers: { etag: httpEtag(rotated.subscription.etag) }, body: { subscription: subscriptionView(rotated.subscription), secret: rotated.secret } };
      },
    }),
    route({
      method: "POST",
      path: "/webhooks/subscriptions/{id}/test",
      group,
      roles: ADMIN,
      summary: "Send a test message now (a sample incident card for teams and slack, a signed test event for cloudevents) and report the endpoint's answer",
      response: { status: 200, schema: TestResultSchema },
      // One message now, outside the outbox and the delivery log, under the same target policy.
      async handler(req) {
        const sub = await loadSubscription(deps, idOf(req));
        const request = testRequest(sub, deps.now(), (deps.wallClock ?? Date.now)());
        const result = await send({ url: sub.url, ...request, timeoutMs: deps.timeoutMs ?? DEFAULT_TIMEOUT_MS, policy: deps.policy, resolver: deps.resolver });
        const delivered = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
        const error = result.error ?? (delivered ? null : `HTTP ${result.statusCode}`);
        return { status: 200, body: { delivered, statusCode: result.statusCode, latencyMs: result.latencyMs, error } };
      },
    }),
    route({
      method: "GET",
      path: "/webhooks/subscriptions/{id}/deliveries",
      group,
      roles: ADMIN,
      summary: "The subscription's delivery log, newest first: attempts, status codes, latency",
      query: DeliveriesQuery,
      response: { status: 200, schema: z.object({ items: z.array(DeliverySchema), total: z.number().int() }) },
      async handler(req) {
        const { query } = req;
        const limit = query.limit === undefined ? 50 : Number(query.limit);
        if (limit < 1 || limit > 200) throw fieldError("query.limit", "1 to 200");
        const sub = await loadSubscription(deps, idOf(req));
        const items = await deps.deliveries.forSubscription(sub.id, { status: query.status, incidentId: query.incidentId });
        return { status: 200, body: { items: items.slice(0, limit).map(deliveryView), total: items.length } };
      },
    }),
    route({
      method: "GET",
      path: "/webhooks/subscriptions/{id}/deliveries/{deliveryId}",
      group,
      roles: ADMIN,
      summary: "One delivery with its attempts and the payload sent",
      response: { status: 200, schema: DeliveryDetailSchema },
      async handler(req) {
        const subId = idOf(req);
        const id = req.params.deliveryId ?? "";
        const delivery = await deps.deliveries.get(subId, id);
        const body = delivery && (await deps.deliveries.body(subId, id));
        if (!delivery || body === undefined) throw notFound(`delivery ${id} of subscription ${subId}`);
        return { status: 200, body: { ...deliveryView(delivery), payload: JSON.parse(body) as unknown } };
      },
    }),
    route({
      method: "POST",
      path: "/webhooks/subscriptions/{id}/deliveries/{deliveryId}/redeliver",
      group,
      roles: ADMIN,
      summary: "Send a past or dead-lettered delivery again (same webhook-id and payload, new attempts)",
      response: { status: 202, schema: DeliverySchema },
      // A fresh series of attempts; 409 while the delivery is still pending.
      async handler(req) {
        const subId = idOf(req);
        const id = req.params.deliveryId ?? "";
        await loadSubscription(deps, subId);
        const delivery = await deps.deliveries.get(subId, id);
        if (!delivery) throw notFound(`delivery ${id} of subscription ${subId}`);
        if (delivery.status === "pending") throw new HttpError(409, "the delivery is still pending; it will be attempted again on its schedule");
        const now = deps.now();
        const changes = { status: "pending" as const, attemptCount: 0, nextAttemptAt: now, updatedAt: now, mergedInto: null };
        const etag = await deps.deliveries.update(delivery, delivery.etag, changes);
        if (etag === null) throw stale();
        return { status: 202, body: deliveryView({ ...delivery, ...changes, etag }) };
      },
    }),
  ];
}
