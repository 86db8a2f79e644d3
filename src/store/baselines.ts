// Baselines table: the IPs and ASNs each account was seen with, and when last.
//
// Partitions are 32 hash buckets of the account, RowKeys `<account>|ip:<ip>` and
// `<account>|asn:<asn>`. An hour's sightings of tens of thousands of users then go out as
// a few hundred entity-group transactions (100 entities each, one partition each) instead
// of one per user, while one account's baseline is still a single prefix query.
import type { TransactionAction } from "@azure/data-tables";
import { fromMs, sortableIso, TICKS_PER_MS, toDateTime, type DateTime } from "../model/time.js";
import type { KnownNetworks, SignInSighting } from "../model/rows.js";
import { decodeKey, encodeKey, prefixRange } from "./keys.js";
import { MAX_BATCH, forEachLimit, odata, statusOf, type TableStore } from "./tables.js";

interface BaselineEntity {
  lastSeen: string;
}

/** Enough partitions to spread 100k users' hourly writes, few enough that a small tenant's hour is a handful of transactions. */
export const BUCKETS = 32;
const CONCURRENCY = 16;
/**
 * Sightings this much older than a bucket's newest are checked one by one (point reads) rather
 * than by widening the bucket's read: a row days late must not make the hour read days of entries.
 */
const RECENT_SPAN: DateTime = 2n * 3_600_000n * TICKS_PER_MS;
/** A write that lost a race with another writer is re-read and merged again, this many times. */
const MERGE_ATTEMPTS = 8;
/** Each bucket's guard row: rewritten by every merge into the bucket (no lastSeen, so no query returns it). */
const GUARD = "~merge";
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
   * Merges sightings into the table: an entry's lastSeen becomes the latest ever observed, so a
   * row that arrives late with an older TimeGenerated never moves it back.
   */
  async record(sightings: Iterable<SignInSighting>): Promise<void> {
    const byBucket = new Map<string, Map<string, DateTime>>();
    for (const s of sightings) {
      if (!s.account) continue;
      const bucket = bucketOf(s.account);
      let entries = byBucket.get(bucket);
      if (!entries) byBucket.set(bucket, (entries = new Map()));
      // Empty values are not a network: an unknown ASN must not make every unknown ASN "known".
      const prefix = rowPrefix(s.account);
      for (const rowKey of [s.ip && `${prefix}ip:${encodeKey(s.ip)}`, s.asn && `${prefix}asn:${encodeKey(s.asn)}`]) {
        const seen = rowKey ? entries.get(rowKey) : undefined;
        if (rowKey && (seen === undefined || s.lastSeen > seen)) entries.set(rowKey, s.lastSeen);
      }
    }
    await forEachLimit(byBucket, CONCURRENCY, ([partitionKey, entries]) => this.mergeBucket(partitionKey, entries));
  }

  /**
   * Read, keep the later time, write; start again from the read when another writer wrote
   * the bucket in between. Every transaction also rewrites the bucket's guard row under the
   * ETag read first (TableStore.submitGuarded), so a write goes through only if nobody wrote
   * the bucket since this writer read it: what it read is still what is stored, and the
   * entries the bucket read did not return were last seen before every recent sighting here.
   */
  private async mergeBucket(partitionKey: string, entries: Map<string, DateTime>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const guardEtag = (await this.store.get("Baselines", partitionKey, GUARD))?.etag;
      const stored = await this.storedEntries(partitionKey, entries);
      const actions: TransactionAction[] = [];
      for (const [rowKey, lastSeen] of entries) {
        const current = stored.get(rowKey);
        // The entity is nothing but lastSeen: Replace, which skips the read Merge implies.
        if (current === undefined || lastSeen > current) actions.push(["upsert", { partitionKey, rowKey, lastSeen: sortableIso(lastSeen) }, "Replace"]);
      }
      const transactions: TransactionAction[][] = [];
      for (let i = 0; i < actions.length; i += MAX_BATCH - 1) transactions.push(actions.slice(i, i + MAX_BATCH - 1));
      try {
        await this.store.submitGuarded("Baselines", { partitionKey, rowKey: GUARD }, guardEtag, transactions);
        return;
      } catch (error) {
        const status = statusOf(error);
        if ((status !== 412 && status !== 409) || attempt >= MERGE_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * What the table holds for a bucket's entries, as far as it matters: an entry's stored
   * lastSeen where it might be later than this write's. One query reads the entries seen at
   * or after the oldest recent sighting; sightings much older than the bucket's newest (rows
   * that arrived days late) are point reads, so that they never widen that query to days of
   * entries. An entry with no value here is absent, or older than every sighting written.
   */
  private async storedEntries(partitionKey: string, entries: Map<string, DateTime>): Promise<Map<string, DateTime>> {
    let newest: DateTime | null = null;
    for (const t of entries.values()) if (newest === null || t > newest) newest = t;
    const recentFrom = newest! - RECENT_SPAN;
    let oldestRecent = newest!;
    const old: string[] = [];
    for (const [rowKey, t] of entries) {
      if (t < recentFrom) old.push(rowKey);
      else if (t < oldestRecent) oldestRecent = t;
    }
    const stored = new Map<string, DateTime>();
    const keep = (rowKey: string, lastSeen: string) => {
      const t = toDateTime(lastSeen);
      if (t !== null) stored.set(rowKey, t);
    };
    const recent = await this.store.list<BaselineEntity>("Baselines", `PartitionKey eq ${odata(partitionKey)} and lastSeen ge ${odata(sortableIso(oldestRecent))}`);
    for (const e of recent) if (e.rowKey && entries.has(e.rowKey)) keep(e.rowKey, e.lastSeen);
    await forEachLimit(old, CONCURRENCY, async (rowKey) => {
      if (stored.has(rowKey)) return;
      const e = await this.store.get<BaselineEntity>("Baselines", partitionKey, rowKey);
      if (e) keep(rowKey, e.lastSeen);
    });
    return stored;
  }

  /**
   * The known networks of each account, counting only entries seen after `since` (the
   * baseline period). Accounts of one bucket are read together, a few per query: Table
   * Storage allows at most 15 comparisons in a filter (partition, lastSeen, and a RowKey
   * range of two per account).
   */
  async load(accounts: Iterable<string>, since: number): Promise<Map<string, KnownNetworks>> {
    const out = new Map<string, KnownNetworks>();
    const sinceIso = sortableIso(fromMs(since));
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
      `PartitionKey eq ${odata(partitionKey)} and lastSeen le ${odata(sortableIso(fromMs(since)))}`,
      ["RowKey"],
    );
    // Only this rule's run writes baselines, and runs of a rule never overlap (checkpoint
    // lease), so an entry read as expired cannot have been refreshed meanwhile.
    await this.store.submit("Baselines", expired.map((e) => ["delete", { partitionKey, rowKey: e.rowKey! }]));
    return expired.length;
  }
}
