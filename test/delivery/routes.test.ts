// The webhook routes through the real API (createApi with extraRoutes, dev-token auth):
// registration, roles, validation at the edge, and the payload schema in OpenAPI.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi, type Api } from "../../src/api/app.js";
import { Authenticator } from "../../src/api/auth.js";
import { devTrust, loadDevKey, signDevToken, type DevKey } from "../../src/api/dev-auth.js";
import { loadConfig } from "../../src/config.js";
import { webhookAdminDeps } from "../../src/app.js";
import { webhookRoutes } from "../../src/api/webhooks.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { freshStore } from "./support.js";
import { incidentPlanner } from "../../src/engine/planner.js";

let azurite: AzuriteTables;
let api: Api;
let key: DevKey;

beforeAll(async () => {
  azurite = await startAzurite();
  process.env.TOKENWATCH_HOME = await mkdtemp(join(tmpdir(), "tw-webhooks-"));
  key = await loadDevKey();
  const { store } = freshStore(azurite.connectionString);
  const config = loadConfig({});
  api = createApi({ stores: createStores(store, incidentPlanner), auth: new Authenticator([devTrust(key)]), now: Date.now, extraRoutes: webhookRoutes(webhookAdminDeps(store, config)) });
});
afterAll(async () => {
  await azurite?.stop();
});

async function call(method: string, path: string, options: { roles?: string[]; body?: unknown; headers?: Record<string, string> } = {}) {
  const token = await signDevToken(key, { roles: options.roles ?? ["Tokenwatch.Admin"], user: "admin@contoso.com" });
  const [p, q] = path.split("?");
  const res = await api.handle({
    method,
    path: p!,
    query: new URLSearchParams(q ?? ""),
    headers: { authorization: `Bearer ${token}`, ...(options.body !== undefined ? { "content-type": "application/json" } : {}), ...options.headers },
    body: options.body !== undefined ? Buffer.from(JSON.stringify(options.body)) : null,
  });
  return res as { status: number; headers: Record<string, string>; body: any };
}

describe("webhook routes", () => {
  it("serves subscription administration to admins only, with the secret shown once", async () => {
    expect((await call("GET", "/api/webhooks/subscriptions", { roles: ["Incidents.Read"] })).status).toBe(403);
    const bad = await call("POST", "/api/webhooks/subscriptions", { body: { url: "https://hooks.example.com/x", eventTypes: [] } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe("body.eventTypes");
    // The production policy: https only.
    const http = await call("POST", "/api/webhooks/subscriptions", { body: { url: "http://hooks.example.com/x", eventTypes: ["incident.created"] } });
    expect(http.status).toBe(400);
    expect(http.body.detail).toMatch(/only https/);

    const created = await call("POST", "/api/webhooks/subscriptions", { body: { url: "https://hooks.example.com/x", eventTypes: ["incident.created"] } });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    const id = created.body.subscription.id;
    const list = await call("GET", "/api/webhooks/subscriptions");
    expect(list.status).toBe(200);
    expect(list.body.items.map((s: { id: string }) => s.id)).toEqual([id]);
    expect(JSON.stringify(list.body)).not.toContain("whsec_");

    const rotated = await call("POST", `/api/webhooks/subscriptions/${id}/rotate-secret`, { body: { overlapSeconds: 60 }, headers: { "if-match": created.headers.etag! } });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect((await call("GET", `/api/webhooks/subscriptions/${id}/deliveries?limit=10`)).body).toEqual({ items: [], total: 0 });
    expect((await call("GET", `/api/webhooks/subscriptions/${id}/deliveries?bogus=1`)).status).toBe(400);
    expect((await call("DELETE", `/api/webhooks/subscriptions/${id}`, { headers: { "if-match": "*" } })).status).toBe(204);
  });

  it("puts the CloudEvents payload schema in the OpenAPI document", async () => {
    const doc = await call("GET", "/api/openapi.json");
    expect(doc.status).toBe(200);
    const schema = doc.body.components.schemas.WebhookEvent;
    expect(schema.properties.specversion).toMatchObject({ const: "1.0" });
    expect(doc.body.webhooks["incident.created"].post.requestBody.content["application/cloudevents+json"].schema.allOf).toEqual([{ $ref: "#/components/schemas/WebhookEvent" }]);
    expect(schema.properties.data.properties).toHaveProperty("incident");
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(["/api/webhooks/subscriptions", "/api/webhooks/subscriptions/{id}/deliveries/{deliveryId}/redeliver"]));
  });
});
