// The OpenAPI 3.1 document the API serves: generated from the same route table and zod schemas,
// valid for independent tools (swagger-parser, Redocly's recommended rules), webhooks included.
import SwaggerParser from "@apidevtools/swagger-parser";
import { BaseResolver, createConfig, lintDocument, makeDocumentFromString } from "@redocly/openapi-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "../../src/delivery/schema.js";
import { READ, startHost, stopAzurite, type Host } from "./harness.js";

let host: Host;
let doc: any;

beforeAll(async () => {
  host = await startHost({ webhooks: true });
  const r = await host.call("GET", "/api/openapi.json", { token: await host.token({ roles: [READ] }) });
  expect(r.status).toBe(200);
  doc = r.body;
});

afterAll(async () => {
  await host?.close();
  await stopAzurite();
});

const refs = (value: unknown, out: string[] = []): string[] => {
  if (Array.isArray(value)) value.forEach((v) => refs(v, out));
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) {
      if (k === "$ref" && typeof v === "string") out.push(v);
      else refs(v, out);
    }
  return out;
};

describe("GET /api/openapi.json", () => {
  it("is an OpenAPI 3.1 document with every route, unique operation ids and resolvable refs", () => {
    expect(doc.openapi).toBe("3.1.0");
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual(
      [
        "GET /api/health",
        "GET /api/openapi.json",
        "GET /api/incidents",
        "GET /api/incidents/{id}",
        "GET /api/incidents/{id}/history",
        "PATCH /api/incidents/{id}",
        "GET /api/accounts",
        "GET /api/accounts/{account}/incidents",
        "GET /api/allowlists",
        "GET /api/allowlists/{list}",
        "GET /api/allowlists/{list}/entries/{id}",
        "POST /api/allowlists/{list}/entries",
        "PUT /api/allowlists/{list}/entries/{id}",
        "DELETE /api/allowlists/{list}/entries/{id}",
        "GET /api/allowlists/{list}/audit",
        "GET /api/rules",
        "POST /api/rules/{id}/backfill",
        "PUT /api/rules/{id}/enabled",
        "GET /api/webhooks/event-schema",
        "GET /api/webhooks/subscriptions",
        "POST /api/webhooks/subscriptions",
        "GET /api/webhooks/subscriptions/{id}",
        "PATCH /api/webhooks/subscriptions/{id}",
        "DELETE /api/webhooks/subscriptions/{id}",
        "POST /api/webhooks/subscriptions/{id}/rotate-secret",
        "POST /api/webhooks/subscriptions/{id}/test",
        "GET /api/webhooks/subscriptions/{id}/deliveries",
        "GET /api/webhooks/subscriptions/{id}/deliveries/{deliveryId}",
        "POST /api/webhooks/subscriptions/{id}/deliveries/{deliveryId}/redeliver",
      ].sort(),
    );
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops as Record<string, { operationId: string }>).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    for (const ref of refs(doc)) expect(["#/components/schemas/Problem", "#/components/schemas/WebhookEvent", "#/components/schemas/WebhookTestEvent"]).toContain(ref);
    expect(doc.paths["/api/health"].get.security).toEqual([]);
  });

  it("documents bodies and queries from the validating schemas: strict objects, enums, formats", () => {
    const entry = doc.paths["/api/allowlists/{list}/entries"].post;
    const schema = entry.requestBody.content["application/json"].schema;
    expect(schema).toMatchObject({ type: "object", additionalProperties: false, required: ["value", "reason"] });
    expect(Object.keys(schema.properties)).toEqual(["value", "reason", "expiresAt"]);
    expect(entry.responses["409"].content["application/problem+json"]).toBeDefined();
    expect(entry.responses["413"]).toBeDefined();

    const patch = doc.paths["/api/incidents/{id}"].patch;
    expect(patch.requestBody.content["application/json"].schema.properties.status.enum).toEqual(["New", "Active", "Closed"]);
    expect(patch.parameters).toContainEqual(expect.objectContaining({ name: "If-Match", in: "header", required: true }));
    expect(Object.keys(patch.responses)).toEqual(expect.arrayContaining(["200", "400", "401", "403", "404", "412", "428"]));

    const list = doc.paths["/api/incidents"].get;
    const names = list.parameters.map((p: { name: string }) => p.name);
    expect(names).toEqual(["status", "severity", "ruleId", "account", "from", "to", "limit", "continuation"]);
    const from = list.parameters.find((p: { name: string }) => p.name === "from");
    expect(from.schema).toMatchObject({ type: "string", format: "date-time" });
    expect(list.responses["200"].content["application/json"].schema.properties.items.type).toBe("array");
  });
});

describe("the document for independent tools", () => {
  it("validates with swagger-parser (OpenAPI 3.1 schema, refs resolved)", async () => {
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toMatchObject({ openapi: "3.1.0" });
  });

  it("passes Redocly's recommended rules without errors or warnings", async () => {
    const config = await createConfig({ extends: ["recommended"] });
    const document = makeDocumentFromString(JSON.stringify(doc), "/openapi.json");
    const problems = await lintDocument({ document, config, externalRefResolver: new BaseResolver() });
    expect(problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)).toEqual([]);
  });

  it("describes each webhook event, signed per Standard Webhooks", () => {
    // Every event type, and the test message an admin may send (POST /webhooks/subscriptions/{id}/test).
    expect(Object.keys(doc.webhooks).sort()).toEqual([...EVENT_TYPES, "webhook.test"].sort());
    for (const type of [...EVENT_TYPES, "webhook.test"]) {
      const post = doc.webhooks[type].post;
      expect(post.parameters.map((p: { name: string; in: string; required: boolean }) => [p.name, p.in, p.required])).toEqual([
        ["webhook-id", "header", true],
        ["webhook-timestamp", "header", true],
        ["webhook-signature", "header", true],
      ]);
      const schema = post.requestBody.content["application/cloudevents+json"].schema;
      if (type === "webhook.test") expect(schema).toEqual({ $ref: "#/components/schemas/WebhookTestEvent" });
      else expect(schema).toMatchObject({ allOf: [{ $ref: "#/components/schemas/WebhookEvent" }], properties: { type: { const: `com.tokenwatch.${type}` } } });
    }
    expect(doc.components.schemas.WebhookTestEvent.properties.type).toMatchObject({ const: "com.tokenwatch.webhook.test" });
    const eventSchema = doc.paths["/api/webhooks/event-schema"].get.responses["200"].content["application/json"].schema;
    expect(eventSchema.properties.$schema).toEqual({ type: "string", const: "https://json-schema.org/draft/2020-12/schema" });
    expect(doc.paths["/api/openapi.json"].get.responses["200"].content["application/json"].schema.properties.openapi).toMatchObject({ type: "string" });
  });
});
