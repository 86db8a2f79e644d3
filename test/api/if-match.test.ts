// `If-Match: *` means "whatever version is current": concurrent changes sent with it all
// succeed and none is lost (each is re-applied on the version that beat it), while a
// specific ETag still answers 412 once the resource moved.
import { fromMs } from "../../src/model/time.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ruleById } from "../../src/rules/index.js";
import { ADMIN, HOUR, startHost, stopAzurite, type Host } from "./harness.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";

const STS = stsRefreshTokenModification.meta.id;
const T0 = Date.parse("2026-11-02T08:00:00.000Z");
const N = 8;

let host: Host;
let incidentId: string;
beforeAll(async () => {
  host = await startHost({ webhooks: true });
  const rule = ruleById(STS)!;
  await host.stores.incidents.place(
    [{ id: "ifmatch-alert-1", ruleId: STS, ruleName: rule.meta.name, severity: rule.meta.severity, time: fromMs(T0), account: "race@contoso.com", ip: "203.0.113.9", title: "t", details: {}, entities: [] }],
    T0 + HOUR,
  );
  incidentId = (await host.call("GET", "/api/incidents")).body.items[0].id;
});
afterAll(async () => {
  await host?.close();
  await stopAzurite();
});

describe("If-Match: * under concurrency", () => {
  it("incident updates: every concurrent comment is stored, no 412", async () => {
    const replies = await Promise.all(
      Array.from({ length: N }, (_, i) => host.call("PATCH", `/api/incidents/${incidentId}`, { body: { comment: `note ${i}`, owner: `analyst${i}@contoso.com` }, headers: { "if-match": "*" } })),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(N).fill(200));
    const detail = await host.call("GET", `/api/incidents/${incidentId}`);
    const comments = detail.body.history.filter((c: { field: string }) => c.field === "comment").map((c: { after: string }) => c.after);
    expect(comments.sort()).toEqual(Array.from({ length: N }, (_, i) => `note ${i}`).sort());
  });

  it("a specific ETag that another change overtook is still a 412, and none is a 428", async () => {
    const read = await host.call("GET", `/api/incidents/${incidentId}`);
    const etag = read.headers.get("etag")!;
    expect((await host.call("PATCH", `/api/incidents/${incidentId}`, { body: { comment: "first" }, headers: { "if-match": etag } })).status).toBe(200);
    expect((await host.call("PATCH", `/api/incidents/${incidentId}`, { body: { comment: "second" }, headers: { "if-match": etag } })).status).toBe(412);
    expect((await host.call("PATCH", `/api/incidents/${incidentId}`, { body: { comment: "third" } })).status).toBe(428);
    expect((await host.call("PATCH", "/api/incidents/0123456789abcdef0123456789abcdef", { body: { comment: "x" } })).status).toBe(404);
  });

  it("allowlist entries: concurrent replacements with * all succeed", async () => {
    const created = await host.call("POST", "/api/allowlists/network/entries", { body: { value: "192.0.2.0/24", reason: "r0" } });
    expect(created.status).toBe(201);
    const path = `/api/allowlists/network/entries/${created.body.id}`;
    const replies = await Promise.all(Array.from({ length: N }, (_, i) => host.call("PUT", path, { body: { value: "192.0.2.0/24", reason: `r${i + 1}` }, headers: { "if-match": "*" } })));
    expect(replies.map((r) => r.status)).toEqual(Array(N).fill(200));
    const audit = await host.call("GET", "/api/allowlists/network/audit?limit=50");
    expect(audit.body.items.filter((a: { action: string }) => a.action === "update")).toHaveLength(N);
  });

  it("webhook subscriptions: concurrent changes with * all succeed", async () => {
    const token = await host.token({ roles: [ADMIN] });
    const created = await host.call("POST", "/api/webhooks/subscriptions", { token, body: { url: "https://hooks.example.com/race", eventTypes: ["incident.created"] } });
    expect(created.status).toBe(201);
    const path = `/api/webhooks/subscriptions/${created.body.subscription.id}`;
    const replies = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        i % 2 === 0
          ? host.call("PATCH", path, { token, body: { description: `d${i}` }, headers: { "if-match": "*" } })
          : host.call("POST", `${path}/rotate-secret`, { token, body: { overlapSeconds: 60 }, headers: { "if-match": "*" } }),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(N).fill(200));
    // Every rotation kept its secret: none overwrote another's.
    expect((await host.call("GET", path, { token })).body.secrets).toHaveLength(1 + N / 2);
  });
});
