// The Baselines repository against Azurite: bucketed writes, batched reads, expiry, purge.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { BaselineRepository, bucketOf } from "../../src/store/baselines.js";
import { TableStore } from "../../src/store/tables.js";
import { fromMs, sortableIso } from "../../src/model/time.js";

let azurite: AzuriteTables;
let prefix = 0;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => azurite.stop());

function repository() {
  const store = new TableStore({ connectionString: azurite.connectionString, tablePrefix: `b${++prefix}` });
  return { store, baselines: new BaselineRepository(store) };
}

const DAY = 86_400_000;

/** The baseline entries a table holds (not the buckets' guard rows, which have no lastSeen). */
async function entries(store: TableStore) {
  return (await store.list<{ lastSeen?: string }>("Baselines")).filter((e) => e.lastSeen !== undefined);
}
const NOW = Date.parse("2026-11-03T12:00:00Z");

/** `count` accounts that hash into the same bucket, some with characters keys must encode. */
function accountsInOneBucket(count: number): string[] {
  const names = ["o'brien|x@contoso.com", "guest_fabrikam.com#EXT#@contoso.onmicrosoft.com", "a/b?c@contoso.com"];
  const bucket = bucketOf(names[0]!);
  const out = names.filter((n) => bucketOf(n) === bucket);
  for (let i = 0; out.length < count; i++) if (bucketOf(`user${i}@contoso.com`) === bucket) out.push(`user${i}@contoso.com`);
  return out;
}

describe("BaselineRepository", () => {
  it("reads back every account of a crowded bucket (more than one query's worth), with its own IPs and ASNs only", async () => {
    const { baselines } = repository();
    const accounts = accountsInOneBucket(15);
    await baselines.record(accounts.map((account, i) => ({ account, ip: `203.0.113.${i}`, asn: String(64500 + i), lastSeen: fromMs(NOW - DAY) })));
    const known = await baselines.load([...accounts, "nobody@contoso.com"], NOW - 14 * DAY);
    expect(known.size).toBe(accounts.length);
    accounts.forEach((account, i) => {
      expect(known.get(account)).toEqual({ ips: new Set([`203.0.113.${i}`]), asns: new Set([String(64500 + i)]) });
    });
    expect(known.has("nobody@contoso.com")).toBe(false);
  });

  it("counts only entries seen after the period's start; the newest sighting of an entry wins", async () => {
    const { baselines } = repository();
    await baselines.record([
      { account: "a@contoso.com", ip: "198.51.100.1", asn: "100", lastSeen: fromMs(NOW - 20 * DAY) },
      { account: "a@contoso.com", ip: "198.51.100.2", asn: "200", lastSeen: fromMs(NOW - 2 * DAY) },
      { account: "b@contoso.com", ip: "198.51.100.3", asn: "", lastSeen: fromMs(NOW - 20 * DAY) },
    ]);
    await baselines.record([{ account: "b@contoso.com", ip: "198.51.100.3", asn: "", lastSeen: fromMs(NOW - DAY) }]);
    const known = await baselines.load(["a@contoso.com", "b@contoso.com"], NOW - 14 * DAY);
    expect(known.get("a@contoso.com")).toEqual({ ips: new Set(["198.51.100.2"]), asns: new Set(["200"]) });
    // An empty ASN is not recorded: it must not make every unknown ASN known.
    expect(known.get("b@contoso.com")).toEqual({ ips: new Set(["198.51.100.3"]), asns: new Set() });
  });

  it("purge deletes a bucket's expired entries and nothing else", async () => {
    const { store, baselines } = repository();
    const [old, fresh] = ["old@contoso.com", "fresh@contoso.com"];
    await baselines.record([
      { account: old, ip: "192.0.2.1", asn: "1", lastSeen: fromMs(NOW - 20 * DAY) },
      { account: fresh, ip: "192.0.2.2", asn: "2", lastSeen: fromMs(NOW - DAY) },
    ]);
    const bucketIndex = (account: string) => parseInt(bucketOf(account).slice(1), 16);
    expect(await baselines.purge(bucketIndex(old), NOW - 14 * DAY)).toBe(2);
    if (bucketIndex(fresh) !== bucketIndex(old)) expect(await baselines.purge(bucketIndex(fresh), NOW - 14 * DAY)).toBe(0);
    const left = await entries(store);
    expect(left.map((e) => e.rowKey).sort()).toEqual(["fresh@contoso.com|asn:2", "fresh@contoso.com|ip:192.0.2.2"]);
  });

  it("keeps an entry's latest sighting: a row arriving late with an older time never moves it back", async () => {
    const { store, baselines } = repository();
    const account = "late@contoso.com";
    await baselines.record([{ account, ip: "198.51.100.9", asn: "64500", lastSeen: fromMs(NOW - DAY) }]);
    // A sign-in from 10 days ago arrives now (and one from 3 hours before the newest, within the recent span).
    await baselines.record([{ account, ip: "198.51.100.9", asn: "64500", lastSeen: fromMs(NOW - 10 * DAY) }]);
    await baselines.record([{ account, ip: "198.51.100.9", asn: "64500", lastSeen: fromMs(NOW - DAY) - 3n * 36_000_000_000n }]);
    const stored = await entries(store);
    expect(stored.map((e) => e.lastSeen)).toEqual([sortableIso(fromMs(NOW - DAY)), sortableIso(fromMs(NOW - DAY))]);
    // Still known 12 days from now, as the newest sighting says (an overwrite would have made it stale after 4).
    const known = await baselines.load([account], NOW + 12 * DAY - 14 * DAY);
    expect(known.get(account)).toEqual({ ips: new Set(["198.51.100.9"]), asns: new Set(["64500"]) });
  });

  it("moves an entry forward by 100 ns, and keeps the maximum when two writers race", async () => {
    const { store, baselines } = repository();
    const account = "race@contoso.com";
    const t = fromMs(NOW - DAY);
    await baselines.record([{ account, ip: "192.0.2.77", asn: "", lastSeen: t }]);
    await baselines.record([{ account, ip: "192.0.2.77", asn: "", lastSeen: t + 1n }]);
    expect((await entries(store)).map((e) => e.lastSeen)).toEqual([sortableIso(t + 1n)]);
    // Writers with older and newer sightings of the same entries, all at once, through separate repositories.
    const writers = Array.from({ length: 6 }, (_, i) => new BaselineRepository(store));
    const times = [t - 5n, t + 9n, t - 100n * 36_000_000_000n, t + 3n, t + 8n, t];
    await Promise.all(writers.map((w, i) => w.record([{ account, ip: "192.0.2.77", asn: "", lastSeen: times[i]! }])));
    expect((await entries(store)).map((e) => e.lastSeen)).toEqual([sortableIso(t + 9n)]);
  });
});
