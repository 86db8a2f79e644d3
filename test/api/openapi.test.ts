// The OpenAPI 3.1 document the API serves: generated from the same route table and zod schemas.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { READ, startHost, stopAzurite, type Host } from "./harness.js";

let host: Host;
let doc: any;

beforeAll(async () => {
  host = await startHost();
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
      ].sort(),
    );
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops as Record<string, { operationId: string }>).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    for (const ref of refs(doc)) expect(ref).toBe("#/components/schemas/Problem");
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
