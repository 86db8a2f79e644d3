// Baselines table: the IPs and ASNs each account was seen with, and when last.
//
// Partitions are the 32 account buckets (buckets.ts), RowKeys `<account>|ip:<ip>` and
// `<account>|asn:<asn>`. An hour's sightings of tens of thousands of users then go out as
// a few hundred entity-group transactions (100 entities each, one partition each) instead
// of one per user, while one account's baseline is still a single prefix query (one
// contiguous RowKey range of one partition, never several ranges OR'd into a scan), and a
// bucket with many candidates is one query of the whole partition.
//
// A slice of a sharded run owns its buckets: no other shard writes them, and the guard row
// each writer remembers stays current across its sightings. (At 64 shards two shards share
// each bucket; the guard's ETag still keeps their writes from interleaving.) The first
// layout's FNV buckets `b00`..`b1f` are moved into them once (migrate()).
import type { TransactionAction } from "@azure/data-tables";
import { fromMs, sortableIso, TICKS_PER_MS, toDateTime, type DateTime } from "../model/time.js";
import type { KnownNetworks, SignInSighting } from "../model/rows.js";
import { BUCKETS, bucketKey, bucketOf, FIRST_LAYOUT_PARTITIONS, firstLayoutBucketKey } from "./buckets.js";
import { decodeKey, encodeKey, prefixRange } from "./keys.js";
import { MAX_BATCH, forEachLimit, odata, statusOf, type TableStore } from "./tables.js";

interface BaselineEntity {
  lastSeen: string;
}

const CONCURRENCY = 16;
/**
 * Sightings this much older than a bucket's newest are checked one by one (point reads) rather
 * than by widening the bucket's read: a row days late must not make the hour read days of entries.
 */
const RECENT_SPAN: DateTime = 2n * 3_600_000n * TICKS_PER_MS;
/** A write that lost a race with another writer is re-read and merged again, this many times. */
const MERGE_ATTEMPTS = 8;
/** Each bucket's guard row: rewritten by every merge into the bucket (no lastSeen, so no query of entries returns it). */
const GUARD = "~merge";

/**
 * Candidates of one bucket from which load() reads the whole bucket in one query rather than
 * one query per account. Measured against Azurite (TableStore.strings(), Node 22, this
 * machine): a query costs ~0.8-1.3 ms of client CPU, each entity it returns ~3 µs, so a scan of
 * a bucket of E entries costs about as much as 1 + E/330 per-account queries: ~10 for a bucket
 * of 3,000 entries, ~45 for 15,000. Candidates grow with the tenant as entries do (the lead's
 * M hour: ~4,800 candidates of 20k users, ~150 a bucket), so buckets are either few candidates
 * of a small tenant (where a scan is a page or less anyway) or far above this.
 */
export const DENSE_CANDIDATES = 24;

const rowPrefix = (account: string) => `${encodeKey(account)}|`;

const guardRow = (partitionKey: string, newest: DateTime | null) => ({ partitionKey, rowKey: GUARD, ...(newest === null ? {} : { newest: sortableIso(newest) }) });

/** Sightings as table entries per bucket: each entry's latest lastSeen. */
function byBucket(sightings: Iterable<SignInSighting>): Map<string, Map<string, DateTime>> {
  const buckets = new Map<string, Map<string, DateTime>>();
  for (const s of sightings) {
    if (!s.account) continue;
    const bucket = bucketOf(s.account);
    let entries = buckets.get(bucket);
    if (!entries) buckets.set(bucket, (entries = new Map()));
    // Empty values are not a network: an unknown ASN must not make every unknown ASN "known".
    const prefix = rowPrefix(s.account);
    for (const rowKey of [s.ip && `${prefix}ip:${encodeKey(s.ip)}`, s.asn && `${prefix}asn:${encodeKey(s.asn)}`]) {
      const seen = rowKey ? entries.get(rowKey) : undefined;
      if (rowKey && (seen === undefined || s.lastSeen > seen)) entries.set(rowKey, s.lastSeen);
    }
  }
  return buckets;
}

/** A bucket's guard row: its ETag (undefined: no guard yet) and the newest lastSeen written into the bucket. */
interface Guard {
  etag: string | undefined;
  newest: DateTime | null;
}

export class BaselineRepository {
  /** Each bucket's guard as this repository last wrote it. */
  private readonly guards = new Map<string, Guard>();
  /** migrate(), once per repository (a process has one); retried on the next use if it failed. */
  private migration: Promise<void> | undefined;

  constructor(private readonly store: TableStore) {}

  private migrated(): Promise<void> {
    this.migration ??= this.migrate().catch((error: unknown) => {
      this.migration = undefined;
      throw error;
    });
    return this.migration;
  }

  /**
   * Moves the entries of the first layout's partitions (`b00`..`b1f`, FNV buckets) into this
   * layout, if one bounded query finds any: each old bucket is read whole, merged as record()
   * merges (the later lastSeen wins, under each bucket's guard) and only then deleted. After a
   * crash an old bucket not yet emptied is moved again, which changes nothing already moved;
   * two processes moving one bucket at once merge the same entries, and the one whose delete
   * finds rows gone (404) reads what is left and moves that. Merged entries span the whole
   * baseline period, so each merge reads its new bucket from the oldest of them in one query
   * instead of one point read per older entry: a one-time cost of reading each new bucket
   * about 16 times over. Writers of the first layout must be stopped (deploy replaces them).
   */
  private async migrate(): Promise<void> {
    if ((await this.store.first("Baselines", FIRST_LAYOUT_PARTITIONS, 1, ["PartitionKey"])).length === 0) return;
    for (let i = 0; i < BUCKETS; i++) await this.moveBucket(firstLayoutBucketKey(i));
  }

  private async moveBucket(partitionKey: string): Promise<void> {
    for (;;) {
      const rows = await this.store.strings("Baselines", `PartitionKey eq ${odata(partitionKey)}`, ["RowKey", "lastSeen"]);
      if (rows.length === 0) return;
      const moved = new Map<string, Map<string, DateTime>>();
      for (const row of rows) {
        const lastSeen = row.lastSeen ? toDateTime(row.lastSeen) : null;
        if (lastSeen === null || !row.RowKey) continue; // the old guard row, deleted with the rest
        const bucket = bucketOf(decodeKey(row.RowKey.slice(0, row.RowKey.indexOf("|"))));
        let entries = moved.get(bucket);
        if (!entries) moved.set(bucket, (entries = new Map()));
        entries.set(row.RowKey, lastSeen);
      }
      await forEachLimit(moved, CONCURRENCY, ([bucket, entries]) => this.mergeBucket(bucket, entries, null));
      try {
        await this.store.submit("Baselines", rows.map((row) => ["delete", { partitionKey, rowKey: row.RowKey! }]));
        return;
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
    }
  }

  /**
   * Merges sightings into the table: an entry's lastSeen becomes the latest ever observed, so a
   * row that arrives late with an older TimeGenerated never moves it back.
   */
  async record(sightings: Iterable<SignInSighting>): Promise<void> {
    await this.migrated();
    await forEachLimit(byBucket(sightings), CONCURRENCY, ([partitionKey, entries]) => this.mergeBucket(partitionKey, entries, RECENT_SPAN));
  }

  /**
   * The rows record() leaves in an empty table for these sightings (entries and each bucket's
   * guard): the benchmark stores a steady state with them directly (src/bench/run.ts).
   */
  static rowsFor(sightings: Iterable<SignInSighting>): ({ partitionKey: string; rowKey: string } & Record<string, string>)[] {
    const rows: ({ partitionKey: string; rowKey: string } & Record<string, string>)[] = [];
    for (const [partitionKey, entries] of byBucket(sightings)) {
      let newest: DateTime | null = null;
      for (const [rowKey, lastSeen] of entries) {
        if (newest === null || lastSeen > newest) newest = lastSeen;
        rows.push({ partitionKey, rowKey, lastSeen: sortableIso(lastSeen) });
      }
      rows.push(guardRow(partitionKey, newest));
    }
    return rows;
  }

  /**
   * Read, keep the later time, write; start again from the read when another writer wrote
   * the bucket in between. Every transaction also rewrites the bucket's guard row under the
   * ETag read first (TableStore.submitGuarded), so a write goes through only if nobody wrote
   * the bucket since this writer read it: what it read is still what is stored, and the
   * entries the bucket read did not return were last seen before every recent sighting here.
   *
   * The guard also records the newest lastSeen ever written into its bucket, so no stored
   * entry is later than it: sightings after it are written without reading anything. The
   * guard as this repository last wrote it is kept, and used instead of reading the guard
   * again; if another writer changed the bucket since, the write fails on the ETag and the
   * merge starts again from a fresh read. `recentSpan`: see storedEntries().
   */
  private async mergeBucket(partitionKey: string, entries: Map<string, DateTime>, recentSpan: DateTime | null): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const guard = this.guards.get(partitionKey) ?? (await this.readGuard(partitionKey));
      const stored = await this.storedEntries(partitionKey, entries, guard.newest, recentSpan);
      let newest = guard.newest;
      const actions: TransactionAction[] = [];
      for (const [rowKey, lastSeen] of entries) {
        const current = stored.get(rowKey);
        if (newest === null || lastSeen > newest) newest = lastSeen;
        // The entity is nothing but lastSeen: Replace, which skips the read Merge implies.
        if (current === undefined || lastSeen > current) actions.push(["upsert", { partitionKey, rowKey, lastSeen: sortableIso(lastSeen) }, "Replace"]);
      }
      const transactions: TransactionAction[][] = [];
      for (let i = 0; i < actions.length; i += MAX_BATCH - 1) transactions.push(actions.slice(i, i + MAX_BATCH - 1));
      const row = guardRow(partitionKey, newest);
      try {
        const etag = await this.store.submitGuarded("Baselines", row, guard.etag, transactions);
        if (etag) this.guards.set(partitionKey, { etag, newest });
        return;
      } catch (error) {
        this.guards.delete(partitionKey);
        const status = statusOf(error);
        if ((status !== 412 && status !== 409) || attempt >= MERGE_ATTEMPTS) throw error;
      }
    }
  }

  private async readGuard(partitionKey: string): Promise<Guard> {
    const row = await this.store.get<{ newest?: string }>("Baselines", partitionKey, GUARD);
    return { etag: row?.etag, newest: row?.newest === undefined ? null : toDateTime(row.newest) };
  }

  /**
   * What the table holds for a bucket's entries, as far as it matters: an entry's stored
   * lastSeen where it might be later than this write's. Entries sighted after the bucket's
   * newest (`newest`, null: not known) need no read. Of the others, one query reads the
   * entries seen at or after the oldest recent sighting; sightings more than `recentSpan`
   * older than the newest of them (rows that arrived days late) are point reads, so that they
   * never widen that query to days of entries (null: every sighting is recent, for a merge of
   * many old entries). An entry with no value here is absent, or older than every sighting written.
   */
  private async storedEntries(partitionKey: string, entries: Map<string, DateTime>, bucketNewest: DateTime | null, recentSpan: DateTime | null): Promise<Map<string, DateTime>> {
    const uncertain = new Map<string, DateTime>();
    for (const [rowKey, t] of entries) if (bucketNewest === null || t <= bucketNewest) uncertain.set(rowKey, t);
    const stored = new Map<string, DateTime>();
    if (uncertain.size === 0) return stored;
    let newest: DateTime | null = null;
    for (const t of uncertain.values()) if (newest === null || t > newest) newest = t;
    const recentFrom = recentSpan === null ? null : newest! - recentSpan;
    let oldestRecent = newest!;
    const old: string[] = [];
    for (const [rowKey, t] of uncertain) {
      if (recentFrom !== null && t < recentFrom) old.push(rowKey);
      else if (t < oldestRecent) oldestRecent = t;
    }
    const keep = (rowKey: string, lastSeen: string) => {
      const t = toDateTime(lastSeen);
      if (t !== null) stored.set(rowKey, t);
    };
    await this.store.stringPages("Baselines", `PartitionKey eq ${odata(partitionKey)} and lastSeen ge ${odata(sortableIso(oldestRecent))}`, ["RowKey", "lastSeen"], (page) => {
      for (const e of page) if (e.RowKey && e.lastSeen && uncertain.has(e.RowKey)) keep(e.RowKey, e.lastSeen);
    });
    await forEachLimit(old, CONCURRENCY, async (rowKey) => {
      if (stored.has(rowKey)) return;
      const e = await this.store.get<BaselineEntity>("Baselines", partitionKey, rowKey);
      if (e) keep(rowKey, e.lastSeen);
    });
    return stored;
  }

  /**
   * The known networks of each account, counting only entries seen after `since` (the
   * baseline period). A bucket with DENSE_CANDIDATES or more of the accounts is one query of
   * the partition (its entries since `since`, the candidates' kept); otherwise each account
   * is one query, the contiguous RowKey range of its prefix in its bucket. Table Storage
   * answers a single key range within a partition by seeking to it; a filter that ORs several
   * ranges is served as a scan of the whole partition, so it is never used.
   */
  async load(accounts: Iterable<string>, since: number): Promise<Map<string, KnownNetworks>> {
    await this.migrated();
    const out = new Map<string, { ips: Set<string>; asns: Set<string> }>();
    const sinceFilter = `lastSeen gt ${odata(sortableIso(fromMs(since)))}`;
    const byPartition = new Map<string, Map<string, string>>();
    for (const account of accounts) {
      const partitionKey = bucketOf(account);
      let candidates = byPartition.get(partitionKey);
      if (!candidates) byPartition.set(partitionKey, (candidates = new Map()));
      candidates.set(encodeKey(account), account);
    }
    /** Adds an entry (its RowKey) to its account's networks, if the account is a candidate. */
    const keep = (candidates: Map<string, string>, rowKey: string) => {
      const bar = rowKey.indexOf("|");
      const account = candidates.get(rowKey.slice(0, bar));
      if (account === undefined) return;
      let known = out.get(account);
      if (!known) out.set(account, (known = { ips: new Set(), asns: new Set() }));
      const rest = rowKey.slice(bar + 1);
      if (rest.startsWith("ip:")) known.ips.add(decodeKey(rest.slice(3)));
      else if (rest.startsWith("asn:")) known.asns.add(decodeKey(rest.slice(4)));
    };
    const queries: { partitionKey: string; candidates: Map<string, string>; range?: { ge: string; lt: string } }[] = [];
    for (const [partitionKey, candidates] of byPartition) {
      if (candidates.size >= DENSE_CANDIDATES) queries.push({ partitionKey, candidates });
      else for (const encoded of candidates.keys()) queries.push({ partitionKey, candidates, range: prefixRange(`${encoded}|`) });
    }
    await forEachLimit(queries, CONCURRENCY, async ({ partitionKey, candidates, range }) => {
      const rangeFilter = range ? ` and RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)}` : "";
      // A page at a time: a whole bucket's entries grow with the tenant, what is kept only with the candidates.
      await this.store.stringPages("Baselines", `PartitionKey eq ${odata(partitionKey)}${rangeFilter} and ${sinceFilter}`, ["RowKey"], (page) => {
        for (const e of page) if (e.RowKey) keep(candidates, e.RowKey);
      });
    });
    return out;
  }

  /**
   * Deletes one bucket's entries last seen at or before `since`. Called with a different
   * bucket each hour, it sweeps the whole table every BUCKETS hours; entries past the
   * period already stopped counting in load(), this only reclaims the space.
   */
  async purge(bucketIndex: number, since: number): Promise<number> {
    await this.migrated();
    const partitionKey = bucketKey(bucketIndex);
    const expired = await this.store.strings("Baselines", `PartitionKey eq ${odata(partitionKey)} and lastSeen le ${odata(sortableIso(fromMs(since)))}`, ["RowKey"]);
    // Only this rule's run writes baselines, and runs of a rule never overlap (checkpoint
    // lease), so an entry read as expired cannot have been refreshed meanwhile.
    await this.store.submit("Baselines", expired.map((e) => ["delete", { partitionKey, rowKey: e.RowKey! }]));
    return expired.length;
  }
}
