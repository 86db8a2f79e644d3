// The Sessions table against Azurite, and the in-memory store a backfill uses, held to the
// same behaviour: a state reads back as written, values past the lifetime are forgotten on
// read, an expired session is absent, a session is its account's, and the purge deletes one
// bucket's expired sessions. Then the table's own reads: a crowded bucket's recently used
// sessions in one query, and the first layout's sessions found and moved.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromMs } from "../../src/model/time.js";
import { remember } from "../../src/rules/sessions.js";
import type { SessionRef, SessionState } from "../../src/model/sessions.js";
import fc from "fast-check";
import { CompactStored, compactForm, FACETS, sessionFromStored, storedSessionText } from "../../src/model/sessions.js";
import { sortableIso } from "../../src/model/time.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { BUCKETS, bucketOf, firstLayoutBucketOf } from "../../src/store/buckets.js";
import { encodeKey } from "../../src/store/keys.js";
import { MemorySessions } from "../../src/store/memory.js";
import { RECENT_SCAN_SESSIONS, SessionRepository } from "../../src/store/sessions.js";
import { TableStore } from "../../src/store/tables.js";
import { row } from "../support/rows.js";

let azurite: AzuriteTables;
let prefix = 0;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => azurite.stop());

const DAY = 86_400_000;
const HOUR = 3_600_000;
const NI = "AADNonInteractiveUserSignInLogs";
const T0 = Date.parse("2026-11-01T10:00:00Z");
const DAN = "dan@contoso.com";

/** A session of `account` used from the office at `ms`, and from home a day later. */
function session(id: string, ms = T0, account = DAN): SessionState {
  const at = (t: number) => new Date(t).toISOString();
  const office = row(NI, { SessionId: id, UserPrincipalName: account, TimeGenerated: at(ms), AutonomousSystemNumber: "8075", UserAgent: "Windows-AzureAD-Authentication-Provider/1.0" });
  const home = row(NI, { SessionId: id, UserPrincipalName: account, TimeGenerated: at(ms + DAY), AutonomousSystemNumber: "7922", UserAgent: "Windows-AzureAD-Authentication-Provider/1.0" });
  return remember(remember(undefined, office), home);
}

const refs = (ids: string[], account = DAN): SessionRef[] => ids.map((sessionId) => ({ sessionId, account }));

const newTable = () => new TableStore({ connectionString: azurite.connectionString, tablePrefix: `s${++prefix}` });
const stores = {
  table: () => new SessionRepository(newTable()),
  memory: () => new MemorySessions(),
};

for (const [name, make] of Object.entries(stores)) {
  describe(`session state (${name})`, () => {
    it("reads back every session of a crowded bucket (more than one query's worth) as written", async () => {
      const store = make();
      const ids = ["a/b?c#d", "o'brien|1", ...Array.from({ length: 13 }, (_, i) => `s-${i}`)];
      const states = ids.map((id) => session(id));
      await store.save(states);
      const loaded = await store.load(refs([...ids, "never-seen"]), T0 - DAY);
      expect([...loaded.keys()].sort()).toEqual([...ids].sort());
      for (const state of states) expect(loaded.get(state.sessionId)).toEqual(state);
    });

    it("forgets values last seen at or before the cutoff, and a session with none left", async () => {
      const store = make();
      await store.save([session("x")]);
      const partly = (await store.load(refs(["x"]), T0 + 1))!.get("x")!;
      expect([...partly.seen.asn.keys()]).toEqual(["7922"]);
      expect(partly.first.asn).toBe("8075");
      expect((await store.load(refs(["x"]), T0 + DAY)).size).toBe(0);
    });

    it("a save replaces the session's state", async () => {
      const store = make();
      const first = session("y");
      await store.save([first]);
      const more = remember(first, row(NI, { SessionId: "y", TimeGenerated: new Date(T0 + 2 * DAY).toISOString(), AutonomousSystemNumber: "21928" }));
      await store.save([more]);
      expect([...(await store.load(refs(["y"]), T0 - DAY)).get("y")!.seen.asn.keys()].sort()).toEqual(["21928", "7922", "8075"]);
    });

    it("keeps a session its account's: another account naming its id finds nothing, and each account's state is its own", async () => {
      const store = make();
      const dans = session("shared");
      const eves = session("shared", T0 + HOUR, "eve@contoso.com");
      await store.save([dans, eves]);
      expect((await store.load(refs(["shared"], "mallory@contoso.com"), T0 - DAY)).size).toBe(0);
      expect((await store.load(refs(["shared"], "eve@contoso.com"), T0 - DAY)).get("shared")).toEqual(eves);
      // Both named in one window: the first to name it is the window's state.
      expect((await store.load([...refs(["shared"]), ...refs(["shared"], "eve@contoso.com")], T0 - DAY)).get("shared")).toEqual(dans);
    });

    it("purges the expired sessions of a bucket", async () => {
      const store = make();
      await store.save([session("old", T0 - 30 * DAY), session("recent")]);
      const bucket = parseInt(bucketOf(DAN).slice(1), 16);
      expect(await store.purge(bucket + BUCKETS, T0 - 14 * DAY)).toBe(1);
      expect([...(await store.load(refs(["old", "recent"]), T0 - 60 * DAY)).keys()]).toEqual(["recent"]);
    });
  });
}

it("keeps exact 100-ns times through the table", async () => {
  const store = stores.table();
  const exact = remember(undefined, row(NI, { SessionId: "z", TimeGenerated: "2026-11-01T10:00:00.1234567Z" }));
  await store.save([exact]);
  expect((await store.load(refs(["z"]), T0 - DAY)).get("z")!.lastSeen).toBe(fromMs(T0) + 1_234_567n);
});

/** A state as the first release stored it: an object naming its account, every time as sortable text. */
const firstReleaseText = (state: SessionState) =>
  JSON.stringify({
    account: state.account,
    first: { ...state.first, time: sortableIso(state.first.time) },
    seen: Object.fromEntries(Object.entries(state.seen).map(([f, values]) => [f, [...values].map(([v, t]) => [v, sortableIso(t)])])),
  });

describe("a session's stored form", () => {
  const state = remember(session("form"), row(NI, { SessionId: "form", TimeGenerated: "2026-11-03T10:00:00.1234567Z", AutonomousSystemNumber: "21928" }));
  const ref = { sessionId: "form", account: DAN };
  const ASN = 11; // [at, first's time, its 9 texts, then the facets from asn on]

  it("is an array without keys or account, times as whole ticks before the newest sighting, and reads back exactly", () => {
    const text = storedSessionText(state);
    const stored = JSON.parse(text) as unknown[];
    expect(stored[0]).toBe("2026-11-03T10:00:00.1234567Z");
    expect(stored[1]).toBe(2 * DAY * 10_000 + 1_234_567);
    expect(stored.slice(2, ASN)).toEqual([state.first.id, state.first.ip, "8075", state.first.country, state.first.deviceId, state.first.os, state.first.browser, state.first.client, state.first.app]);
    expect(stored[ASN]).toEqual(["8075", 2 * DAY * 10_000 + 1_234_567, "7922", DAY * 10_000 + 1_234_567, "21928", 0]);
    expect(stored).toHaveLength(ASN + FACETS.length);
    expect(text).not.toContain(DAN);
    expect(sessionFromStored(ref, text)).toEqual(state);
  });

  it("reads both earlier forms to the same state, each only as the account it names", () => {
    const at = state.lastSeen;
    const second = JSON.stringify({
      account: DAN,
      at: sortableIso(at),
      first: { ...state.first, time: Number(at - state.first.time) },
      seen: Object.fromEntries(FACETS.map((f) => [f, [...state.seen[f]].map(([v, t]) => [v, Number(at - t)])])),
    });
    for (const text of [firstReleaseText(state), second]) {
      expect(sessionFromStored(ref, text)).toEqual(state);
      expect(sessionFromStored({ ...ref, account: "eve@contoso.com" }, text)).toBeUndefined();
      expect(sessionFromStored(ref, text, false)).toEqual(state);
    }
  });

  it("takes the compact form, which names no account, only from a key that names the account", () => {
    expect(sessionFromStored(ref, storedSessionText(state), false)).toBeUndefined();
  });

  it("reads the stored form without zod exactly as its zod schema does: the same value when it takes one, and whatever else to the schema", () => {
    // Each part of a stored state well formed, or now and then any JSON value at all.
    const mostly = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 24, arbitrary: good }, { weight: 1, arbitrary: fc.jsonValue() });
    const ticks = mostly(fc.oneof({ weight: 24, arbitrary: fc.nat() }, { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, Number.MAX_SAFE_INTEGER + 2) }));
    const at = mostly(fc.oneof({ weight: 24, arbitrary: fc.constantFrom("2026-11-03T10:00:00.1234567Z", "2026-11-03T10:00:00Z") }, { weight: 1, arbitrary: fc.constant("not a time") }));
    // A facet's pairs, now and then one short or out of order.
    const pairs = mostly(fc.oneof({ weight: 24, arbitrary: fc.array(fc.tuple(fc.string(), ticks), { maxLength: 2 }).map((ps) => ps.flat()) }, { weight: 1, arbitrary: fc.array(fc.oneof(fc.string(), ticks), { maxLength: 3 }) }));
    const stored = fc
      .tuple(at, ticks, fc.array(mostly(fc.string()), { minLength: 9, maxLength: 9 }), fc.array(pairs, { minLength: FACETS.length, maxLength: FACETS.length }), fc.array(fc.jsonValue(), { maxLength: 1 }))
      .map(([a, t, texts, facets, extra]) => [a, t, ...texts, ...facets, ...extra]);
    let taken = 0;
    fc.assert(
      fc.property(stored, (value) => {
        const json: unknown = JSON.parse(JSON.stringify(value)); // as read back from the table
        const fast = compactForm(json);
        const schema = CompactStored.safeParse(json);
        if (fast) taken++;
        expect(fast === null ? null : { ok: true, value: fast }).toEqual(schema.success ? { ok: true, value: schema.data } : null);
      }),
      { numRuns: 2_000 },
    );
    expect(taken).toBeGreaterThan(100); // both took a good share of the values
    // A state as stored takes the path without zod.
    expect(compactForm(JSON.parse(storedSessionText(state)))).not.toBeNull();
  });

  it("refuses a time that is not whole ticks, or a value without one, saying why", () => {
    const stored = JSON.parse(storedSessionText(state)) as unknown[];
    const withAsns = (asns: unknown[]) => JSON.stringify(stored.map((v, i) => (i === ASN ? asns : v)));
    expect(() => sessionFromStored(ref, withAsns(["8075", 1.5]))).toThrow(/expected int/i);
    expect(() => sessionFromStored(ref, withAsns(["8075"]))).toThrow(/alternate/);
    expect(() => sessionFromStored(ref, JSON.stringify(stored.slice(0, -1)))).toThrow();
    expect(() => sessionFromStored(ref, JSON.stringify({ account: DAN }))).toThrow(/first/);
  });
});

describe("Sessions table reads", () => {
  it("reads a crowded bucket's recently used sessions in one query, the rest by key, to the same states", async () => {
    const table = newTable();
    const store = new SessionRepository(table);
    // One account's sessions share its bucket: used in the last hour, days ago, expired, and never stored.
    const recent = Array.from({ length: 40 }, (_, i) => session(`recent-${i}`, T0 - DAY + i));
    const older = Array.from({ length: 5 }, (_, i) => session(`older-${i}`, T0 - 5 * DAY));
    const expired = session("expired", T0 - 30 * DAY);
    await store.save([...recent, ...older, expired]);
    const named = refs([...recent, ...older, expired].map((s) => s.sessionId).concat(["new-1", "new-2"]));
    const since = T0 - 14 * DAY;

    const before = table.requests;
    const byScan = await store.load(named, since, T0 - HOUR);
    const scanRequests = table.requests - before;
    const byKey = await new SessionRepository(table).load(named, since);
    const keyRequests = table.requests - before - scanRequests;

    expect([...byScan.keys()].sort()).toEqual([...recent, ...older].map((s) => s.sessionId).sort());
    expect(byScan).toEqual(byKey);
    // By key: one probe of the first layout, and 48 sessions at 12 a query. With the scan: the probe, one page, and one query of the 8 left (older, expired, new).
    expect(keyRequests).toBe(1 + 4);
    expect(scanRequests).toBe(1 + 1 + 1);
    expect(named.length).toBeGreaterThanOrEqual(RECENT_SCAN_SESSIONS);
  });

  it("finds a session of the first layout, and the next save moves it into its account's bucket", async () => {
    const table = newTable();
    const store = new SessionRepository(table);
    const state = session("from-before");
    // As the first layout stored it: partition by FNV of the session id, RowKey the id alone.
    const partitionKey = firstLayoutBucketOf("from-before");
    await table.submit("Sessions", [["upsert", { partitionKey, rowKey: encodeKey("from-before"), lastSeen: "2026-11-02T10:00:00.0000000Z", state: firstReleaseText(state) }, "Replace"]]);
    expect((await store.load(refs(["from-before"]), T0 - DAY)).get("from-before")).toEqual(state);
    // Only its own account's state: the first layout's RowKey names no account.
    expect((await store.load(refs(["from-before"], "eve@contoso.com"), T0 - DAY)).size).toBe(0);

    await store.save([state]);
    const moved = await table.strings("Sessions", `PartitionKey eq '${bucketOf(DAN)}'`, ["RowKey"]);
    expect(moved.map((e) => e.RowKey)).toEqual([`${encodeKey(DAN)}|from-before`]);
    // The old copy expires with its time and the purge of its bucket number deletes it.
    const index = parseInt(partitionKey.slice(1), 16);
    expect(await store.purge(index, T0 + 30 * DAY)).toBe(1 + (bucketOf(DAN) === `x${partitionKey.slice(1)}` ? 1 : 0));
    expect(await table.strings("Sessions", `PartitionKey eq '${partitionKey}'`, ["RowKey"])).toEqual([]);
  });
});
