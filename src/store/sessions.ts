// Sessions table: the forked-session rule's per-session state (src/model/sessions.ts); its
// in-memory twin for backfills is in memory.ts.
//
// Partitions are 32 hash buckets of the session id, RowKey the encoded session id, one
// entity per session: its state as JSON text and `lastSeen`, the newest sighting, which the
// reads filter on and the hourly purge deletes by. Only the rule's own run writes here, and
// runs of a rule never overlap (checkpoint lease), so a read-fold-write needs no guard.
import type { TransactionAction } from "@azure/data-tables";
import { forget, sessionFromStored, storedSessionText, type SessionState } from "../model/sessions.js";
import { fromMs, sortableIso } from "../model/time.js";
import { decodeKey, encodeKey } from "./keys.js";
import { forEachLimit, odata, type TableStore } from "./tables.js";

const CONCURRENCY = 16;
/** 1 (partition) + 1 (lastSeen) + 12 RowKeys <= 15 comparisons per filter. */
const SESSIONS_PER_QUERY = 12;

/** As many buckets as the Baselines table has (each window purges one; the table is swept every BUCKETS windows). */
export const BUCKETS = 32;

const partitionOf = (bucketIndex: number) => `b${(((bucketIndex % BUCKETS) + BUCKETS) % BUCKETS).toString(16).padStart(2, "0")}`;

/** FNV-1a of the session id, to spread sessions evenly over the buckets. */
export function bucketOf(sessionId: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) h = Math.imul(h ^ sessionId.charCodeAt(i), 0x01000193);
  return partitionOf(h >>> 0);
}

export class SessionRepository {
  constructor(private readonly store: TableStore) {}

  /** The states of these sessions, without values last seen at or before `since`; an expired session is absent. */
  async load(sessionIds: Iterable<string>, since: number): Promise<Map<string, SessionState>> {
    const out = new Map<string, SessionState>();
    const cutoff = fromMs(since);
    const byBucket = new Map<string, string[]>();
    for (const id of new Set(sessionIds)) {
      const bucket = bucketOf(id);
      const group = byBucket.get(bucket);
      if (group) group.push(id);
      else byBucket.set(bucket, [id]);
    }
    const queries: { bucket: string; ids: string[] }[] = [];
    for (const [bucket, ids] of byBucket) for (let i = 0; i < ids.length; i += SESSIONS_PER_QUERY) queries.push({ bucket, ids: ids.slice(i, i + SESSIONS_PER_QUERY) });
    await forEachLimit(queries, CONCURRENCY, async ({ bucket, ids }) => {
      const keys = ids.map((id) => `RowKey eq ${odata(encodeKey(id))}`).join(" or ");
      // Every property of a session's entity is a string: the lean query (TableStore.strings).
      const entities = await this.store.strings("Sessions", `PartitionKey eq ${odata(bucket)} and lastSeen gt ${odata(sortableIso(cutoff))} and (${keys})`, ["RowKey", "state"]);
      for (const e of entities) {
        if (!e.RowKey) continue;
        const id = decodeKey(e.RowKey);
        const state = forget(sessionFromStored(id, e.state ?? ""), cutoff);
        if (state) out.set(id, state);
      }
    });
    return out;
  }

  /** Writes these states, each replacing its session's entity. */
  async save(states: Iterable<SessionState>): Promise<void> {
    const byBucket = new Map<string, SessionState[]>();
    for (const state of states) {
      const bucket = bucketOf(state.sessionId);
      const group = byBucket.get(bucket);
      if (group) group.push(state);
      else byBucket.set(bucket, [state]);
    }
    await forEachLimit(byBucket, CONCURRENCY, ([partitionKey, group]) =>
      this.store.submit(
        "Sessions",
        group.map((s) => ["upsert", { partitionKey, rowKey: encodeKey(s.sessionId), lastSeen: sortableIso(s.lastSeen), state: storedSessionText(s) }, "Replace"]),
      ),
    );
  }

  /**
   * Deletes one bucket's sessions last seen at or before `since`. Called with a different bucket
   * each window, it sweeps the table every BUCKETS windows; load() already ignores them.
   */
  async purge(bucketIndex: number, since: number): Promise<number> {
    const partitionKey = partitionOf(bucketIndex);
    const expired = await this.store.strings("Sessions", `PartitionKey eq ${odata(partitionKey)} and lastSeen le ${odata(sortableIso(fromMs(since)))}`, ["RowKey"]);
    await this.store.submit("Sessions", expired.flatMap((e) => (e.RowKey ? [["delete", { partitionKey, rowKey: e.RowKey }] as TransactionAction] : [])));
    return expired.length;
  }
}
