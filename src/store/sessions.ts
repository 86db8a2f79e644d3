// Sessions table: the forked-session rule's per-session state (src/model/sessions.ts); its
// in-memory twin for backfills is in memory.ts.
//
// Partitions are the 32 account buckets (buckets.ts), so a slice of a sharded run reads and
// writes only its own; RowKey `<account>|<session id>` (encoded), one entity per session: its
// state as JSON text and `lastSeen`, the newest sighting, which the reads filter on and the
// hourly purge deletes by. Only the rule's own run writes here, and runs of a rule never
// overlap (checkpoint lease), so a read-fold-write needs no guard.
//
// Most sessions a window names were used in the window before, so a bucket with many of
// them is read by one query of its recently used sessions (pages of 1,000) before the rest
// are read by key, 12 to a query: at 100k users a slice's ~5,000 sessions cost tens of
// requests instead of ~420.
//
// The first layout (RowKey the session id, partitions `b00`..`b1f` by an FNV hash of it) is
// read for the sessions this one lacks, while it holds any; a session read there is written
// here by the same window (every session a window names is saved), and the purge empties
// the old partitions as their sessions expire, a lifetime after the upgrade.
import type { TransactionAction } from "@azure/data-tables";
import { forget, sessionFromStored, sessionKey, storedSessionText, type SessionRef, type SessionState } from "../model/sessions.js";
import { fromMs, sortableIso, type DateTime } from "../model/time.js";
import { bucketKey, bucketOf, FIRST_LAYOUT_PARTITIONS, firstLayoutBucketKey, firstLayoutBucketOf } from "./buckets.js";
import { encodeKey } from "./keys.js";
import { forEachLimit, odata, type TableStore } from "./tables.js";

const CONCURRENCY = 16;
/** 1 (partition) + 1 (lastSeen) + 12 RowKeys <= 15 comparisons per filter. */
const SESSIONS_PER_QUERY = 12;
/**
 * Sessions of one bucket from which load() first reads the bucket's recently used sessions in
 * one query: below it, by key costs at most two queries anyway.
 */
export const RECENT_SCAN_SESSIONS = 24;
/** How often a long-lived process looks again whether the first layout still holds sessions. */
const FIRST_LAYOUT_RECHECK_MS = 3_600_000;

type SessionEntity = { partitionKey: string; rowKey: string; lastSeen: string; state: string };

const rowKeyOf = (session: SessionRef) => `${encodeKey(session.account)}|${encodeKey(session.sessionId)}`;

/** A stored entity's state, if it is the wanted session's and not expired (`keyNamesAccount`: its RowKey names the account, as this layout's do). */
function readState(wanted: SessionRef, text: string, cutoff: DateTime, keyNamesAccount: boolean): SessionState | undefined {
  const state = sessionFromStored(wanted, text, keyNamesAccount);
  return state && forget(state, cutoff);
}

/** Sessions by partition and RowKey, as `keyOf` places them. */
function byPartition(refs: Iterable<SessionRef>, keyOf: (ref: SessionRef) => [partition: string, rowKey: string]): Map<string, Map<string, SessionRef>> {
  const out = new Map<string, Map<string, SessionRef>>();
  for (const ref of refs) {
    const [partition, rowKey] = keyOf(ref);
    const group = out.get(partition) ?? new Map<string, SessionRef>();
    out.set(partition, group.set(rowKey, ref));
  }
  return out;
}

export class SessionRepository {
  /** Whether the first layout may still hold sessions, as last looked up (at most hourly while it does; false for good once it is empty). */
  private firstLayout: { holds: boolean; at: number } | undefined;

  constructor(private readonly store: TableStore) {}

  async load(sessions: Iterable<SessionRef>, since: number, recentSince = since): Promise<Map<string, SessionState>> {
    const cutoff = fromMs(since);
    // By store key, in the order named: when two accounts name one session id, the first one's state is the window's.
    const wanted = new Map<string, SessionRef>();
    for (const ref of sessions) if (!wanted.has(sessionKey(ref))) wanted.set(sessionKey(ref), ref);
    const found = new Map<string, SessionState>();
    const missing = byPartition(wanted.values(), (ref) => [bucketOf(ref.account), rowKeyOf(ref)]);
    const recent = fromMs(Math.max(since, recentSince));
    await forEachLimit([...missing].filter(([, group]) => group.size >= RECENT_SCAN_SESSIONS && recent > cutoff), CONCURRENCY, ([bucket, group]) =>
      this.store.stringPages("Sessions", `PartitionKey eq ${odata(bucket)} and lastSeen gt ${odata(sortableIso(recent))}`, ["RowKey", "state"], (page) => {
        for (const e of page) {
          const ref = e.RowKey ? group.get(e.RowKey) : undefined;
          if (!ref) continue;
          group.delete(e.RowKey!);
          const state = readState(ref, e.state ?? "", cutoff, true);
          if (state) found.set(sessionKey(ref), state);
        }
      }),
    );
    await this.readByKey(missing, cutoff, found, true);
    if (await this.hasFirstLayout()) {
      const left = [...wanted.values()].filter((ref) => !found.has(sessionKey(ref)));
      await this.readByKey(byPartition(left, (ref) => [firstLayoutBucketOf(ref.sessionId), encodeKey(ref.sessionId)]), cutoff, found, false);
    }
    const out = new Map<string, SessionState>();
    for (const [key, ref] of wanted) {
      const state = found.get(key);
      if (state && !out.has(ref.sessionId)) out.set(ref.sessionId, state);
    }
    return out;
  }

  /** Reads these entities (per partition, by RowKey), SESSIONS_PER_QUERY of one partition to a query, into `found` (by session key). */
  private async readByKey(byBucket: Map<string, Map<string, SessionRef>>, cutoff: DateTime, found: Map<string, SessionState>, keyNamesAccount: boolean): Promise<void> {
    const queries: { bucket: string; keys: [string, SessionRef][] }[] = [];
    for (const [bucket, group] of byBucket) {
      const keys = [...group];
      for (let i = 0; i < keys.length; i += SESSIONS_PER_QUERY) queries.push({ bucket, keys: keys.slice(i, i + SESSIONS_PER_QUERY) });
    }
    await forEachLimit(queries, CONCURRENCY, async ({ bucket, keys }) => {
      const wanted = new Map(keys);
      const filter = `PartitionKey eq ${odata(bucket)} and lastSeen gt ${odata(sortableIso(cutoff))} and (${keys.map(([rowKey]) => `RowKey eq ${odata(rowKey)}`).join(" or ")})`;
      // Every property of a session's entity is a string: the lean query (TableStore.strings).
      for (const e of await this.store.strings("Sessions", filter, ["RowKey", "state"])) {
        const ref = e.RowKey ? wanted.get(e.RowKey) : undefined;
        const state = ref && readState(ref, e.state ?? "", cutoff, keyNamesAccount);
        if (state) found.set(sessionKey(ref), state);
      }
    });
  }

  private async hasFirstLayout(): Promise<boolean> {
    const now = Date.now();
    const last = this.firstLayout;
    if (last && (!last.holds || now - last.at < FIRST_LAYOUT_RECHECK_MS)) return last.holds;
    const holds = (await this.store.first("Sessions", FIRST_LAYOUT_PARTITIONS, 1, ["PartitionKey"])).length > 0;
    this.firstLayout = { holds, at: now };
    return holds;
  }

  /** Writes these states, each replacing its session's entity. */
  async save(states: Iterable<SessionState>): Promise<void> {
    const byBucket = new Map<string, SessionEntity[]>();
    for (const entity of SessionRepository.rowsFor(states)) {
      const group = byBucket.get(entity.partitionKey);
      if (group) group.push(entity);
      else byBucket.set(entity.partitionKey, [entity]);
    }
    await forEachLimit(byBucket.values(), CONCURRENCY, (group) => this.store.submit("Sessions", group.map((entity) => ["upsert", entity, "Replace"])));
  }

  /** The entities these states are stored as (save(), and the tenant bench's preloaded steady state). */
  static rowsFor(states: Iterable<SessionState>): SessionEntity[] {
    return [...states].map((s) => ({ partitionKey: bucketOf(s.account), rowKey: rowKeyOf(s), lastSeen: sortableIso(s.lastSeen), state: storedSessionText(s) }));
  }

  /**
   * Deletes one bucket's sessions last seen at or before `since` (and the first layout's bucket
   * of that number, while it holds any). Called with a different bucket each window, it sweeps
   * the table every BUCKETS windows; load() already ignores them.
   */
  async purge(bucketIndex: number, since: number): Promise<number> {
    const partitions = [bucketKey(bucketIndex), ...((await this.hasFirstLayout()) ? [firstLayoutBucketKey(bucketIndex)] : [])];
    let purged = 0;
    for (const partitionKey of partitions) {
      const expired = await this.store.strings("Sessions", `PartitionKey eq ${odata(partitionKey)} and lastSeen le ${odata(sortableIso(fromMs(since)))}`, ["RowKey"]);
      await this.store.submit("Sessions", expired.flatMap((e) => (e.RowKey ? [["delete", { partitionKey, rowKey: e.RowKey }] as TransactionAction] : [])));
      purged += expired.length;
    }
    return purged;
  }
}
