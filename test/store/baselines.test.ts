// The Baselines repository against Azurite: bucketed writes, per-account reads, expiry, purge.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import type { TransactionAction } from "@azure/data-tables";
import { BaselineRepository, DENSE_CANDIDATES } from "../../src/store/baselines.js";
import { BUCKETS, bucketOf, firstLayoutBucketOf } from "../../src/store/buckets.js";
import { encodeKey } from "../../src/store/keys.js";
import { TableStore, type TableKey } from "../../src/store/tables.js";
import { shardOf } from "../../src/model/shard.js";
import { fromMs, sortableIso, type DateTime } from "../../src/model/time.js";
import type { SignInSighting } from "../../src/model/rows.js";

let azurite: AzuriteTables;
let prefix = 0;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => azurite.stop());

function repository(tablePrefix = `b${++prefix}`) {
  const store = new TableStore({ connectionString: azurite.connectionString, tablePrefix });
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
  it("reads back every account of a crowded bucket, each with its own IPs and ASNs only", async () => {
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

  it("a writer whose remembered guard is stale (another wrote since) re-reads and keeps the later sighting", async () => {
    const { store } = repository();
    const [first, second] = [new BaselineRepository(store), new BaselineRepository(store)];
    const account = "stale@contoso.com";
    const t = fromMs(NOW - DAY);
    await first.record([{ account, ip: "192.0.2.5", asn: "64500", lastSeen: t }]);
    await second.record([{ account, ip: "192.0.2.5", asn: "64500", lastSeen: t + 50n }]);
    // After its own write, `first` takes t + 20 for the newest in the bucket: its write must fail on the ETag and merge again.
    await first.record([{ account, ip: "192.0.2.5", asn: "64500", lastSeen: t + 20n }]);
    expect((await entries(store)).map((e) => e.lastSeen)).toEqual([sortableIso(t + 50n), sortableIso(t + 50n)]);
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

  it("puts an account in the bucket of its shard: shard i of N owns the buckets b with b mod N == i", () => {
    for (let i = 0; i < 200; i++) {
      const account = i % 2 ? `User${i}@Contoso.com` : `guest${i}_fabrikam.com#EXT#@contoso.onmicrosoft.com`;
      const bucket = parseInt(bucketOf(account).slice(1), 16);
      for (let n = 1; n <= BUCKETS; n *= 2) expect(bucket % n).toBe(shardOf(account, n));
    }
  });

  it("answers the same whether a bucket is read whole (many candidates) or one account at a time", async () => {
    const { baselines } = repository();
    const crowded = accountsInOneBucket(DENSE_CANDIDATES + 6);
    const others = ["x@contoso.com", "y@contoso.com", "z@contoso.com"];
    const sightings = [...crowded, ...others].flatMap((account, i) => [
      { account, ip: `203.0.113.${i}`, asn: String(64500 + i), lastSeen: fromMs(NOW - (i % 3 === 0 ? 20 : 1) * DAY) },
      { account, ip: `2001:db8::${i}`, asn: "", lastSeen: fromMs(NOW - 2 * DAY) },
    ]);
    await baselines.record(sightings);
    // The last crowded account is not a candidate: its entries are in the partition read, not in the answer.
    const candidates = [...crowded.slice(0, -1), ...others, "nobody@contoso.com"];
    const dense = await baselines.load(candidates, NOW - 14 * DAY);
    const sparse = new Map();
    for (const account of candidates) for (const [a, known] of await baselines.load([account], NOW - 14 * DAY)) sparse.set(a, known);
    expect(dense).toEqual(sparse);
    expect(dense.size).toBe(candidates.length - 1);
    expect(dense.get(crowded[3]!)).toEqual({ ips: new Set(["2001:db8::3"]), asns: new Set() });
    expect(dense.get(crowded[4]!)).toEqual({ ips: new Set(["203.0.113.4", "2001:db8::4"]), asns: new Set(["64504"]) });
    expect(dense.has(crowded.at(-1)!)).toBe(false);
  });

  it("moves a first-layout table (FNV buckets b00..b1f) into the new layout, also after a crash half-way and with two processes at once", async () => {
    const day = (n: number): DateTime => fromMs(NOW - n * DAY);
    const crowdedOld = Array.from({ length: 2000 }, (_, i) => `old${i}@contoso.com`).filter((a) => firstLayoutBucketOf(a) === firstLayoutBucketOf("old0@contoso.com"));
    const accounts = [...crowdedOld, ...Array.from({ length: 120 }, (_, i) => `user${i}@contoso.com`), "o'brien|x@contoso.com", "a/b?c@contoso.com"];
    const sightings: SignInSighting[] = accounts.flatMap((account, i) => [
      { account, ip: `198.51.100.${i % 250}`, asn: String(64500 + (i % 7)), lastSeen: day(1 + (i % 20)) },
      { account, ip: `192.0.2.${i % 250}`, asn: "", lastSeen: day(i % 3) },
    ]);
    expect(crowdedOld.length * 3).toBeGreaterThan(100); // one old bucket takes more than one delete transaction
    const reference = repository();
    await reference.baselines.record(sightings);
    const candidates = [...accounts, "nobody@contoso.com"];
    const expected = await reference.baselines.load(candidates, NOW - 14 * DAY);

    // The table as the first layout's record() left it: entries by FNV bucket, and each bucket's guard row.
    const tablePrefix = `b${++prefix}`;
    const old = new TableStore({ connectionString: azurite.connectionString, tablePrefix });
    const rows = new Map<string, Map<string, DateTime>>();
    for (const s of sightings) {
      const partition = rows.get(firstLayoutBucketOf(s.account)) ?? new Map<string, DateTime>();
      rows.set(firstLayoutBucketOf(s.account), partition);
      for (const rowKey of [`${encodeKey(s.account)}|ip:${encodeKey(s.ip)}`, s.asn && `${encodeKey(s.account)}|asn:${encodeKey(s.asn)}`]) {
        if (rowKey && !((partition.get(rowKey) ?? -1n) > s.lastSeen)) partition.set(rowKey, s.lastSeen);
      }
    }
    for (const [partitionKey, entries] of rows) {
      const newest = [...entries.values()].reduce((a, b) => (a > b ? a : b));
      await old.submit("Baselines", [
        ...[...entries].map(([rowKey, t]): TransactionAction => ["upsert", { partitionKey, rowKey, lastSeen: sortableIso(t) }, "Replace"]),
        ["upsert", { partitionKey, rowKey: "~merge", newest: sortableIso(newest) }, "Replace"],
      ]);
    }

    // A process that crashes half-way through deleting the crowded old bucket, after moving it.
    class Crashing extends TableStore {
      override async submit(name: TableKey, actions: TransactionAction[]): Promise<void> {
        if (actions[0]?.[0] === "delete" && actions[0][1].partitionKey === firstLayoutBucketOf(crowdedOld[0]!)) {
          await super.submit(name, actions.slice(0, 50));
          throw new Error("crashed");
        }
        return super.submit(name, actions);
      }
    }
    await expect(new BaselineRepository(new Crashing({ connectionString: azurite.connectionString, tablePrefix })).load(candidates, NOW - 14 * DAY)).rejects.toThrow("crashed");
    const firstLayout = () => old.list("Baselines", "PartitionKey ge 'b00' and PartitionKey le 'b1f'");
    expect((await firstLayout()).length).toBeGreaterThan(0);

    const [a, b] = [repository(tablePrefix).baselines, repository(tablePrefix).baselines];
    const [fromA, fromB] = await Promise.all([a.load(candidates, NOW - 14 * DAY), b.load(candidates, NOW - 14 * DAY)]);
    expect(fromA).toEqual(expected);
    expect(fromB).toEqual(expected);
    expect(await firstLayout()).toEqual([]);
    // Every entry moved with its latest lastSeen: the same entries as the reference table.
    const stored = async (store: TableStore) => (await entries(store)).map((e) => `${e.partitionKey} ${e.rowKey} ${e.lastSeen}`).sort();
    expect(await stored(old)).toEqual(await stored(reference.store));
    expect(await repository(tablePrefix).baselines.load(candidates, NOW - 14 * DAY)).toEqual(expected);
  });
});
