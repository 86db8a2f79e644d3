// Webhook administration as plain functions (request in, response out), admin role only:
// subscriptions CRUD, secret rotation, the delivery log, redelivery, a test message. Each
// handler checks the role and validates its own input with zod, so it is safe to call
// directly; the API registers the same functions as routes (routes.ts). Errors are RFC
// 9457 problem responses. Secrets appear in exactly two responses: create and rotate. A
// Teams or Slack URL appears in none.
import { randomUUID } from "node:crypto";
import { flatActor, type Actor } from "../model/actor.js";
import { HttpError, problemTitle } from "../api/router.js";
import { actorFields } from "../api/schemas.js";
import { httpEtag, writeIfMatch } from "../api/tokens.js";
import { z } from "zod";
import { Severity } from "../model/severity.js";
import { DELIVERY_STATUSES, type Attempt, type Delivery, type DeliveryRepository } from "./deliveries.js";
import { FORMATS, isChat, testSummary } from "./chat.js";
import { chatRequest, signedEvent } from "./message.js";
import { buildTestEvent, EVENT_TYPES, WebhookEventSchema } from "./schema.js";
import { send } from "./send.js";
import { publicView, type SubscriptionRepository, type SubscriptionWithSecrets } from "./subscriptions.js";
import { checkUrl, resolveTarget, TargetRefused, type Resolver, type TargetPolicy } from "./targets.js";
import { DEFAULT_TIMEOUT_MS } from "./worker.js";

export const ADMIN_ROLE = "Tokenwatch.Admin";

export interface AdminDeps {
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

/** The parts of an HTTP request the handlers read (the API's ApiRequest has them all). */
export interface AdminRequest {
  params: Record<string, string>;
  query?: unknown;
  body?: unknown;
  headers: Record<string, string>;
  principal: (Actor & { roles: readonly string[] }) | null;
}

export interface AdminResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

// ---- schemas (no transforms: parsing twice, at the API edge and here, gives the same) ----

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

const iso = (ms: number) => new Date(ms).toISOString();

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

// ---- problems ----

interface FieldError {
  field: string;
  message: string;
}

export function problem(status: number, detail?: string, errors?: FieldError[]): AdminResponse {
  return {
    status,
    headers: { "content-type": "application/problem+json" },
    body: { type: "about:blank", title: problemTitle(status), status, ...(detail ? { detail } : {}), ...(errors ? { errors } : {}) },
  };
}

function invalid(error: z.ZodError, prefix: string): AdminResponse {
  const errors = error.issues.slice(0, 20).map((i) => ({ field: [prefix, ...i.path.map(String)].join("."), message: i.message }));
  return problem(400, errors.map((e) => `${e.field}: ${e.message}`).join("; "), errors);
}

class Problem extends Error {
  constructor(readonly response: AdminResponse) {
    super(String((response.body as { title?: string }).title));
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, prefix: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new Problem(invalid(result.error, prefix));
  return result.data;
}

const stale = () => problem(412, "the resource changed since you read it: read it again and retry");
const missing = (what: string) => problem(404, `${what} does not exist`);

/** Wraps a handler: admin role, then the handler; Problems become their response. */
function admin(fn: (req: AdminRequest) => Promise<AdminResponse>) {
  return async (req: AdminRequest): Promise<AdminResponse> => {
    if (!req.principal) return problem(401, "a bearer token is required");
    if (!req.principal.roles.includes(ADMIN_ROLE)) return problem(403, `needs the app role ${ADMIN_ROLE}`);
    try {
      return await fn(req);
    } catch (error) {
      if (error instanceof Problem) return error.response;
      if (error instanceof HttpError) return problem(error.status, error.detail, error.errors);
      throw error;
    }
  };
}

async function checkTarget(deps: AdminDeps, url: string): Promise<void> {
  try {
    checkUrl(url, deps.policy);
    await resolveTarget(url, deps.policy, deps.resolver);
  } catch (error) {
    if (!(error instanceof TargetRefused)) throw error;
    // A name that does not resolve yet is accepted: every attempt resolves and checks again.
    if (error.message.startsWith("cannot resolve")) return;
    throw new Problem(problem(400, `body.url: ${error.message}`, [{ field: "body.url", message: error.message }]));
  }
}

async function loadSubscription(deps: AdminDeps, id: string): Promise<SubscriptionWithSecrets> {
  const sub = await deps.subscriptions.get(id);
  if (!sub) throw new Problem(missing(`webhook subscription ${id}`));
  return sub;
}

function testRequest(sub: SubscriptionWithSecrets, now: number, wallClock: number) {
  if (isChat(sub.format)) return chatRequest(sub.format, testSummary(now));
  const id = `msg_${randomUUID().replace(/-/g, "")}`;
  return signedEvent(sub, id, JSON.stringify(buildTestEvent(id, sub.id, now)), now, wallClock);
}

// ---- handlers ----

export function webhookHandlers(deps: AdminDeps) {
  return {
    /** POST /webhooks/subscriptions → 201 with the subscription and its secret (shown once). */
    createSubscription: admin(async (req) => {
      const body = parse(SubscriptionCreateBody, req.body, "body");
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
    }),

    /** GET /webhooks/subscriptions */
    listSubscriptions: admin(async () => ({ status: 200, body: { items: (await deps.subscriptions.list()).map(subscriptionView) } })),

    /** GET /webhooks/subscriptions/{id} */
    getSubscription: admin(async (req) => {
      const sub = await loadSubscription(deps, req.params.id ?? "");
      return { status: 200, headers: { etag: httpEtag(sub.etag) }, body: subscriptionView(sub) };
    }),

    /** PATCH /webhooks/subscriptions/{id} with If-Match */
    updateSubscription: admin(async (req) => {
      const body = parse(SubscriptionPatchBody, req.body, "body");
      const id = req.params.id ?? "";
      if (body.throttleSeconds !== undefined && !isChat((await loadSubscription(deps, id)).format)) {
        const message = "throttleSeconds applies to teams and slack subscriptions only: a cloudevents consumer gets every event";
        return problem(400, `body.throttleSeconds: ${message}`, [{ field: "body.throttleSeconds", message }]);
      }
      if (body.url !== undefined) await checkTarget(deps, body.url);
      const changes = { ...body, ...(body.eventTypes ? { eventTypes: [...new Set(body.eventTypes)] } : {}) };
      const result = await writeIfMatch(req.headers, true, () => loadSubscription(deps, id), (sub, etag) => deps.subscriptions.update(sub.id, changes, etag, req.principal!, deps.now()));
      if (!result.ok) return result.reason === "missing" ? missing(`webhook subscription ${id}`) : stale();
      return { status: 200, headers: { etag: httpEtag(result.value.etag) }, body: subscriptionView(result.value) };
    }),

    /** DELETE /webhooks/subscriptions/{id} with If-Match: the subscription and its delivery log. */
    deleteSubscription: admin(async (req) => {
      const id = req.params.id ?? "";
      const result = await writeIfMatch(req.headers, true, () => loadSubscription(deps, id), (sub, etag) => deps.subscriptions.delete(sub.id, etag));
      if (!result.ok) return result.reason === "missing" ? missing(`webhook subscription ${id}`) : stale();
      await deps.deliveries.deleteForSubscription(id);
      return { status: 204 };
    }),

    /** POST /webhooks/subscriptions/{id}/rotate-secret with If-Match → the new secret, once. */
    rotateSecret: admin(async (req) => {
      const body = parse(RotateBody, req.body ?? {}, "body");
      const id = req.params.id ?? "";
      const format = (await loadSubscription(deps, id)).format;
      if (isChat(format)) return problem(409, `a ${format} subscription is not signed and has no secret; its URL is the credential: to replace it, PATCH a new url`);
      const result = await writeIfMatch(req.headers, true, () => loadSubscription(deps, id), (sub, etag) => deps.subscriptions.rotate(sub.id, (body.overlapSeconds ?? 86_400) * 1000, etag, req.principal!, deps.now()));
      if (!result.ok) return result.reason === "missing" ? missing(`webhook subscription ${id}`) : stale();
      return { status: 200, headers: { etag: httpEtag(result.value.subscription.etag) }, body: { subscription: subscriptionView(result.value.subscription), secret: result.value.secret } };
    }),

    /** GET /webhooks/subscriptions/{id}/deliveries?status=&incidentId=&limit= : the delivery log, newest first. */
    listDeliveries: admin(async (req) => {
      const query = parse(DeliveriesQuery, req.query ?? {}, "query");
      const limit = query.limit === undefined ? 50 : Number(query.limit);
      if (limit < 1 || limit > 200) return problem(400, "query.limit: 1 to 200", [{ field: "query.limit", message: "1 to 200" }]);
      const sub = await loadSubscription(deps, req.params.id ?? "");
      const items = await deps.deliveries.forSubscription(sub.id, { status: query.status, incidentId: query.incidentId });
      return { status: 200, body: { items: items.slice(0, limit).map(deliveryView), total: items.length } };
    }),

    /** GET /webhooks/subscriptions/{id}/deliveries/{deliveryId}: with the payload sent. */
    getDelivery: admin(async (req) => {
      const subId = req.params.id ?? "";
      const id = req.params.deliveryId ?? "";
      const delivery = await deps.deliveries.get(subId, id);
      const body = delivery && (await deps.deliveries.body(subId, id));
      if (!delivery || body === undefined) return missing(`delivery ${id} of subscription ${subId}`);
      return { status: 200, body: { ...deliveryView(delivery), payload: JSON.parse(body) as unknown } };
    }),

    /**
     * POST /webhooks/subscriptions/{id}/deliveries/{deliveryId}/redeliver: sends a past or
     * dead-lettered delivery again, same webhook-id and payload, with a fresh series of
     * attempts (409 while it is still pending).
     */
    redeliver: admin(async (req) => {
      const subId = req.params.id ?? "";
      const id = req.params.deliveryId ?? "";
      await loadSubscription(deps, subId);
      const delivery = await deps.deliveries.get(subId, id);
      if (!delivery) return missing(`delivery ${id} of subscription ${subId}`);
      if (delivery.status === "pending") return problem(409, "the delivery is still pending; it will be attempted again on its schedule");
      const now = deps.now();
      const changes = { status: "pending" as const, attemptCount: 0, nextAttemptAt: now, updatedAt: now, mergedInto: null };
      const etag = await deps.deliveries.update(delivery, delivery.etag, changes);
      if (etag === null) return stale();
      return { status: 202, body: deliveryView({ ...delivery, ...changes, etag }) };
    }),

    /**
     * POST /webhooks/subscriptions/{id}/test: one message now, outside the outbox and the
     * delivery log, under the same target policy: a sample incident card for teams and
     * slack, a signed `com.tokenwatch.webhook.test` event for cloudevents. Reports what
     * the endpoint answered.
     */
    sendTest: admin(async (req) => {
      const sub = await loadSubscription(deps, req.params.id ?? "");
      const request = testRequest(sub, deps.now(), (deps.wallClock ?? Date.now)());
      const result = await send({ url: sub.url, ...request, timeoutMs: deps.timeoutMs ?? DEFAULT_TIMEOUT_MS, policy: deps.policy, resolver: deps.resolver });
      const delivered = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
      const error = result.error ?? (delivered ? null : `HTTP ${result.statusCode}`);
      return { status: 200, body: { delivered, statusCode: result.statusCode, latencyMs: result.latencyMs, error } };
    }),

    /** GET /webhooks/event-schema: the JSON Schema of the payload (also in the OpenAPI document). */
    eventSchema: admin(async () => ({ status: 200, body: z.toJSONSchema(WebhookEventSchema, { target: "draft-2020-12" }) })),
  };
}

export type WebhookHandlers = ReturnType<typeof webhookHandlers>;
