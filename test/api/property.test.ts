// Random and malformed requests at every route, over raw HTTP (methods, paths, query strings,
// bodies, headers, tokens): the API never answers 5xx, and a request answered 4xx leaves
// every table exactly as it was.
import { fromMs } from "../../src/model/time.js";
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ruleById } from "../../src/rules/index.js";
import { ReplaySource } from "../../src/sources/replay.js";
import { ADMIN, HOUR, READ, WRITE, startHost, stopAzurite, type Host } from "./harness.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";

const STS = stsRefreshTokenModification.meta.id;
const PIVOT = interactiveToNonInteractivePivot.meta.id;
const T0 = Date.parse("2026-11-01T08:00:00.000Z");

let host: Host;
let incidentIds: string[] = [];
let entryIds: string[] = [];
let etags: string[] = [];
const tokens: Record<string, string> = {};

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** node:http rather than fetch: any method, any path bytes, any header. */
function raw(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<RawReply> {
  const url = new URL(host.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers: { ...headers, ...(body ? { "content-length": String(body.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

beforeAll(async () => {
  // With a log source, so backfill requests can succeed too.
  host = await startHost({ source: await ReplaySource.open(fileURLToPath(new URL("../fixtures/api/logs", import.meta.url))) });
  const rule = ruleById(STS)!;
  const pivot = ruleById(PIVOT)!;
  const placed = await host.stores.incidents.place(
    ["alice@contoso.com", "bob@contoso.com", "guest_x.com#EXT#@contoso.onmicrosoft.com"].flatMap((account, i) => [
      { id: `p-${i}-a`, ruleId: STS, ruleName: rule.meta.name, severity: rule.meta.severity, time: fromMs(T0 + i * HOUR), account, ip: "203.0.113.1", title: "t", details: {}, entities: [{ type: "account" as const, name: account }] },
      { id: `p-${i}-b`, ruleId: PIVOT, ruleName: pivot.meta.name, severity: pivot.meta.severity, time: fromMs(T0 + i * HOUR), account, ip: null, title: "t", details: {}, entities: [] },
    ]),
    Date.now(),
  );
  incidentIds = placed.incidents.map((i) => i.id);
  const admin = await host.token({ roles: [ADMIN] });
  // Lists seed their defaults on first use: do it now, so the property below sees only request effects.
  expect((await host.call("GET", "/api/allowlists", { token: admin })).status).toBe(200);
  for (const value of ["10.1.0.0/16", "2001:db8::1"]) {
    const r = await host.call("POST", "/api/allowlists/network/entries", { token: admin, body: { value, reason: "seed" } });
    entryIds.push(r.body.id);
    etags.push(r.body.etag);
  }
  for (const id of incidentIds.slice(0, 2)) etags.push((await host.call("GET", `/api/incidents/${id}`)).headers.get("etag")!);
  tokens.read = await host.token({ roles: [READ] });
  tokens.write = await host.token({ roles: [WRITE] });
  tokens.admin = admin;
  tokens.all = await host.token({ roles: [READ, WRITE, ADMIN] });
  tokens.none = await host.token({ roles: [] });
  tokens.expired = await host.token({ roles: [READ, WRITE, ADMIN], expiresIn: -600 });
  tokens.foreign = await host.token({ roles: [ADMIN], audience: "api://other" });
});

afterAll(async () => {
  await host?.close();
  await stopAzurite();
});

/** Every route, as method and path template. */
const ROUTES: [string, string][] = [
  ["GET", "/api/health"],
  ["GET", "/api/openapi.json"],
  ["GET", "/api/incidents"],
  ["GET", "/api/incidents/{id}"],
  ["PATCH", "/api/incidents/{id}"],
  ["GET", "/api/accounts"],
  ["GET", "/api/accounts/{account}/incidents"],
  ["GET", "/api/allowlists"],
  ["GET", "/api/allowlists/{list}"],
  ["POST", "/api/allowlists/{list}/entries"],
  ["GET", "/api/allowlists/{list}/entries/{entry}"],
  ["PUT", "/api/allowlists/{list}/entries/{entry}"],
  ["DELETE", "/api/allowlists/{list}/entries/{entry}"],
  ["GET", "/api/allowlists/{list}/audit"],
  ["GET", "/api/rules"],
  ["POST", "/api/rules/{rule}/backfill"],
];

/** The generators, built once the seeded ids, ETags and tokens exist. */
function arbitraries() {
  const junk = () =>
    fc.oneof(
      fc.constantFrom("%ZZ", "%00", "..", ".", "%2F", "'", "%27%20or%201%20eq%201", "a".repeat(2000), "%23".repeat(400), "%F0%9F%92%A5", "0123456789abcdef0123456789abcdef", "network", STS),
      fc.string({ maxLength: 40 }).map(encodeURIComponent),
    );
  /** Mostly a value that exists, sometimes junk. */
  const param = (valid: () => string[]) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...valid()) }, { weight: 1, arbitrary: junk() });

  const routed = fc
    .tuple(
      // Routes that write count three times: their refusals are where a changed store could hide.
      fc.constantFrom(...ROUTES, ...ROUTES.filter(([m]) => m !== "GET"), ...ROUTES.filter(([m]) => m !== "GET")),
      fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND") }),
      param(() => incidentIds),
      param(() => ["alice%40contoso.com", "guest_x.com%23EXT%23%40contoso.onmicrosoft.com", "nobody%40contoso.com"]),
      param(() => ["network", "principals"]),
      param(() => entryIds),
      param(() => [STS, PIVOT]),
    )
    .map(([[m, t], otherMethod, id, account, list, entry, rule]) => ({
      method: otherMethod ?? m,
      path: t.replace("{id}", id).replace("{account}", account).replace("{list}", list).replace("{entry}", entry).replace("{rule}", rule),
    }));

  const target = fc.oneof(
    { weight: 6, arbitrary: routed },
    {
      weight: 1,
      arbitrary: fc.record({
        method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND"),
        path: fc.oneof(
          fc.webPath().map((p) => (p.startsWith("/") ? p : `/${p}`)),
          fc.constantFrom("/", "/api", "/api/", "//api/health", "/api/incidents/", "/api/../api/rules", "/dev/jwks.json"),
        ),
      }),
    },
  );

  const queryValue = fc.oneof(
    fc.constantFrom("New", "Closed,New", "High", "Bogus", "", "0", "1", "201", "-1", "1e3", "2026-11-01T00:00:00Z", "yesterday", STS, "eyJ2IjoxfQ", "not-a-token!"),
    fc.string({ maxLength: 30 }),
  );
  const query = fc.oneof({ weight: 3, arbitrary: fc.constant("") }, { weight: 2, arbitrary: fc
    .array(fc.tuple(fc.constantFrom("status", "severity", "ruleId", "account", "from", "to", "limit", "continuation", "x", "$filter"), queryValue), { maxLength: 4 })
    .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")}` : "")) });

  const jsonBody = fc.oneof(
    fc.record(
      {
        status: fc.constantFrom("New", "Active", "Closed", "Open", 3),
        owner: fc.oneof(fc.constant(null), fc.string({ maxLength: 300 })),
        classification: fc.constantFrom("TruePositive", "Maybe", null),
        comment: fc.string({ maxLength: 50 }),
        value: fc.constantFrom("10.0.0.1", "10.0.0.0/33", "2001:DB8::/32", "::ffff:1.2.3.4", "not an ip", "", "x".repeat(300)),
        reason: fc.string({ maxLength: 20 }),
        expiresAt: fc.constantFrom("2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "soon", null),
        from: fc.constantFrom("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "x"),
        to: fc.constantFrom("2026-11-01T01:00:00Z", "2099-01-01T00:00:00Z", 5),
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue(),
  );
  const body = fc.oneof(
    { weight: 2, arbitrary: fc.constant<Buffer | undefined>(undefined) },
    { weight: 4, arbitrary: jsonBody.map((j) => Buffer.from(JSON.stringify(j) ?? "null")) },
    // Bodies some route accepts, so writes (and their 409/412/428 refusals) happen too.
    {
      weight: 8,
      arbitrary: fc
        .oneof(
          fc.record({ value: fc.ipV4().map((ip) => `${ip}/32`), reason: fc.constant("r") }),
          fc.record({ value: fc.constantFrom("10.1.0.0/16", "2001:DB8::1", "SyncAccount2"), reason: fc.constant("dup") }),
          fc.record({ comment: fc.constantFrom("looking", "done") }),
          fc.record({ status: fc.constantFrom("Active", "New"), owner: fc.constantFrom("a@contoso.com", null) }),
          fc.constant({ from: "2026-11-01T00:00:00Z", to: "2026-11-01T02:00:00Z" }),
        )
        .map((j) => Buffer.from(JSON.stringify(j))),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 100 }).map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(65 * 1024, 0x7b)) },
  );

  const headers = fc.record(
    {
      authorization: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom("read", "write", "admin", "all", "all", "all", "all", "all", "none", "expired", "foreign").map((k) => `Bearer ${tokens[k]}`) },
        { weight: 1, arbitrary: fc.constantFrom("Bearer", "Bearer abc.def.ghi", "Basic Zm9vOmJhcg==", "bearer   x", "") },
      ),
      "content-type": fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom("application/json", "application/json; charset=utf-8") },
        { weight: 2, arbitrary: fc.constantFrom("", "text/plain", "application/merge-patch+json", "multipart/form-data", "application/jsonx") },
      ),
      "if-match": fc.oneof(fc.constantFrom(...etags, "*", '"stale"', "W/\"x\"", ""), fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, ""))),
    },
    { requiredKeys: ["authorization", "content-type"] },
  );
  // Well-formed requests for each route (valid ids, the right role, a body it accepts, the
  // ETag it needs), then up to three mutations: a wrong method, a junk path segment, junk
  // query fields, another token, another content type, another body, a missing or stale
  // If-Match. Unmutated they succeed (and write); mutated they must be refused cleanly.
  const bodyFor: Record<string, fc.Arbitrary<unknown> | undefined> = {
    "PATCH /api/incidents/{id}": fc.oneof(
      fc.record({ comment: fc.constantFrom("looking", "done") }),
      fc.record({ status: fc.constantFrom("Active", "New"), owner: fc.constantFrom("a@contoso.com", null) }),
      fc.constant({ status: "Closed", classification: "FalsePositive" }),
    ),
    "POST /api/allowlists/{list}/entries": fc.record({ value: fc.oneof(fc.ipV4().map((ip) => `${ip}/32`), fc.constantFrom("10.1.0.0/16", "2001:DB8::1", "SyncAccount2")), reason: fc.constant("r") }),
    "PUT /api/allowlists/{list}/entries/{entry}": fc.record({ value: fc.constantFrom("10.1.0.0/16", "10.1.0.0/17", "2001:db8::1", "2001:db8::2"), reason: fc.constantFrom("r", "s") }),
    "POST /api/rules/{rule}/backfill": fc.constant({ from: "2026-11-01T00:00:00Z", to: "2026-11-01T02:00:00Z" }),
  };
  const wellFormed = fc.constantFrom(...ROUTES).chain(([m, t]) =>
    fc
      .record({
        id: fc.constantFrom(...incidentIds),
        account: fc.constantFrom("alice%40contoso.com", "guest_x.com%23EXT%23%40contoso.onmicrosoft.com"),
        list: t.includes("{entry}") ? fc.constant("network") : fc.constantFrom("network", "principals"),
        entry: fc.constantFrom(...entryIds),
        rule: fc.constantFrom(STS, PIVOT),
        body: bodyFor[`${m} ${t}`] ?? fc.constant(undefined),
        ifMatch: fc.constantFrom(...etags, "*"),
      })
      .map((v) => ({
        method: m,
        path: t.replace("{id}", v.id).replace("{account}", v.account).replace("{list}", v.list).replace("{entry}", v.entry).replace("{rule}", v.rule),
        headers: {
          authorization: `Bearer ${tokens.all}`,
          "content-type": "application/json",
          ...(m === "PATCH" || m === "PUT" ? { "if-match": v.ifMatch } : {}),
        } as Record<string, string>,
        body: v.body === undefined ? undefined : Buffer.from(JSON.stringify(v.body)),
      })),
  );
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("method" as const), value: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS") }),
    fc.record({ kind: fc.constant("segment" as const), value: junk() }),
    fc.record({ kind: fc.constant("query" as const), value: query }),
    fc.record({ kind: fc.constant("headers" as const), value: headers }),
    fc.record({ kind: fc.constant("body" as const), value: body }),
    fc.record({ kind: fc.constant("body" as const), value: fc.integer({ min: 64 * 1024 + 1, max: 200 * 1024 }).map((n) => Buffer.alloc(n, 0x20)) }),
    fc.record({ kind: fc.constant("no-if-match" as const), value: fc.constant(null) }),
  );
  const mutated = fc.tuple(wellFormed, fc.array(mutation, { maxLength: 3 })).map(([req, mutations]) => {
    let { method, path, headers: h, body: b } = req;
    let q = "";
    for (const m of mutations) {
      if (m.kind === "method") method = m.value;
      else if (m.kind === "segment") path = path.replace(/\/[^/]*$/, `/${m.value}`);
      else if (m.kind === "query") q = m.value;
      else if (m.kind === "headers") h = { ...h, ...m.value };
      else if (m.kind === "body") b = m.value;
      else {
        h = { ...h };
        delete h["if-match"];
      }
    }
    return { method, path: path + q, headers: h, body: b };
  });
  const chaos = fc.tuple(target, query, headers, body).map(([t, q, h, b]) => ({ method: t.method, path: t.path + q, headers: h as Record<string, string>, body: b }));
  return fc.oneof({ weight: 1, arbitrary: chaos }, { weight: 2, arbitrary: mutated });
}

describe("random and malformed requests", () => {
  it("never get a 5xx, and a 4xx never changes the store", async () => {
    const requests = arbitraries();
    const seen = new Map<number, number>();
    // The store as the previous request left it: one dump per request serves as this request's
    // "after" and the next one's "before" (nothing else writes to the store meanwhile).
    let current: string | undefined;
    await fc.assert(
      fc.asyncProperty(requests, async ({ method: m, path: p, headers: h, body: b }) => {
        const before = current ?? (await host.dump());
        current = undefined;
        const reply = await raw(m, p, h, m === "GET" || m === "HEAD" ? (b && b.length < 1024 ? b : undefined) : b);
        const after = (current = await host.dump());
        seen.set(reply.status, (seen.get(reply.status) ?? 0) + 1);
        expect(reply.status, `${m} ${p} -> ${reply.body.slice(0, 300)}`).toBeLessThan(500);
        if (reply.status >= 400) {
          if (m !== "HEAD") expect(reply.headers["content-type"]).toMatch(/^application\/problem\+json/);
          expect(after, `${m} ${p} changed the store with ${reply.status}`).toBe(before);
        }
      }),
      { numRuns: 300, seed: 20261122 },
    );
    // The generators reach deep enough to matter: successes and each kind of refusal.
    for (const status of [200, 201, 400, 401, 403, 404, 405, 409, 412, 413, 415, 428]) expect(seen.get(status) ?? 0, `status ${status} never produced: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
    // 300 requests, each followed by one whole-store dump.
  }, 150_000);
});
