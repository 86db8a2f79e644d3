// The webhook payload: a CloudEvents 1.0 event in structured JSON mode, described once
// in zod so the same definition validates in tests and becomes the JSON Schema in the
// API's OpenAPI document (WEBHOOK_EVENT_JSON_SCHEMA).
import { z } from "zod";
import { CORRELATION_RULE_ID } from "../model/correlation.js";
import { alertJson, AlertSchema, EVENT_TYPES, type EventType, EntitySchema, incidentJson, IncidentSchema, uniqueEntities, type Alert, type Incident } from "../model/incident.js";

export { EVENT_TYPES, type EventType };
export const EventTypeSchema = z.enum(EVENT_TYPES);

/** CloudEvents `type` for an event type: reverse-DNS prefixed, as the spec recommends. */
export const cloudEventType = (type: EventType) => `com.tokenwatch.${type}` as const;
/** CloudEvents `source`: identifies tokenwatch as the producer; (source, id) is unique per event. */
export const EVENT_SOURCE = "/tokenwatch/incidents";
export const CONTENT_TYPE = "application/cloudevents+json; charset=utf-8";

const isoTime = z.iso.datetime({ offset: true }).describe("RFC 3339 timestamp");

export const WebhookIncidentSchema = IncidentSchema.meta({
  title: "TokenwatchWebhookIncident",
  description: "The incident in its state right after the change the event announces.",
});

export const WebhookEventSchema = z
  .object({
    specversion: z.literal("1.0"),
    id: z.string().describe("Event id: the same for every subscription and every retry of this event"),
    source: z.literal(EVENT_SOURCE),
    type: z.enum(EVENT_TYPES.map(cloudEventType) as [ReturnType<typeof cloudEventType>, ...ReturnType<typeof cloudEventType>[]]),
    subject: z.string().describe("The incident id"),
    time: isoTime.describe("When the change happened"),
    datacontenttype: z.literal("application/json"),
    data: z.object({
      incident: WebhookIncidentSchema,
      alerts: z
        .array(AlertSchema)
        .describe(
          "incident.created: the incident's alerts; incident.correlated: the alerts of other rules, one account, that its member incidents hold; incident.alertAdded: the alerts just added; incident.updated: none",
        ),
      entities: z.array(EntitySchema).describe("The distinct entities of `alerts`"),
    }),
  })
  .meta({
    title: "TokenwatchWebhookEvent",
    description:
      "CloudEvents 1.0, structured JSON mode. Signed per Standard Webhooks: headers webhook-id, webhook-timestamp, webhook-signature.",
  });
export type WebhookEvent = z.infer<typeof WebhookEventSchema>;

/** The CloudEvents `type` of a "send test message" (POST /webhooks/subscriptions/{id}/test). */
export const TEST_EVENT_TYPE = "com.tokenwatch.webhook.test";

export const WebhookTestEventSchema = z
  .object({
    specversion: z.literal("1.0"),
    id: z.string(),
    source: z.literal(EVENT_SOURCE),
    type: z.literal(TEST_EVENT_TYPE),
    subject: z.string().describe("The subscription id"),
    time: isoTime,
    datacontenttype: z.literal("application/json"),
    data: z.object({ subscriptionId: z.string(), message: z.string() }),
  })
  .meta({
    title: "TokenwatchWebhookTestEvent",
    description: "Sent only when an admin asks for a test message; signed like every event. It announces no incident: acknowledge it and do nothing else.",
  });
export type WebhookTestEvent = z.infer<typeof WebhookTestEventSchema>;

export function buildTestEvent(id: string, subscriptionId: string, time: number): WebhookTestEvent {
  return {
    specversion: "1.0",
    id,
    source: EVENT_SOURCE,
    type: TEST_EVENT_TYPE,
    subject: subscriptionId,
    time: new Date(time).toISOString(),
    datacontenttype: "application/json",
    data: { subscriptionId, message: "Test message from tokenwatch, sent at an admin's request. It announces no incident." },
  };
}

/** JSON Schema (draft 2020-12) of the webhook payload, for the OpenAPI document. */
export const WEBHOOK_EVENT_JSON_SCHEMA = z.toJSONSchema(WebhookEventSchema, { target: "draft-2020-12" });

export const toWebhookIncident = (incident: Incident): WebhookEvent["data"]["incident"] => incidentJson(incident);
export const toWebhookAlert = (alert: Alert): WebhookEvent["data"]["alerts"][number] => alertJson(alert);

/** The event announcing one incident change. */
export function buildEvent(e: { id: string; type: EventType; time: number; incident: Incident; alerts: readonly Alert[] }): WebhookEvent {
  return {
    specversion: "1.0",
    id: e.id,
    source: EVENT_SOURCE,
    type: cloudEventType(e.type),
    subject: e.incident.id,
    time: new Date(e.time).toISOString(),
    datacontenttype: "application/json",
    data: { incident: toWebhookIncident(e.incident), alerts: e.alerts.map(toWebhookAlert), entities: uniqueEntities(e.alerts) },
  };
}
