// The OpenAPI 3.1 document, generated from the route table and the same zod schemas that
// validate requests (z.toJSONSchema; OpenAPI 3.1 schemas are JSON Schema 2020-12), with
// the webhook events in the top-level `webhooks` section.
import { z } from "zod";
import { cloudEventType, EVENT_TYPES, TEST_EVENT_TYPE, WebhookEventSchema, WebhookTestEventSchema, type EventType } from "../delivery/schema.js";
import { ProblemSchema } from "./schemas.js";
import type { RouteDef } from "./router.js";

type Json = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: "input" | "output"): Json {
  const json = z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12", reused: "inline" }) as Json;
  delete json.$schema;
  return json;
}

const WHEN: Record<EventType, string> = {
  "incident.created": "A detection opened an incident; `data.alerts` holds its alerts.",
  "incident.alertAdded": "A detection added alerts to an open incident; `data.alerts` holds the alerts just added.",
  "incident.updated": "An analyst changed the incident's status, owner or classification; `data.alerts` is empty.",
  "incident.correlated":
    "One account has alerts of two or more different rules within the correlation window (or sharing a SessionId or UniqueTokenIdentifier): a High incident linking their incidents (`data.incident.memberIncidentIds`) was opened; `data.alerts` holds the linked alerts. It grows by `incident.alertAdded`.",
};

/** The Standard Webhooks headers every delivery carries (https://www.standardwebhooks.com). */
const SIGNATURE_HEADERS: Json[] = [
  {
    name: "webhook-id",
    in: "header",
    required: true,
    description: "The delivery id: one per event and subscription, the same on every retry and redelivery. Deduplicate on it.",
    schema: { type: "string", pattern: "^msg_[0-9a-f]{32}$" },
  },
  {
    name: "webhook-timestamp",
    in: "header",
    required: true,
    description: "Unix seconds at which this attempt was signed; reject one far from your clock.",
    schema: { type: "string", pattern: "^[0-9]+$" },
  },
  {
    name: "webhook-signature",
    in: "header",
    required: true,
    description:
      "`v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<raw body>` keyed with the subscription's secret (the base64 after `whsec_`); " +
      "during a secret rotation one per active secret, space-separated.",
    schema: { type: "string", pattern: "^v1,[A-Za-z0-9+/]+={0,2}( v1,[A-Za-z0-9+/]+={0,2})*$" },
  },
];

/** A webhook entry: the signed POST of a CloudEvent whose body follows `schema`. */
function webhook(operationId: string, summary: string, schema: Json): Json {
  return {
    post: {
      operationId,
      summary,
      tags: ["webhooks"],
      security: [],
      parameters: SIGNATURE_HEADERS,
      requestBody: { required: true, content: { "application/cloudevents+json": { schema } } },
      responses: {
        "2XX": { description: "accepted; any other answer (or none within 10 s) is retried with backoff for about a day" },
      },
    },
  };
}

/** One webhook per event type (the CloudEvent whose `type` is that event's), and the test message an admin may send. */
function webhooks(): Record<string, Json> {
  return {
    ...Object.fromEntries(
      EVENT_TYPES.map((type) => [
        type,
        webhook(type.replace(/\.(\w)/g, (_, c: string) => c.toUpperCase()), `${cloudEventType(type)}: ${WHEN[type]}`, {
          allOf: [{ $ref: "#/components/schemas/WebhookEvent" }],
          type: "object",
          properties: { type: { const: cloudEventType(type) } },
        }),
      ]),
    ),
    [TEST_EVENT_TYPE.replace(/^com\.tokenwatch\./, "")]: webhook(
      "webhookTest",
      `${TEST_EVENT_TYPE}: sent only when an admin asks for a test message (POST /api/webhooks/subscriptions/{id}/test); announces no incident`,
      { $ref: "#/components/schemas/WebhookTestEvent" },
    ),
  };
}

const problem = (description: string) => ({ description, content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } });

export function openApiDocument(routes: readonly RouteDef[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const parameters: Json[] = [];
    for (const name of r.path.match(/\{(\w+)\}/g) ?? []) parameters.push({ name: name.slice(1, -1), in: "path", required: true, schema: { type: "string" } });
    if (r.query) {
      const q = schemaOf(r.query, "input") as { properties?: Record<string, Json>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {}))
        parameters.push({ name, in: "query", required: q.required?.includes(name) ?? false, schema, ...(schema.description ? { description: schema.description } : {}) });
    }
    for (const h of r.requestHeaders ?? []) parameters.push({ name: h.name, in: "header", required: h.required, description: h.description, schema: { type: "string" } });
    const success = r.response ?? { status: 200 };
    const responses: Record<string, Json> = {
      [String(success.status)]: {
        description: success.description ?? (success.status === 204 ? "done" : "success"),
        ...(success.schema ? { content: { "application/json": { schema: schemaOf(success.schema, "output") } } } : {}),
      },
      "400": problem("invalid path, query or body: `errors` names each field"),
      "404": problem("no such route or resource"),
      "405": problem("method not allowed (see Allow)"),
    };
    if (r.roles !== "anonymous") {
      responses["401"] = problem("missing or invalid bearer token");
      responses["403"] = problem(`needs one of the app roles: ${r.roles.join(", ")}`);
    }
    if (r.body) {
      responses["413"] = problem("body larger than 64 KiB");
      responses["415"] = problem("body is not application/json");
    }
    if (r.requestHeaders?.some((h) => h.name === "If-Match")) {
      responses["412"] = problem("If-Match does not name the current version");
      if (r.requestHeaders.some((h) => h.name === "If-Match" && h.required)) responses["428"] = problem("If-Match is required");
    }
    if (r.method === "POST" || r.method === "PUT") responses["409"] = problem("conflicts with an existing resource");
    const operation: Json = {
      operationId: `${r.method.toLowerCase()}${r.path.replace(/\{(\w+)\}/g, "By-$1").split(/[/.-]/).map((p) => (p ? p[0]!.toUpperCase() + p.slice(1) : "")).join("")}`,
      summary: r.summary,
      tags: [r.group],
      ...(r.roles === "anonymous" ? { security: [] } : { "x-roles": r.roles }),
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: schemaOf(r.body, "input") } } } } : {}),
      responses,
    };
    (paths[`/api${r.path}`] ??= {})[r.method.toLowerCase()] = operation;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "tokenwatch API",
      version: "0.1.0",
      license: { name: "MIT", identifier: "MIT" },
      description:
        "Incidents of refresh-token theft in Entra ID, grouped by account; allowlist administration; rule health. " +
        "Bearer tokens are Entra ID access tokens for this app; app roles: Incidents.Read, Incidents.Write, Tokenwatch.Admin.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      schemas: {
        Problem: schemaOf(ProblemSchema, "output"),
        WebhookEvent: schemaOf(WebhookEventSchema, "output"),
        WebhookTestEvent: schemaOf(WebhookTestEventSchema, "output"),
      },
    },
    paths,
    webhooks: webhooks(),
  };
}
