// Incidents and accounts over real HTTP: filters, newest-first pagination with continuation
// tokens, detail with alerts/entities/history, the ETag flow, and every 4xx changing nothing.
import { fromMs } from "../../src/model/time.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CORRELATION_RULE_ID } from "../../src/model/correlation.js";
import type { Alert } from "../../src/engine/incidents.js";
import { ruleById } from "../../src/rules/index.js";
import { ADMIN, HOUR, READ, TENANT, WRITE, startHost, stopAzurite, type Host } from "./harness.js";

const STS = "4696e072-aca8-4a4f-bf05-89fddc5ac3c9";
const SOLORIGATE = "634dfbd6-0a42-40da-854e-2161cf137f14";
const PIVOT = "d9e5f7a8-b3c4-6d0e-1f2a-3b4c5d6e7f8a";
const T0 = Date.parse("2026-11-01T08:00:00.000Z");
// Stored as the rules report accounts: lowercase (Entra writes #EXT#).
const GUEST = "partner_fabrikam.com#ext#@contoso.onmicrosoft.com";

let host: Host;
let seq = 0;

function alert(ruleId: string, account: string, time: number, ip = "203.0.113.7"): Omit<Alert, "incidentId"> {
  const rule = ruleById(ruleId)!;
  return {
    id: `alert-${String(++seq).padStart(4, "0")}`,
    ruleId,
    ruleName: rule.meta.name,
    severity: rule.meta.severity,
    time: fromMs(time),
    account,
    ip,
    title: `${rule.meta.name} for ${account}`,
    details: { ip, n: seq },
    entities: [
      { type: "account", name: account },
      { type: "ip", address: ip },
    ],
  };
}

beforeAll(async () => {
  host = await startHost();
  await host.stores.incidents.place(
    [
      alert(STS, "alice@contoso.com", T0),
      alert(STS, "alice@contoso.com", T0 + HOUR, "198.51.100.4"),
      alert(SOLORIGATE, "alice@contoso.com", T0 + 2 * HOUR),
      alert(PIVOT, "bob@contoso.com", T0 + 10 * HOUR),
      alert(STS, GUEST, T0 + 3 * HOUR),
      // Same latest time for two accounts: the id breaks the tie, pages stay stable.
      alert(STS, "carol@contoso.com", T0 + 5 * HOUR),
      alert(STS, "dave@contoso.com", T0 + 5 * HOUR),
      alert(SOLORIGATE, "erin@contoso.com", T0 - 30 * HOUR),
    ],
    Date.now(),
  );
});

afterAll(async () => {
  await host?.close();
  await stopAzurite();
});

const list = async (query = "") => host.call("GET", `/api/incidents${query}`);

describe("GET /api/incidents", () => {
  it("lists every incident newest first (by latest alert)", async () => {
    const r = await list();
    expect(r.status).toBe(200);
    const times = r.body.items.map((i: { lastAlertTime: string }) => Date.parse(i.lastAlertTime));
    // Seven rules' incidents, and alice's correlated one (Solorigate and STS within 24 h).
    expect(r.body.items).toHaveLength(8);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(r.body.items[0]).toMatchObject({ account: "bob@contoso.com", ruleId: PIVOT, severity: "High", status: "New", alertCount: 1 });
    expect(r.body.continuation).toBeNull();
  });

  it("filters by status, severity, rule, account and time range", async () => {
    const accounts = async (q: string) => (await list(q)).body.items.map((i: { account: string }) => i.account).sort();
    expect(await accounts("?severity=High")).toEqual(["alice@contoso.com", "bob@contoso.com"]);
    expect(await accounts("?severity=Medium,High")).toEqual(["alice@contoso.com", "alice@contoso.com", "bob@contoso.com", "erin@contoso.com"]);
    expect(await accounts(`?ruleId=${SOLORIGATE}`)).toEqual(["alice@contoso.com", "erin@contoso.com"]);
    expect(await accounts(`?account=${encodeURIComponent(GUEST)}`)).toEqual([GUEST]);
    expect(await accounts("?status=Closed")).toEqual([]);
    expect((await accounts("?status=New,Active")).length).toBe(8);
    expect(await accounts(`?from=${new Date(T0 + 4 * HOUR).toISOString()}&to=${new Date(T0 + 6 * HOUR).toISOString()}`)).toEqual(["carol@contoso.com", "dave@contoso.com"]);
    // An incident overlapping the range counts: alice's STS incident spans T0..T0+1h.
    expect(await accounts(`?ruleId=${STS}&from=${new Date(T0 + 30 * 60_000).toISOString()}&to=${new Date(T0 + 45 * 60_000).toISOString()}`)).toEqual(["alice@contoso.com"]);
  });

  it("takes accounts and enum values as people type them: a mixed-case UPN, severity=high", async () => {
    const accounts = async (q: string) => (await list(q)).body.items.map((i: { account: string }) => i.account).sort();
    expect(await accounts("?account=Alice%40Contoso.com")).toEqual(["alice@contoso.com", "alice@contoso.com", "alice@contoso.com"]);
    expect(await accounts(`?account=${encodeURIComponent(GUEST.toUpperCase())}`)).toEqual([GUEST]);
    expect(await accounts("?severity=high")).toEqual(["alice@contoso.com", "bob@contoso.com"]);
    expect(await accounts("?severity=MEDIUM,high")).toEqual(["alice@contoso.com", "alice@contoso.com", "bob@contoso.com", "erin@contoso.com"]);
    expect((await accounts("?status=new,ACTIVE")).length).toBe(8);
  });

  it("each listed incident carries its IPs and a one-line summary (severity, rule, alert count, IPs, first and last time)", async () => {
    const r = await list("?account=alice%40contoso.com");
    const sts = r.body.items.find((i: { ruleId: string }) => i.ruleId === STS);
    expect(sts.ips).toEqual(["203.0.113.7", "198.51.100.4"]);
    expect(sts.summary).toBe(
      `Low | ${ruleById(STS)!.meta.name} | 2 alerts | IPs 203.0.113.7, 198.51.100.4 | ${new Date(T0).toISOString()} .. ${new Date(T0 + HOUR).toISOString()}`,
    );
    const solorigate = r.body.items.find((i: { ruleId: string }) => i.ruleId === SOLORIGATE);
    expect(solorigate.summary).toBe(`Medium | ${ruleById(SOLORIGATE)!.meta.name} | 1 alert | IPs 203.0.113.7 | ${new Date(T0 + 2 * HOUR).toISOString()}`);
  });

  it("pages with limit and continuation: every incident once, in order", async () => {
    const all = (await list()).body.items.map((i: { id: string }) => i.id);
    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const r = await list(`?limit=2${token ? `&continuation=${encodeURIComponent(token)}` : ""}`);
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.items.map((i: { id: string }) => i.id));
      token = r.body.continuation;
      pages++;
    } while (token);
    expect(pages).toBe(4);
    expect(seen).toEqual(all);
  });

  it("refuses a continuation token that is malformed, tampered or from another query (400, naming the field)", async () => {
    const first = await list("?limit=2");
    const token: string = first.body.continuation;
    const tampered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(token, "base64url").toString()), s: "x" })).toString("base64url");
    for (const bad of ["garbage!", "bm90IGpzb24", tampered, Buffer.from('{"v":1}').toString("base64url")]) {
      const r = await list(`?limit=2&continuation=${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(400);
      expect(r.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(r.body.errors).toEqual([{ field: "query.continuation", message: expect.any(String) }]);
    }
    const otherQuery = await list(`?limit=2&severity=Low&continuation=${encodeURIComponent(token)}`);
    expect(otherQuery.status).toBe(400);
  });

  it("answers 400 naming the field for bad query values and unknown query fields", async () => {
    const cases: [string, string][] = [
      ["?status=Bogus", "query.status.0"],
      ["?severity=", "query.severity.0"],
      ["?ruleId=not-a-rule", "query.ruleId"],
      ["?from=yesterday", "query.from"],
      ["?limit=0", "query.limit"],
      ["?limit=abc", "query.limit"],
      ["?limit=5000", "query.limit"],
      ["?unknown=1", "query.unknown"],
      ["?limit=1&limit=2", "query.limit"],
      [`?from=${new Date(T0).toISOString()}&to=${new Date(T0 - HOUR).toISOString()}`, "query.to"],
    ];
    for (const [query, field] of cases) {
      const r = await list(query);
      expect(r.status, query).toBe(400);
      expect(r.body.errors.map((e: { field: string }) => e.field), query).toContain(field);
    }
  });

  it("answers 405 with Allow for other methods, and 404 for unknown routes", async () => {
    const r = await host.call("DELETE", "/api/incidents");
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET");
    const one = await host.call("PUT", "/api/incidents/0123456789abcdef0123456789abcdef", { body: {} });
    expect(one.status).toBe(405);
    expect(one.headers.get("allow")).toBe("GET, PATCH");
    for (const path of ["/api/incident", "/api/incidents/x/y", "/api", "/", "/api/incidents/"]) expect((await host.call("GET", path)).status, path).toBe(404);
  });
});

describe("GET /api/incidents/{id}", () => {
  it("returns the incident with its alerts, entities and an ETag", async () => {
    const id = (await list(`?account=alice%40contoso.com&ruleId=${STS}`)).body.items[0].id;
    const r = await host.call("GET", `/api/incidents/${id}`);
    expect(r.status).toBe(200);
    expect(r.headers.get("etag")).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(r.body.etag).toBe(r.headers.get("etag"));
    expect(r.body.alerts.map((a: { time: string }) => a.time)).toEqual([new Date(T0).toISOString(), new Date(T0 + HOUR).toISOString()]);
    expect(r.body.entities).toEqual(
      expect.arrayContaining([
        { type: "account", name: "alice@contoso.com" },
        { type: "ip", address: "203.0.113.7" },
        { type: "ip", address: "198.51.100.4" },
      ]),
    );
    expect(r.body.entities).toHaveLength(3);
    expect(r.body.history).toEqual([]);
    expect(r.body.historyContinuation).toBeNull();
  });

  it("answers 404 for unknown and malformed ids", async () => {
    for (const id of ["0123456789abcdef0123456789abcdef", "nope", "%27%20or%201%20eq%201"]) {
      const r = await host.call("GET", `/api/incidents/${id}`);
      expect(r.status, id).toBe(404);
      expect(r.body).toMatchObject({ status: 404, title: "Not Found" });
    }
  });
});

describe("GET /api/incidents/{id}/history", () => {
  it("pages an incident's history: the detail carries the newest 50 changes, the history route the rest", async () => {
    const id = (await list(`?account=dave%40contoso.com`)).body.items[0].id;
    for (let i = 1; i <= 55; i++) {
      const incident = (await host.stores.incidents.getIncident(id))!;
      const done = await host.stores.incidents.updateIncident(incident, incident.etag!, { comment: `note ${i}` }, { name: "ana@contoso.com", id: null, tenantId: null }, T0 + i * 1000);
      expect(done.ok).toBe(true);
    }
    const newestFirst = Array.from({ length: 55 }, (_, i) => `note ${55 - i}`);
    const detail = await host.call("GET", `/api/incidents/${id}`);
    expect(detail.body.history.map((h: { after: string }) => h.after)).toEqual(newestFirst.slice(0, 50));
    const rest = await host.call("GET", `/api/incidents/${id}/history?continuation=${detail.body.historyContinuation}`);
    expect(rest.body).toMatchObject({ continuation: null });
    expect(rest.body.items.map((h: { after: string }) => h.after)).toEqual(newestFirst.slice(50));

    const walked: string[] = [];
    let token: string | null = null;
    do {
      const page: { body: { items: { after: string }[]; continuation: string | null } } = await host.call("GET", `/api/incidents/${id}/history?limit=20${token ? `&continuation=${token}` : ""}`);
      expect(page.body.items.length).toBeLessThanOrEqual(20);
      walked.push(...page.body.items.map((h) => h.after));
      token = page.body.continuation;
    } while (token);
    expect(walked).toEqual(newestFirst);

    // A token belongs to its incident.
    const other = (await list(`?account=alice%40contoso.com&ruleId=${STS}`)).body.items[0].id;
    expect((await host.call("GET", `/api/incidents/${other}/history?continuation=${detail.body.historyContinuation}`)).status).toBe(400);
    expect((await host.call("GET", `/api/incidents/0123456789abcdef0123456789abcdef/history`)).status).toBe(404);
  });
});

describe("PATCH /api/incidents/{id}", () => {
  let id: string;
  beforeAll(async () => {
    id = (await list(`?account=carol%40contoso.com`)).body.items[0].id;
  });
  const patch = (body: unknown, headers: Record<string, string> = {}, token?: string) => host.call("PATCH", `/api/incidents/${id}`, { body, headers, token });

  it("needs If-Match (428), refuses a stale one (412), and records history per change", async () => {
    const read = await host.call("GET", `/api/incidents/${id}`);
    const etag = read.headers.get("etag")!;
    const before = await host.dump();
    expect((await patch({ status: "Active" })).status).toBe(428);
    expect((await patch({ status: "Active" }, { "if-match": '"c3RhbGU"' })).status).toBe(412);
    expect(await host.dump()).toBe(before);

    const writer = await host.token({ roles: [WRITE], user: "ana@contoso.com" });
    const updated = await patch({ status: "Active", owner: "ana@contoso.com", comment: "looking into it" }, { "if-match": etag }, writer);
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ status: "Active", owner: "ana@contoso.com", classification: null });
    const newEtag = updated.headers.get("etag")!;
    expect(newEtag).not.toBe(etag);
    expect(updated.body.history.map((h: { field: string }) => h.field).sort()).toEqual(["comment", "owner", "status"]);
    expect(updated.body.history).toContainEqual({ at: expect.any(String), actor: "ana@contoso.com", actorId: "00000000-0000-0000-0000-00000000000a", actorTenantId: TENANT, field: "status", before: "New", after: "Active" });
    expect(updated.body.history).toContainEqual({ at: expect.any(String), actor: "ana@contoso.com", actorId: "00000000-0000-0000-0000-00000000000a", actorTenantId: TENANT, field: "comment", before: null, after: "looking into it" });

    // The old ETag is now stale; the new one works.
    expect((await patch({ owner: null }, { "if-match": etag })).status).toBe(412);
    const close = await patch({ status: "Closed", classification: "TruePositive" }, { "if-match": newEtag });
    expect(close.status).toBe(200);
    expect(close.body).toMatchObject({ status: "Closed", classification: "TruePositive" });
    expect(close.body.history).toHaveLength(5);
    expect((await list("?status=Closed")).body.items.map((i: { id: string }) => i.id)).toEqual([id]);
  });

  it("refuses to close without a classification", async () => {
    const other = (await list(`?account=dave%40contoso.com`)).body.items[0];
    const r = await host.call("PATCH", `/api/incidents/${other.id}`, { body: { status: "Closed" }, headers: { "if-match": other.etag } });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([{ field: "body.classification", message: "required to close an incident" }]);
  });

  it("a run placing a new alert makes the analyst's ETag stale", async () => {
    const bobId = (await list("?account=bob%40contoso.com")).body.items[0].id;
    const etag = (await host.call("GET", `/api/incidents/${bobId}`)).headers.get("etag")!;
    await host.stores.incidents.place([alert(PIVOT, "bob@contoso.com", T0 + 11 * HOUR)], Date.now());
    const r = await host.call("PATCH", `/api/incidents/${bobId}`, { body: { owner: "x@contoso.com" }, headers: { "if-match": etag } });
    expect(r.status).toBe(412);
    const fresh = await host.call("GET", `/api/incidents/${bobId}`);
    expect(fresh.body.alertCount).toBe(2);
    const ok = await host.call("PATCH", `/api/incidents/${bobId}`, { body: { owner: "x@contoso.com" }, headers: { "if-match": fresh.headers.get("etag")! } });
    expect(ok.status).toBe(200);
  });

  it("answers every malformed update with its 4xx and changes nothing", async () => {
    const etag = (await host.call("GET", `/api/incidents/${id}`)).headers.get("etag")!;
    const h = { "if-match": etag };
    const before = await host.dump();
    const cases: [unknown, Record<string, string>, number, string?][] = [
      [{ status: "Open" }, h, 400, "body.status"],
      [{ owner: 42 }, h, 400, "body.owner"],
      [{ classification: "Maybe" }, h, 400, "body.classification"],
      [{ comment: "" }, h, 400, "body.comment"],
      [{ status: "Active", extra: true }, h, 400, "body.extra"],
      [{}, h, 400, "body"],
      [[], h, 400, "body"],
      ["{not json", h, 400, "body"],
      [{ status: "Active" }, { ...h, "content-type": "text/plain" }, 415],
      [{ comment: "x".repeat(70 * 1024) }, h, 413],
    ];
    for (const [body, headers, status, field] of cases) {
      const r = await patch(body, headers);
      expect(r.status, JSON.stringify(body).slice(0, 60)).toBe(status);
      expect(r.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      if (field) expect(r.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const noBody = await host.call("PATCH", `/api/incidents/${id}`, { headers: h });
    expect(noBody.status).toBe(400);
    expect((await host.call("PATCH", "/api/incidents/0123456789abcdef0123456789abcdef", { body: { comment: "x" }, headers: h })).status).toBe(404);
    expect((await patch({ comment: "x" }, h, await host.token({ roles: [READ, ADMIN] }))).status).toBe(403);
    expect(await host.dump()).toBe(before);
  });
});

describe("accounts", () => {
  it("groups incidents by account, correlated and multi-rule accounts first and flagged", async () => {
    const r = await host.call("GET", "/api/accounts");
    expect(r.status).toBe(200);
    const [first, ...rest] = r.body.items;
    expect(first).toMatchObject({
      account: "alice@contoso.com",
      multipleRules: true,
      // Solorigate and STS within 24 h: their incidents and the correlated High one.
      correlated: true,
      totalIncidents: 3,
      openIncidents: 3,
      highestSeverity: "High",
      highestOpenSeverity: "High",
      firstSeen: new Date(T0).toISOString(),
      lastSeen: new Date(T0 + 2 * HOUR).toISOString(),
    });
    expect(first.rules.map((x: { id: string }) => x.id).sort()).toEqual([STS, SOLORIGATE].sort());
    expect(rest.every((a: { multipleRules: boolean; correlated: boolean }) => !a.multipleRules && !a.correlated)).toBe(true);
    expect(rest.map((a: { account: string }) => a.account)).toContain(GUEST);
    // Then by severity: bob (High) before the Low/Medium single-rule accounts.
    expect(rest[0].account).toBe("bob@contoso.com");
    const carol = r.body.items.find((a: { account: string }) => a.account === "carol@contoso.com");
    expect(carol).toMatchObject({ openIncidents: 0, totalIncidents: 1, highestOpenSeverity: null });
  });

  it("a correlated incident shows the incidents it links, and each of them links back", async () => {
    const [correlated] = (await list(`?ruleId=${CORRELATION_RULE_ID}`)).body.items;
    expect(correlated).toMatchObject({ account: "alice@contoso.com", severity: "High", ruleName: "Account correlation across rules" });
    const detail = (await host.call("GET", `/api/incidents/${correlated.id}`)).body;
    expect(detail.linkedIncidents.map((l: { relation: string; ruleId: string }) => `${l.relation} ${l.ruleId}`).sort()).toEqual([`member ${SOLORIGATE}`, `member ${STS}`].sort());
    expect(detail.alerts.map((a: { ruleId: string }) => a.ruleId).sort()).toEqual(detail.linkedIncidents.flatMap((l: { ruleId: string; alertCount: number }) => Array(l.alertCount).fill(l.ruleId)).sort());
    for (const member of detail.linkedIncidents) {
      const back = (await host.call("GET", `/api/incidents/${member.id}`)).body;
      expect(back.linkedIncidents).toEqual([expect.objectContaining({ id: correlated.id, relation: "correlated", ruleId: CORRELATION_RULE_ID })]);
    }
    const bob = (await list("?account=bob%40contoso.com")).body.items[0];
    expect((await host.call("GET", `/api/incidents/${bob.id}`)).body.linkedIncidents).toEqual([]);
  });

  it("pages accounts and refuses foreign tokens", async () => {
    const all = (await host.call("GET", "/api/accounts")).body.items.map((a: { account: string }) => a.account);
    const p1 = await host.call("GET", "/api/accounts?limit=4");
    const p2 = await host.call("GET", `/api/accounts?limit=4&continuation=${p1.body.continuation}`);
    expect([...p1.body.items, ...p2.body.items].map((a: { account: string }) => a.account)).toEqual(all);
    expect(p2.body.continuation).toBeNull();
    const incidentsToken = (await list("?limit=1")).body.continuation;
    expect((await host.call("GET", `/api/accounts?continuation=${incidentsToken}`)).status).toBe(400);
  });

  it("lists one account's incidents across rules, guests included; 404 for an account without any", async () => {
    const alice = await host.call("GET", "/api/accounts/alice%40contoso.com/incidents");
    expect(alice.status).toBe(200);
    expect(alice.body.items.map((i: { ruleId: string }) => i.ruleId)).toEqual([CORRELATION_RULE_ID, SOLORIGATE, STS]);
    // As copied from Entra: mixed case finds the same incidents.
    const mixed = await host.call("GET", "/api/accounts/Alice%40Contoso.COM/incidents");
    expect(mixed.status).toBe(200);
    expect(mixed.body.items).toEqual(alice.body.items);
    const guest = await host.call("GET", `/api/accounts/${encodeURIComponent(GUEST)}/incidents`);
    expect(guest.status).toBe(200);
    expect(guest.body.items[0].account).toBe(GUEST);
    expect((await host.call("GET", "/api/accounts/nobody%40contoso.com/incidents")).status).toBe(404);
    // Longer than a storage key once encoded (# becomes %23): still a plain 404 / 400.
    expect((await host.call("GET", `/api/accounts/${"%23".repeat(400)}/incidents`)).status).toBe(404);
    const tooLong = await host.call("GET", `/api/incidents?account=${"%23".repeat(400)}`);
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.errors).toEqual([{ field: "query.account", message: "too long once encoded" }]);
    expect((await host.call("GET", "/api/accounts/alice%40contoso.com/incidents?status=New")).status).toBe(400);
  });
});
