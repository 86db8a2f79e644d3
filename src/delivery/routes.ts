// The webhook administration handlers (admin.ts) as API routes under /api/webhooks, for
// createApi's extraRoutes. GET /webhooks/event-schema serves the payload's JSON Schema; the
// OpenAPI document describes the events themselves in its `webhooks` section.
import { z } from "zod";
import { route, type RouteDef } from "../api/router.js";
import { JsonSchemaDocumentSchema } from "../api/schemas.js";
import {
  DeliveriesQuery,
  DeliveryDetailSchema,
  DeliverySchema,
  RotateBody,
  SubscriptionCreateBody,
  SubscriptionPatchBody,
  SubscriptionSchema,
  SubscriptionWithSecretSchema,
  TestResultSchema,
  webhookHandlers,
  type AdminDeps,
} from "./admin.js";

const ADMIN = ["Tokenwatch.Admin"] as const;
const group = "webhooks";
const IF_MATCH = [{ name: "If-Match", required: true, description: "the ETag of your last read (or *)" }];

export function webhookRoutes(deps: AdminDeps): RouteDef[] {
  const h = webhookHandlers(deps);
  return [
    route({
      method: "GET",
      path: "/webhooks/event-schema",
      group,
      roles: ADMIN,
      summary: "JSON Schema of the webhook payload (CloudEvents 1.0 structured JSON, signed per Standard Webhooks)",
      response: { status: 200, schema: JsonSchemaDocumentSchema, description: "the JSON Schema of the payload every webhook POST carries (the OpenAPI document's `WebhookEvent`)" },
      handler: h.eventSchema,
    }),
    route({
      method: "GET",
      path: "/webhooks/subscriptions",
      group,
      roles: ADMIN,
      summary: "Webhook subscriptions (secrets are never shown)",
      response: { status: 200, schema: z.object({ items: z.array(SubscriptionSchema) }) },
      handler: h.listSubscriptions,
    }),
    route({
      method: "POST",
      path: "/webhooks/subscriptions",
      group,
      roles: ADMIN,
      summary: "Create a subscription (cloudevents, teams or slack); a cloudevents one's response carries its signing secret, shown this once",
      body: SubscriptionCreateBody,
      response: { status: 201, schema: SubscriptionWithSecretSchema },
      handler: h.createSubscription,
    }),
    route({
      method: "GET",
      path: "/webhooks/subscriptions/{id}",
      group,
      roles: ADMIN,
      summary: "One subscription, with its ETag",
      response: { status: 200, schema: SubscriptionSchema },
      handler: h.getSubscription,
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
      handler: h.updateSubscription,
    }),
    route({
      method: "DELETE",
      path: "/webhooks/subscriptions/{id}",
      group,
      roles: ADMIN,
      summary: "Delete a subscription and its delivery log",
      requestHeaders: IF_MATCH,
      response: { status: 204 },
      handler: h.deleteSubscription,
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
      handler: h.rotateSecret,
    }),
    route({
      method: "POST",
      path: "/webhooks/subscriptions/{id}/test",
      group,
      roles: ADMIN,
      summary: "Send a test message now (a sample incident card for teams and slack, a signed test event for cloudevents) and report the endpoint's answer",
      response: { status: 200, schema: TestResultSchema },
      handler: h.sendTest,
    }),
    route({
      method: "GET",
      path: "/webhooks/subscriptions/{id}/deliveries",
      group,
      roles: ADMIN,
      summary: "The subscription's delivery log, newest first: attempts, status codes, latency",
      query: DeliveriesQuery,
      response: { status: 200, schema: z.object({ items: z.array(DeliverySchema), total: z.number().int() }) },
      handler: h.listDeliveries,
    }),
    route({
      method: "GET",
      path: "/webhooks/subscriptions/{id}/deliveries/{deliveryId}",
      group,
      roles: ADMIN,
      summary: "One delivery with its attempts and the payload sent",
      response: { status: 200, schema: DeliveryDetailSchema },
      handler: h.getDelivery,
    }),
    route({
      method: "POST",
      path: "/webhooks/subscriptions/{id}/deliveries/{deliveryId}/redeliver",
      group,
      roles: ADMIN,
      summary: "Send a past or dead-lettered delivery again (same webhook-id and payload, new attempts)",
      response: { status: 202, schema: DeliverySchema },
      handler: h.redeliver,
    }),
  ];
}
