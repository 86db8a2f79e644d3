// Baselines table: the IPs and ASNs each account was seen with, and when last.
//
// Partitions are 32 hash buckets of the account, RowKeys `<account>|ip:<ip>` and
// `<account>|asn:<asn>`. An hour's sightings of tens of thousands of users then go out as
// a few hundred entity-group transactions (100 entities each, one partition each) instead
// of one per user, while one account's baseline is still a single prefix query (one
// contiguous RowKey range of one partition, never several ranges OR'd into a scan).
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
/** Each bucket's guard row: rewritten by every merge into the bucket (no lastSeen, so no query of entries returns it). */
const GUARD = "~merge";

/** FNV-1a of the account, to spread accounts evenly over the buckets. */
export function bucketOf(account: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < account.length; i++) h = Math.imul(h ^ account.charCodeAt(i), 0x01000193);
  return bucketKey(h >>> 0);
}

/** The partition of bucket `index` (taken modulo BUCKETS). */
export function bucketKey(index: number): string {
  return `b${(((index % BUCKETS) + BUCKETS) % BUCKETS).toString(16).padStart(2, "0")}`;
}

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

  constructor(private readonly store: TableStore) {}

  /**
   * Merges sightings into the table: an entry's lastSeen becomes the latest ever observed, so a
   * row that arrives late with an older TimeGenerated never moves it back.
   */
  async record(sightings: Iterable<SignInSighting>): Promise<void> {
    await forEachLimit(byBucket(sightings), CONCURRENCY, ([partitionKey, entries]) => this.mergeBucket(partitionKey, entries));
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
   * merge starts again from a fresh read.
   */
  private async mergeBucket(partitionKey: string, entries: Map<string, DateTime>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const guard = this.guards.get(partitionKey) ?? (await this.readGuard(partitionKey));
      const stored = await this.storedEntries(partitionKey, entries, guard.newest);
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
   * entries seen at or after the oldest recent sighting; sightings much older than the
   * newest of them (rows that arrived days late) are point reads, so that they never widen
   * that query to days of entries. An entry with no value here is absent, or older than
   * every sighting written.
   */
  private async storedEntries(partitionKey: string, entries: Map<string, DateTime>, bucketNewest: DateTime | null): Promise<Map<string, DateTime>> {
    const uncertain = new Map<string, DateTime>();
    for (const [rowKey, t] of entries) if (bucketNewest === null || t <= bucketNewest) uncertain.set(rowKey, t);
    const stored = new Map<string, DateTime>();
    if (uncertain.size === 0) return stored;
    let newest: DateTime | null = null;
    for (const t of uncertain.values()) if (newest === null || t > newest) newest = t;
    const recentFrom = newest! - RECENT_SPAN;
    let oldestRecent = newest!;
    const old: string[] = [];
    for (const [rowKey, t] of uncertain) {
      if (t < recentFrom) old.push(rowKey);
      else if (t < oldestRecent) oldestRecent = t;
    }
    const keep = (rowKey: string, lastSeen: string) => {
      const t = toDateTime(lastSeen);
      if (t !== null) stored.set(rowKey, t);
    };
    const recent = await this.store.list<BaselineEntity>("Baselines", `PartitionKey eq ${odata(partitionKey)} and lastSeen ge ${odata(sortableIso(oldestRecent))}`);
    for (const e of recent) if (e.rowKey && uncertain.has(e.rowKey)) keep(e.rowKey, e.lastSeen);
    await forEachLimit(old, CONCURRENCY, async (rowKey) => {
      if (stored.has(rowKey)) return;
      const e = await this.store.get<BaselineEntity>("Baselines", partitionKey, rowKey);
      if (e) keep(rowKey, e.lastSeen);
    });
    return stored;
  }

  /**
   * The known networks of each account, counting only entries seen after `since` (the
   * baseline period): one query per account, the contiguous RowKey range of its prefix in
   * its bucket. Table Storage answers a single key range within a partition by seeking to
   * it; a filter that ORs several ranges is served as a scan of the whole partition.
   */
  async load(accounts: Iterable<string>, since: number): Promise<Map<string, KnownNetworks>> {
    const out = new Map<string, KnownNetworks>();
    const sinceIso = odata(sortableIso(fromMs(since)));
    await forEachLimit(new Set(accounts), CONCURRENCY, async (account) => {
      const range = prefixRange(rowPrefix(account));
      const entities = await this.store.list<BaselineEntity>(
        "Baselines",
        `PartitionKey eq ${odata(bucketOf(account))} and RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)} and lastSeen gt ${sinceIso}`,
        ["RowKey"],
      );
      if (entities.length === 0) return;
      const known = { ips: new Set<string>(), asns: new Set<string>() };
      out.set(account, known);
      for (const e of entities) {
        const rest = (e.rowKey ?? "").slice(range.ge.length);
        if (rest.startsWith("ip:")) known.ips.add(decodeKey(rest.slice(3)));
        else if (rest.startsWith("asn:")) known.asns.add(decodeKey(rest.slice(4)));
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
    const partitionKey = bucketKey(bucketIndex);
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
