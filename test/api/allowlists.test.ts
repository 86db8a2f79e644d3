// Allowlist administration over real HTTP: canonicalisation, duplicates, ETags, expiry,
// audit, and the rules reading the same lists.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allowlistsAt } from "../../src/engine/allowlists.js";
import { ADMIN, startHost, stopAzurite, type Host } from "./harness.js";

let host: Host;
let admin: string;

beforeAll(async () => {
  host = await startHost();
  admin = await host.token({ roles: [ADMIN], user: "admin@contoso.com" });
});

afterAll(async () => {
  await host?.close();
  await stopAzurite();
});

const inOneHour = () => new Date(Date.now() + 3_600_000).toISOString();
const add = (list: string, body: unknown) => host.call("POST", `/api/allowlists/${list}/entries`, { token: admin, body });

describe("allowlists", () => {
  it("lists the lists with their seeded defaults", async () => {
    const r = await host.call("GET", "/api/allowlists", { token: admin });
    expect(r.status).toBe(200);
    expect(r.body.items.map((l: { name: string }) => l.name)).toEqual(["network", "principals"]);
    expect(r.body.items[1]).toMatchObject({ name: "principals", entries: 3, activeEntries: 3 });
    const principals = await host.call("GET", "/api/allowlists/principals", { token: admin });
    expect(principals.body.entries.map((e: { value: string }) => e.value)).toContain("Microsoft Cloud App Security");
    expect((await host.call("GET", "/api/allowlists/nope", { token: admin })).status).toBe(404);
  });

  it("adds entries in canonical form, author from the token; a duplicate in any spelling is 409", async () => {
    const r = await add("network", { value: "2001:DB8::/32", reason: "partner VPN" });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ list: "network", value: "2001:db8::/32", reason: "partner VPN", createdBy: "admin@contoso.com", expiresAt: null, expired: false });
    expect(r.headers.get("location")).toBe(`/api/allowlists/network/entries/${r.body.id}`);
    expect(r.headers.get("etag")).toBe(r.body.etag);
    const before = await host.dump();
    for (const dup of ["2001:0db8::/32", "2001:db8:0:0::/32"]) {
      const again = await add("network", { value: dup, reason: "again" });
      expect(again.status, dup).toBe(409);
      expect(again.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    }
    const v4 = await add("network", { value: "192.0.2.0/24", reason: "office" });
    expect(v4.status).toBe(201);
    const principal = await add("principals", { value: "  SyncAccount3 ", reason: "second connector" });
    expect(principal.body.value).toBe("SyncAccount3");
    expect((await add("principals", { value: "syncaccount3", reason: "case differs" })).status).toBe(409);
    // The 409s changed nothing (the later adds did, as they should).
    expect(before).not.toBe(await host.dump());
    const got = await host.call("GET", `/api/allowlists/network/entries/${r.body.id}`, { token: admin });
    expect(got.body.value).toBe("2001:db8::/32");
  });

  it("refuses invalid values, past expiry and unknown fields with 400 naming the field, changing nothing", async () => {
    const before = await host.dump();
    const cases: [string, unknown, string][] = [
      ["network", { value: "10.0.0.300", reason: "r" }, "body.value"],
      ["network", { value: "10.0.0.0/33", reason: "r" }, "body.value"],
      ["network", { value: "2001:db8::/129", reason: "r" }, "body.value"],
      ["network", { value: "example.com", reason: "r" }, "body.value"],
      ["principals", { value: "bad\u0001name", reason: "r" }, "body.value"],
      ["network", { value: "10.0.0.1", reason: "" }, "body.reason"],
      ["network", { value: "10.0.0.1" }, "body.reason"],
      ["network", { value: "10.0.0.1", reason: "r", expiresAt: "2020-01-01T00:00:00Z" }, "body.expiresAt"],
      ["network", { value: "10.0.0.1", reason: "r", expiresAt: "tomorrow" }, "body.expiresAt"],
      ["network", { value: "10.0.0.1", reason: "r", createdBy: "someone else" }, "body.createdBy"],
      ["network", { value: 10, reason: "r" }, "body.value"],
    ];
    for (const [list, body, field] of cases) {
      const r = await add(list, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errors.map((e: { field: string }) => e.field), JSON.stringify(body)).toContain(field);
    }
    expect((await add("nope", { value: "10.0.0.1", reason: "r" })).status).toBe(404);
    expect((await add("network", { value: "10.0.0.1", reason: "x".repeat(65 * 1024) })).status).toBe(413);
    expect(await host.dump()).toBe(before);
  });

  it("replaces with If-Match (428 without, 412 stale), moving to the new value's id; deletes", async () => {
    const created = await add("network", { value: "198.51.100.0/24", reason: "lab" });
    const url = `/api/allowlists/network/entries/${created.body.id}`;
    const before = await host.dump();
    expect((await host.call("PUT", url, { token: admin, body: { value: "198.51.100.0/24", reason: "lab 2" } })).status).toBe(428);
    expect((await host.call("PUT", url, { token: admin, body: { value: "198.51.100.0/24", reason: "lab 2" }, headers: { "if-match": '"x"' } })).status).toBe(412);
    expect((await host.call("PUT", url, { token: admin, body: { value: "198.51.100.0/24", reason: "lab 2", extra: 1 }, headers: { "if-match": created.body.etag } })).status).toBe(400);
    expect(await host.dump()).toBe(before);

    const same = await host.call("PUT", url, { token: admin, body: { value: "198.51.100.0/24", reason: "lab 2", expiresAt: inOneHour() }, headers: { "if-match": created.body.etag } });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ id: created.body.id, reason: "lab 2", expired: false });
    expect((await host.call("PUT", url, { token: admin, body: { value: "198.51.100.0/24", reason: "lab 3" }, headers: { "if-match": created.body.etag } })).status).toBe(412);

    // A value that is already another entry: 409, nothing moved.
    const taken = await host.call("PUT", url, { token: admin, body: { value: "192.0.2.0/24", reason: "x" }, headers: { "if-match": same.body.etag } });
    expect(taken.status).toBe(409);

    const moved = await host.call("PUT", url, { token: admin, body: { value: "198.51.100.128/25", reason: "narrower" }, headers: { "if-match": same.body.etag } });
    expect(moved.status).toBe(200);
    expect(moved.body.id).not.toBe(created.body.id);
    expect(moved.headers.get("content-location")).toBe(`/api/allowlists/network/entries/${moved.body.id}`);
    expect((await host.call("GET", url, { token: admin })).status).toBe(404);

    const movedUrl = `/api/allowlists/network/entries/${moved.body.id}`;
    expect((await host.call("DELETE", movedUrl, { token: admin, headers: { "if-match": same.body.etag } })).status).toBe(412);
    expect((await host.call("DELETE", movedUrl, { token: admin, headers: { "if-match": moved.body.etag } })).status).toBe(204);
    expect((await host.call("DELETE", movedUrl, { token: admin })).status).toBe(404);
    expect((await host.call("DELETE", "/api/allowlists/network/entries/not-an-id", { token: admin })).status).toBe(404);
    expect((await host.call("PATCH", movedUrl, { token: admin, body: {} })).headers.get("allow")).toBe("GET, PUT, DELETE");
  });

  it("shows expired entries as expired, and the rules no longer apply them", async () => {
    const expiresAt = Date.now() + 3_000;
    const entry = await add("network", { value: "203.0.113.5", reason: "short-lived", expiresAt: new Date(expiresAt).toISOString() });
    expect(entry.status).toBe(201);
    expect(entry.body.expired).toBe(false);
    const rulesNow = allowlistsAt(await host.stores.allowlists.all(), Date.now());
    expect(rulesNow.network.lookup("203.0.113.5")).toBe(true);
    // Nobody deletes it: waiting past its expiry is enough.
    await new Promise((resolve) => setTimeout(resolve, expiresAt - Date.now() + 50));
    const list = await host.call("GET", "/api/allowlists/network", { token: admin });
    expect(list.body.entries.find((e: { id: string }) => e.id === entry.body.id)).toMatchObject({ expired: true, value: "203.0.113.5" });
    const summary = await host.call("GET", "/api/allowlists", { token: admin });
    const network = summary.body.items.find((l: { name: string }) => l.name === "network");
    expect(network.activeEntries).toBe(network.entries - 1);
    const rulesLater = allowlistsAt(await host.stores.allowlists.all(), Date.now());
    expect(rulesLater.network.lookup("203.0.113.5")).toBe(false);
    expect(rulesLater.network.lookup("2001:db8:1::1")).toBe(true);
  });

  it("audits every change with who, when, before and after, newest first and paged", async () => {
    const r = await host.call("GET", "/api/allowlists/network/audit?limit=100", { token: admin });
    expect(r.status).toBe(200);
    const actions = r.body.items.map((a: { action: string }) => a.action);
    expect(actions).toEqual(["add", "delete", "update", "update", "add", "add", "add"]);
    expect(r.body.items.every((a: { actor: string }) => a.actor === "admin@contoso.com")).toBe(true);
    const moveRecord = r.body.items[2];
    expect(moveRecord.before).toMatchObject({ value: "198.51.100.0/24", reason: "lab 2" });
    expect(moveRecord.after).toMatchObject({ value: "198.51.100.128/25", reason: "narrower" });
    expect(r.body.items.at(-1)).toMatchObject({ action: "add", before: null, after: { value: "2001:db8::/32" } });
    const times = r.body.items.map((a: { at: string }) => Date.parse(a.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const p1 = await host.call("GET", "/api/allowlists/network/audit?limit=3", { token: admin });
    const p2 = await host.call("GET", `/api/allowlists/network/audit?limit=3&continuation=${p1.body.continuation}`, { token: admin });
    const p3 = await host.call("GET", `/api/allowlists/network/audit?limit=3&continuation=${p2.body.continuation}`, { token: admin });
    expect([...p1.body.items, ...p2.body.items, ...p3.body.items].map((a: { id: string }) => a.id)).toEqual(r.body.items.map((a: { id: string }) => a.id));
    expect(p3.body.continuation).toBeNull();
    expect((await host.call("GET", `/api/allowlists/principals/audit?continuation=${p1.body.continuation}`, { token: admin })).status).toBe(400);
  });
});
