// Baselines table: the IPs and ASNs each account was seen with, and when last.
//
// Partitions are 32 hash buckets of the account, RowKeys `<account>|ip:<ip>` and
// `<account>|asn:<asn>`. An hour's sightings of tens of thousands of users then go out as
// a few hundred entity-group transactions (100 entities each, one partition each) instead
// of one per user, while one account's baseline is still a single prefix query.
import type { TransactionAction } from "@azure/data-tables";
import type { KnownNetworks } from "../rules/rule.js";
import type { SignInSighting } from "../sources/rows.js";
import { decodeKey, encodeKey, prefixRange } from "./keys.js";
import { forEachLimit, odata, type TableStore } from "./tables.js";

interface BaselineEntity {
  lastSeen: string;
}

/** Enough partitions to spread 100k users' hourly writes, few enough that a small tenant's hour is a handful of transactions. */
export const BUCKETS = 32;
const CONCURRENCY = 16;
/** 1 (partition) + 1 (lastSeen) + 2 per account <= 15 comparisons per filter. */
const ACCOUNTS_PER_QUERY = 6;

/** FNV-1a of the account, to spread accounts evenly over the buckets. */
export function bucketOf(account: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < account.length; i++) h = Math.imul(h ^ account.charCodeAt(i), 0x01000193);
  return `b${((h >>> 0) % BUCKETS).toString(16).padStart(2, "0")}`;
}

const rowPrefix = (account: string) => `${encodeKey(account)}|`;

export class BaselineRepository {
  constructor(private readonly store: TableStore) {}

  /**
   * Merges sightings into the table. An entry's lastSeen is the newest sighting written;
   * a row arriving late with an older time can pull it back by at most its lateness.
   */
  async record(sightings: Iterable<SignInSighting>): Promise<void> {
    const byBucket = new Map<string, Map<string, number>>();
    for (const s of sightings) {
      if (!s.account) continue;
      const bucket = bucketOf(s.account);
      let entries = byBucket.get(bucket);
      if (!entries) byBucket.set(bucket, (entries = new Map()));
      // Empty values are not a network: an unknown ASN must not make every unknown ASN "known".
      const prefix = rowPrefix(s.account);
      for (const rowKey of [s.ip && `${prefix}ip:${encodeKey(s.ip)}`, s.asn && `${prefix}asn:${encodeKey(s.asn)}`]) {
        if (rowKey) entries.set(rowKey, Math.max(entries.get(rowKey) ?? 0, s.lastSeen));
      }
    }
    await forEachLimit(byBucket, CONCURRENCY, async ([partitionKey, entries]) => {
      const actions: TransactionAction[] = [...entries].map(([rowKey, lastSeen]) => [
        "upsert",
        { partitionKey, rowKey, lastSeen: new Date(lastSeen).toISOString() },
        // The entity is nothing but lastSeen: Replace, which skips the read Merge implies.
        "Replace",
      ]);
      await this.store.submit("Baselines", actions);
    });
  }

  /**
   * The known networks of each account, counting only entries seen after `since` (the
   * baseline period). Accounts of one bucket are read together, a few per query: Table
   * Storage allows at most 15 comparisons in a filter (partition, lastSeen, and a RowKey
   * range of two per account).
   */
  async load(accounts: Iterable<string>, since: number): Promise<Map<string, KnownNetworks>> {
    const out = new Map<string, KnownNetworks>();
    const sinceIso = new Date(since).toISOString();
    const byBucket = new Map<string, string[]>();
    for (const account of new Set(accounts)) {
      const bucket = bucketOf(account);
      const group = byBucket.get(bucket);
      if (group) group.push(account);
      else byBucket.set(bucket, [account]);
    }
    const queries: { bucket: string; accounts: string[] }[] = [];
    for (const [bucket, list] of byBucket)
      for (let i = 0; i < list.length; i += ACCOUNTS_PER_QUERY) queries.push({ bucket, accounts: list.slice(i, i + ACCOUNTS_PER_QUERY) });
    await forEachLimit(queries, CONCURRENCY, async ({ bucket, accounts: group }) => {
      const ranges = group.map((account) => {
        const range = prefixRange(rowPrefix(account));
        return `(RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)})`;
      });
      const entities = await this.store.list<BaselineEntity>(
        "Baselines",
        `PartitionKey eq ${odata(bucket)} and lastSeen gt ${odata(sinceIso)} and (${ranges.join(" or ")})`,
      );
      for (const e of entities) {
        const rowKey = e.rowKey ?? "";
        const separator = rowKey.indexOf("|");
        const account = decodeKey(rowKey.slice(0, separator));
        const rest = rowKey.slice(separator + 1);
        let known = out.get(account);
        if (!known) out.set(account, (known = { ips: new Set(), asns: new Set() }));
        if (rest.startsWith("ip:")) (known.ips as Set<string>).add(decodeKey(rest.slice(3)));
        else if (rest.startsWith("asn:")) (known.asns as Set<string>).add(decodeKey(rest.slice(4)));
      }
    });
    return out;
  }

  /**
   * Deletes one bucket's entries last seen at or before `since`. Called with a different
   * bucket each hour, it sweeps the whole table every BUCKETS hours; entries past the
   * period already stopped counting in load(), this only reclaims the space.
   */
  async purge(bucketIndex: number, since: number): Promise<number> {
    const partitionKey = `b${(((bucketIndex % BUCKETS) + BUCKETS) % BUCKETS).toString(16).padStart(2, "0")}`;
    const expired = await this.store.list<BaselineEntity>(
      "Baselines",
      `PartitionKey eq ${odata(partitionKey)} and lastSeen le ${odata(new Date(since).toISOString())}`,
      ["RowKey"],
    );
    // Only this rule's run writes baselines, and runs of a rule never overlap (checkpoint
    // lease), so an entry read as expired cannot have been refreshed meanwhile.
    await this.store.submit("Baselines", expired.map((e) => ["delete", { partitionKey, rowKey: e.rowKey! }]));
    return expired.length;
  }
}
