// Every id path parameter of every route, given ids no stored entity can have (a `/` as
// %2F, Table Storage's other forbidden characters, control characters, OData quotes, a
// 2,000-character id): a 400 or a 404, never a 500.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHost, stopAzurite, type Host } from "./harness.js";

let host: Host;
let routes: { method: string; path: string }[] = [];
beforeAll(async () => {
  host = await startHost({ webhooks: true });
  const doc = (await host.call("GET", "/api/openapi.json", { token: null })).body as { paths: Record<string, Record<string, unknown>> };
  routes = Object.entries(doc.paths)
    .filter(([path]) => path.includes("{"))
    .flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path: path.replace(/^\/api/, "") })));
});
afterAll(async () => {
  await host?.close();
  await stopAzurite();
});

/** Bodies that pass validation, so the request reaches the handler and its storage read. */
const BODIES: Record<string, unknown> = {
  "PATCH /incidents/{id}": { comment: "x" },
  "PUT /allowlists/{list}/entries/{id}": { value: "10.0.0.1", reason: "r" },
  "PATCH /webhooks/subscriptions/{id}": { description: "x" },
  "POST /webhooks/subscriptions/{id}/rotate-secret": {},
  "POST /rules/{id}/backfill": { from: "2026-11-01T00:00:00Z", to: "2026-11-01T01:00:00Z" },
};

const BAD_IDS = [
  "a%2Fb",
  "%2F",
  "a%5Cb",
  "a%23b",
  "a%3Fb",
  "a%00b",
  "a%0Ab",
  "a%7Fb",
  "%C2%85",
  "%27",
  "x%27%20or%20RowKey%20ne%20%27",
  "%25",
  "%E2%80%AE",
  "x".repeat(2000),
];

describe("id path parameters", () => {
  it("the document lists the routes with ids (webhooks included)", () => {
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining(["GET /incidents/{id}", "GET /webhooks/subscriptions/{id}", "GET /webhooks/subscriptions/{id}/deliveries/{deliveryId}", "POST /webhooks/subscriptions/{id}/deliveries/{deliveryId}/redeliver"]),
    );
  });

  it("answer 400 or 404, never 500, for ids no entity can have", async () => {
    const failures: string[] = [];
    for (const route of routes) {
      const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
      for (const bad of BAD_IDS)
        for (const param of params) {
          // The other parameters keep plausible values, so each one is tested on its own.
          const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => (name === param ? bad : name === "list" ? "network" : "0123456789abcdef0123456789abcdef"));
          const body = BODIES[`${route.method} ${route.path}`];
          const r = await host.call(route.method, `/api${path}`, { body, headers: { "if-match": "*" } });
          if (![400, 404].includes(r.status)) failures.push(`${route.method} ${route.path} with ${param}=${bad.slice(0, 30)}: ${r.status} ${r.text.slice(0, 120)}`);
        }
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
