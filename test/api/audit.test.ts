// Audit records name who acted by the token's immutable ids, not only by its display name:
// a token whose only name is "Alice Admin (CISO)" is recorded with its oid and tid.
import { fromMs } from "../../src/model/time.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ruleById } from "../../src/rules/index.js";
import { ADMIN, HOUR, TENANT, WRITE, startHost, stopAzurite, type Host } from "./harness.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";

const STS = stsRefreshTokenModification.meta.id;
const T0 = Date.parse("2026-11-01T08:00:00.000Z");
const MALLORY = { oid: "99999999-0000-4000-8000-000000000bad", tid: "77777777-0000-4000-8000-000000000001" };
/** A token with no upn or preferred_username, only a display name chosen to impress. */
const impostor = (roles: string[]) => ({ roles, claims: { preferred_username: undefined, name: "Alice Admin (CISO)", ...MALLORY } });

let host: Host;
beforeAll(async () => {
  host = await startHost({ webhooks: true });
  const rule = ruleById(STS)!;
  await host.stores.incidents.place(
    [{ id: "audit-alert-1", ruleId: STS, ruleName: rule.meta.name, severity: rule.meta.severity, time: fromMs(T0), account: "victim@contoso.com", ip: "203.0.113.9", title: "t", details: {}, entities: [] }],
    T0 + HOUR,
  );
});
afterAll(async () => {
  await host?.close();
  await stopAzurite();
});

const expectActor = (record: Record<string, unknown>, field: string) =>
  expect(record).toMatchObject({ [field]: "Alice Admin (CISO)", [`${field}Id`]: MALLORY.oid, [`${field}TenantId`]: MALLORY.tid });

describe("audit records keep the caller's object id and tenant with the display name", () => {
  it("incident history", async () => {
    const token = await host.token(impostor([WRITE]));
    const [incident] = (await host.call("GET", "/api/incidents")).body.items;
    const read = await host.call("GET", `/api/incidents/${incident.id}`);
    const r = await host.call("PATCH", `/api/incidents/${incident.id}`, { token, body: { status: "Active", comment: "looking" }, headers: { "if-match": read.headers.get("etag")! } });
    expect(r.status).toBe(200);
    expect(r.body.history).toHaveLength(2);
    for (const change of r.body.history) expectActor(change, "actor");
  });

  it("allowlist entries and the allowlist audit log", async () => {
    const token = await host.token(impostor([ADMIN]));
    const r = await host.call("POST", "/api/allowlists/network/entries", { token, body: { value: "198.51.100.0/24", reason: "branch office" } });
    expect(r.status).toBe(201);
    expectActor(r.body, "createdBy");
    const audit = await host.call("GET", "/api/allowlists/network/audit");
    expectActor(audit.body.items[0], "actor");
    // An ordinary token: its upn is the name, and the harness's oid and tenant are recorded.
    const plain = await host.call("POST", "/api/allowlists/network/entries", { token: await host.token({ roles: [ADMIN], user: "ops@contoso.com" }), body: { value: "198.51.101.0/24", reason: "r" } });
    expect(plain.body).toMatchObject({ createdBy: "ops@contoso.com", createdById: "00000000-0000-0000-0000-00000000000a", createdByTenantId: TENANT });
    // The seeded defaults were made by tokenwatch itself: no ids.
    const list = await host.call("GET", "/api/allowlists/principals");
    expect(list.body.entries.find((e: { createdBy: string }) => e.createdBy === "tokenwatch")).toMatchObject({ createdById: null, createdByTenantId: null });
  });

  it("webhook subscriptions: who created one and who changed it last", async () => {
    const token = await host.token(impostor([ADMIN]));
    const r = await host.call("POST", "/api/webhooks/subscriptions", { token, body: { url: "https://hooks.example.com/tokenwatch", eventTypes: ["incident.created"] } });
    expect(r.status).toBe(201);
    expectActor(r.body.subscription, "createdBy");
    expectActor(r.body.subscription, "updatedBy");
    const ops = await host.token({ roles: [ADMIN], user: "ops@contoso.com", claims: { oid: "00000000-0000-4000-8000-0000000000b0" } });
    const path = `/api/webhooks/subscriptions/${r.body.subscription.id}`;
    const changed = await host.call("PATCH", path, { token: ops, body: { enabled: false }, headers: { "if-match": r.headers.get("etag")! } });
    expect(changed.status).toBe(200);
    expectActor(changed.body, "createdBy");
    expect(changed.body).toMatchObject({ updatedBy: "ops@contoso.com", updatedById: "00000000-0000-4000-8000-0000000000b0", updatedByTenantId: TENANT });
    const rotated = await host.call("POST", `${path}/rotate-secret`, { token, body: {}, headers: { "if-match": "*" } });
    expectActor(rotated.body.subscription, "updatedBy");
  });

  it("the OpenAPI document describes the ids", async () => {
    const doc = (await host.call("GET", "/api/openapi.json", { token: null })).body;
    const text = JSON.stringify(doc);
    for (const field of ["actorId", "actorTenantId", "createdById", "createdByTenantId"]) expect(text).toContain(`"${field}"`);
  });
});
