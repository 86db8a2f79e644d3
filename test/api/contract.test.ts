// The API contract, checked the way an independent client would: every operation in the
// served OpenAPI document is called over HTTP against a host holding the simulated tenant's
// detections, and each real response is validated (Ajv, JSON Schema 2020-12 with formats)
// against the schema the document declares for its status and media type. Webhook
// deliveries are validated against the document's `webhooks` section, headers included.
// The last test fails when an operation has no call here, so the document and the code
// cannot drift apart unnoticed.
import { replayAllRules } from "../support/replay-run.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeliveryWorker } from "../../src/delivery/index.js";
import { rules } from "../../src/rules/index.js";
import { simulateTenant } from "../../src/sim/simulate.js";
import { ReplaySource } from "../../src/sources/replay.js";
import { Receiver } from "../delivery/support.js";
import { HOUR, READ, WRITE, startHost, stopAzurite, type Host, type Reply } from "./harness.js";

const DOC_ID = "https://tokenwatch.test/openapi.json";
const METHODS = ["get", "put", "post", "delete", "patch"];

let dir: string;
let host: Host;
let receiver: Receiver;
let doc: any;
let ajv: Ajv2020;
let from: number;
let to: number;
/** "METHOD /api/path-template" → the statuses whose responses were validated. */
const validated = new Map<string, Set<number>>();

const pointer = (...parts: string[]) => `${DOC_ID}#/${parts.map((p) => encodeURIComponent(p.replaceAll("~", "~0").replaceAll("/", "~1"))).join("/")}`;

function schemaAt(...parts: string[]): ValidateFunction {
  const validate = ajv.getSchema(pointer(...parts));
  if (!validate) throw new Error(`no schema at ${parts.join(" ")}`);
  return validate;
}

function expectValid(validate: ValidateFunction, value: unknown, what: string) {
  expect(validate(value), `${what}: ${JSON.stringify(validate.errors?.slice(0, 5))}`).toBe(true);
}

/** Calls an operation and validates the response against the document; `template` is the documented path. */
async function call(method: string, template: string, path: string, options: Parameters<Host["call"]>[2] = {}): Promise<Reply> {
  const reply = await host.call(method, path, options);
  const operation = doc.paths[template]?.[method.toLowerCase()];
  expect(operation, `${method} ${template} is documented`).toBeDefined();
  const declared = operation.responses[String(reply.status)];
  expect(declared, `${method} ${template}: status ${reply.status} is declared (${reply.text.slice(0, 300)})`).toBeDefined();
  if (declared.content) {
    const media = reply.headers.get("content-type")?.split(";")[0]?.trim() ?? "";
    expect(Object.keys(declared.content), `${method} ${template} ${reply.status} media type`).toContain(media);
    expectValid(schemaAt("paths", template, method.toLowerCase(), "responses", String(reply.status), "content", media, "schema"), reply.body, `${method} ${template} ${reply.status}`);
  } else expect(reply.text, `${method} ${template} ${reply.status} has no body`).toBe("");
  const key = `${method} ${template}`;
  validated.set(key, (validated.get(key) ?? new Set()).add(reply.status));
  return reply;
}

/** Runs every rule over the simulated range, as `tokenwatch detect` does. */
const detect = (source: ReplaySource) => replayAllRules(source, host.stores, from, to);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tokenwatch-contract-"));
  const tenant = await simulateTenant(dir, { users: 40, days: 1, historyDays: 2 });
  from = Date.parse(tenant.from);
  to = Date.parse(tenant.to);
  const source = await ReplaySource.open(dir);
  host = await startHost({ source, ruleNow: () => to + HOUR, webhooks: true });
  receiver = new Receiver();
  await receiver.start();
  doc = (await host.call("GET", "/api/openapi.json")).body;
  ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  addFormats.default(ajv);
  // The document's own members are not schema keywords; its schemas are found by pointer.
  ajv.addVocabulary(Object.keys(doc));
  ajv.addSchema(doc, DOC_ID);
}, 120_000);

afterAll(async () => {
  await host?.close();
  await receiver?.stop();
  await stopAzurite();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const state: { subscription?: any; secret?: string; incident?: any; entry?: any } = {};

describe("every response matches the schema the OpenAPI document declares for it", () => {
  it("health and the document itself", async () => {
    await call("GET", "/api/health", "/api/health", { token: null });
    const r = await call("GET", "/api/openapi.json", "/api/openapi.json");
    expect(r.body).toEqual(doc);
  });

  it("webhook subscriptions, created before detection so they receive its events", async () => {
    const created = await call("POST", "/api/webhooks/subscriptions", "/api/webhooks/subscriptions", {
      body: { url: receiver.url(), eventTypes: ["incident.created", "incident.alertAdded", "incident.updated"], minSeverity: "Informational" },
    });
    expect(created.status).toBe(201);
    const id = created.body.subscription.id;
    await call("GET", "/api/webhooks/subscriptions", "/api/webhooks/subscriptions");
    const one = await call("GET", "/api/webhooks/subscriptions/{id}", `/api/webhooks/subscriptions/${id}`);
    const patched = await call("PATCH", "/api/webhooks/subscriptions/{id}", `/api/webhooks/subscriptions/${id}`, {
      body: { description: "contract test receiver" },
      headers: { "if-match": one.headers.get("etag")! },
    });
    expect(patched.status).toBe(200);
    const rotated = await call("POST", "/api/webhooks/subscriptions/{id}/rotate-secret", `/api/webhooks/subscriptions/${id}/rotate-secret`, {
      body: { overlapSeconds: 600 },
      headers: { "if-match": patched.headers.get("etag")! },
    });
    expect(rotated.status).toBe(200);
    receiver.secrets = [created.body.secret, rotated.body.secret];
    const tested = await call("POST", "/api/webhooks/subscriptions/{id}/test", `/api/webhooks/subscriptions/${id}/test`);
    expect(tested.status).toBe(200);
    state.subscription = rotated.body.subscription;
    const schema = await call("GET", "/api/webhooks/event-schema", "/api/webhooks/event-schema");
    expect(ajv.validateSchema(schema.body), "a valid JSON Schema").toBe(true);
    const { $schema, ...described } = schema.body;
    expect(described).toEqual(doc.components.schemas.WebhookEvent);
  });

  it("incidents and accounts over the simulated tenant's detections", async () => {
    expect(await detect((await ReplaySource.open(dir)))).toBeGreaterThan(0);
    const list = await call("GET", "/api/incidents", "/api/incidents");
    expect(list.body.items.length).toBeGreaterThan(0);
    await call("GET", "/api/incidents", "/api/incidents?status=New&limit=1");
    for (const incident of list.body.items) {
      const detail = await call("GET", "/api/incidents/{id}", `/api/incidents/${incident.id}`);
      expect(detail.body.alerts.length).toBeGreaterThan(0);
    }
    const incident = list.body.items[0];
    const patched = await call("PATCH", "/api/incidents/{id}", `/api/incidents/${incident.id}`, {
      body: { status: "Active", owner: "rui@contoso.com", comment: "looking" },
      headers: { "if-match": incident.etag },
      token: await host.token({ roles: [WRITE] }),
    });
    expect(patched.status).toBe(200);
    expect(patched.body.alerts.length).toBeGreaterThan(0);
    const history = await call("GET", "/api/incidents/{id}/history", `/api/incidents/${incident.id}/history?limit=1`, { token: await host.token({ roles: [READ] }) });
    expect(history.body.items).toHaveLength(1);
    expect(history.body.continuation).not.toBeNull();
    state.incident = patched.body;
    const accounts = await call("GET", "/api/accounts", "/api/accounts", { token: await host.token({ roles: [READ] }) });
    for (const account of accounts.body.items)
      await call("GET", "/api/accounts/{account}/incidents", `/api/accounts/${encodeURIComponent(account.account)}/incidents`);
  });

  it("webhook deliveries: each event matches its `webhooks` entry, signature headers included", async () => {
    const worker = createDeliveryWorker(host.store, host.config);
    const report = await worker.run();
    expect(report.delivered).toBeGreaterThan(0);
    expect(report.failed).toBe(0);
    const types = new Set<string>();
    for (const delivery of receiver.delivered) {
      const type = String(delivery.body.type).replace(/^com\.tokenwatch\./, "");
      const hook = doc.webhooks[type]?.post;
      expect(hook, `webhook ${type} is documented`).toBeDefined();
      types.add(type);
      const media = delivery.headers["content-type"]!.split(";")[0]!.trim();
      expect(Object.keys(hook.requestBody.content)).toContain(media);
      expectValid(schemaAt("webhooks", type, "post", "requestBody", "content", media, "schema"), delivery.body, `webhook ${type}`);
      hook.parameters.forEach((parameter: { name: string; in: string; required: boolean }, i: number) => {
        expect(parameter.in).toBe("header");
        const value = delivery.headers[parameter.name];
        if (parameter.required) expect(value, parameter.name).toBeDefined();
        if (value !== undefined) expectValid(schemaAt("webhooks", type, "post", "parameters", String(i), "schema"), value, `${type} ${parameter.name}`);
      });
    }
    // The analyst's PATCH above announced an update; the detection announced creations.
    expect([...types].sort()).toEqual(expect.arrayContaining(["incident.created", "incident.updated", "webhook.test"]));
    // Both active secrets sign during the rotation's overlap.
    expect(receiver.delivered.every((d) => d.headers["webhook-signature"]!.split(" ").length === 2)).toBe(true);

    const id = state.subscription.id;
    const deliveries = await call("GET", "/api/webhooks/subscriptions/{id}/deliveries", `/api/webhooks/subscriptions/${id}/deliveries`);
    // The test message is sent at once, outside the delivery log.
    expect(deliveries.body.items.length).toBe(receiver.delivered.filter((d) => d.body.type !== "com.tokenwatch.webhook.test").length);
    const first = deliveries.body.items[0];
    const one = await call("GET", "/api/webhooks/subscriptions/{id}/deliveries/{deliveryId}", `/api/webhooks/subscriptions/${id}/deliveries/${first.id}`);
    expect(one.body.payload.data.incident.id).toBe(first.incidentId);
    const again = await call("POST", "/api/webhooks/subscriptions/{id}/deliveries/{deliveryId}/redeliver", `/api/webhooks/subscriptions/${id}/deliveries/${first.id}/redeliver`);
    expect(again.status).toBe(202);
  });

  it("allowlists: add, read, replace, audit, delete", async () => {
    await call("GET", "/api/allowlists", "/api/allowlists");
    const added = await call("POST", "/api/allowlists/{list}/entries", "/api/allowlists/network/entries", {
      body: { value: "203.0.113.0/24", reason: "office egress", expiresAt: new Date(Date.now() + 86_400_000).toISOString() },
    });
    expect(added.status).toBe(201);
    await call("GET", "/api/allowlists/{list}", "/api/allowlists/network");
    const entry = await call("GET", "/api/allowlists/{list}/entries/{id}", `/api/allowlists/network/entries/${added.body.id}`);
    const replaced = await call("PUT", "/api/allowlists/{list}/entries/{id}", `/api/allowlists/network/entries/${added.body.id}`, {
      body: { value: "203.0.113.0/25", reason: "office egress, narrowed" },
      headers: { "if-match": entry.headers.get("etag")! },
    });
    expect(replaced.status).toBe(200);
    await call("GET", "/api/allowlists/{list}/audit", "/api/allowlists/network/audit");
    const removed = await call("DELETE", "/api/allowlists/{list}/entries/{id}", `/api/allowlists/network/entries/${replaced.body.id}`);
    expect(removed.status).toBe(204);
    state.entry = replaced.body;
  });

  it("rules: health after the detection, and a backfill", async () => {
    const listed = await call("GET", "/api/rules", "/api/rules");
    expect(listed.body.items.every((r: { health: { checkpoint: string | null } }) => r.health.checkpoint !== null)).toBe(true);
    const backfill = await call("POST", "/api/rules/{id}/backfill", `/api/rules/${rules[0]!.meta.id}/backfill`, {
      body: { from: new Date(from).toISOString(), to: new Date(from + 6 * HOUR).toISOString() },
    });
    expect(backfill.status).toBe(200);
    for (const enabled of [false, true]) {
      const switched = await call("PUT", "/api/rules/{id}/enabled", `/api/rules/${rules[0]!.meta.id}/enabled`, { body: { enabled, reason: "contract test" } });
      expect(switched.status).toBe(200);
    }
  });

  it("problems: declared, RFC 9457 shaped, titled with the status's standard phrase", async () => {
    const incident = state.incident;
    const id = state.subscription.id;
    const principal = { body: { value: "svc-backup", reason: "nightly job" } };
    expect((await call("POST", "/api/allowlists/{list}/entries", "/api/allowlists/principals/entries", principal)).status).toBe(201);
    const cases: [number, string, string, string, Parameters<Host["call"]>[2]?][] = [
      [400, "GET", "/api/incidents", "/api/incidents?status=Open"],
      [401, "GET", "/api/incidents", "/api/incidents", { token: null }],
      [403, "GET", "/api/webhooks/subscriptions", "/api/webhooks/subscriptions", { token: await host.token({ roles: [READ] }) }],
      [404, "GET", "/api/incidents/{id}", "/api/incidents/0123456789abcdef0123456789abcdef"],
      [404, "GET", "/api/webhooks/subscriptions/{id}", "/api/webhooks/subscriptions/sub_0000"],
      [409, "POST", "/api/allowlists/{list}/entries", "/api/allowlists/principals/entries", principal],
      [412, "PATCH", "/api/incidents/{id}", `/api/incidents/${incident.id}`, { body: { comment: "x" }, headers: { "if-match": '"c3RhbGU"' } }],
      [413, "PATCH", "/api/incidents/{id}", `/api/incidents/${incident.id}`, { body: { comment: "x".repeat(70_000) }, headers: { "if-match": incident.etag } }],
      [415, "PATCH", "/api/incidents/{id}", `/api/incidents/${incident.id}`, { body: "{}", headers: { "content-type": "text/plain", "if-match": incident.etag } }],
      [428, "PATCH", "/api/incidents/{id}", `/api/incidents/${incident.id}`, { body: { comment: "x" } }],
      [428, "PATCH", "/api/webhooks/subscriptions/{id}", `/api/webhooks/subscriptions/${id}`, { body: { enabled: false } }],
    ];
    const PHRASES: Record<number, string> = {
      400: "Bad Request",
      401: "Unauthorized",
      403: "Forbidden",
      404: "Not Found",
      409: "Conflict",
      412: "Precondition Failed",
      413: "Content Too Large",
      415: "Unsupported Media Type",
      428: "Precondition Required",
    };
    for (const [status, method, template, path, options] of cases) {
      const r = await call(method, template, path, options);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(r.body, `${method} ${path}`).toMatchObject({ type: "about:blank", title: PHRASES[status], status });
    }
    // Outside any route: still a problem with the standard phrase.
    const unknown = await host.call("GET", "/api/nowhere");
    expect(unknown.body).toMatchObject({ type: "about:blank", title: "Not Found", status: 404 });
    const method = await host.call("DELETE", "/api/incidents");
    expect(method.body).toMatchObject({ type: "about:blank", title: "Method Not Allowed", status: 405 });

    const removed = await call("DELETE", "/api/webhooks/subscriptions/{id}", `/api/webhooks/subscriptions/${id}`, { headers: { "if-match": "*" } });
    expect(removed.status).toBe(204);
  });

  it("covers every documented operation's success response", () => {
    const missing: string[] = [];
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths))
      for (const method of METHODS.filter((m) => item[m])) {
        const success = Object.keys(item[method].responses).filter((s) => s.startsWith("2")).map(Number);
        const seen = validated.get(`${method.toUpperCase()} ${path}`);
        for (const status of success) if (!seen?.has(status)) missing.push(`${method.toUpperCase()} ${path} ${status}`);
      }
    expect(missing).toEqual([]);
  });
});
