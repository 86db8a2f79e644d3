// The Shards table: one row per shard of a sharded window (partition: rule id), written when
// the timer plans the window and committed by the shard that processed it; and per rule the
// row count of its last window (`load`), from which the timer decides whether to shard the
// next. A commit is idempotent: a redelivered shard that already committed changes nothing.
import { z } from "zod";
import { ShardStatus, type ShardRecord } from "../model/shard.js";
import { sortableIso, toDateTime } from "../model/time.js";
import { odata, statusOf, type TableStore } from "./tables.js";

const ShardEntity = z.object({
  partitionKey: z.string(),
  rowKey: z.string(),
  etag: z.string(),
  windowStart: z.iso.datetime(),
  windowEnd: z.iso.datetime(),
  count: z.number().int().min(1),
  index: z.number().int().min(0),
  status: ShardStatus,
  enqueuedAt: z.iso.datetime(),
  rows: z.number().int().min(0),
  // Absent from rows the previous release wrote.
  rejected: z.number().int().min(0).default(0),
  alerts: z.number().int().min(0),
  heldBack: z.number().int().min(0),
  dataSince: z.string(),
  deliveries: z.number().int().min(0),
  error: z.string(),
});

const LoadEntity = z.object({ windowEnd: z.iso.datetime(), rows: z.number().int().min(0) });

const LOAD_ROW = "load";
const PREFIX = "w:";
const iso = (ms: number) => new Date(ms).toISOString();
const rowKey = (windowEnd: number, index: number) => `${PREFIX}${iso(windowEnd)}:${String(index).padStart(3, "0")}`;

function fromEntity(raw: unknown): ShardRecord {
  const e = ShardEntity.parse(raw);
  return {
    ruleId: e.partitionKey,
    windowStart: Date.parse(e.windowStart),
    windowEnd: Date.parse(e.windowEnd),
    count: e.count,
    index: e.index,
    status: e.status,
    enqueuedAt: Date.parse(e.enqueuedAt),
    rows: e.rows,
    rejected: e.rejected,
    alerts: e.alerts,
    heldBack: e.heldBack,
    dataSince: e.dataSince ? toDateTime(e.dataSince) : null,
    deliveries: e.deliveries,
    error: e.error || null,
  };
}

function toEntity(r: ShardRecord) {
  return {
    partitionKey: r.ruleId,
    rowKey: rowKey(r.windowEnd, r.index),
    windowStart: iso(r.windowStart),
    windowEnd: iso(r.windowEnd),
    count: r.count,
    index: r.index,
    status: r.status,
    enqueuedAt: iso(r.enqueuedAt),
    rows: r.rows,
    rejected: r.rejected,
    alerts: r.alerts,
    heldBack: r.heldBack,
    dataSince: r.dataSince === null ? "" : sortableIso(r.dataSince),
    deliveries: r.deliveries,
    error: (r.error ?? "").slice(0, 8_000),
  };
}

export class ShardRepository {
  constructor(private readonly store: TableStore) {}

  /**
   * Records a window's shards as pending, in transactions of at most 100 (one per 100
   * shards). A plan already recorded (two timers raced, or a retry after a crash) is kept as
   * it is: returns false. A plan whose later transactions never ran (a crash between them) is
   * completed by the timer (stepSharded).
   */
  async plan(shards: readonly ShardRecord[]): Promise<boolean> {
    try {
      await this.store.submit("Shards", shards.map((s) => ["create", toEntity(s)]));
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
  }

  /** The shards of a rule's window that starts at `windowStart` (none: not sharded). */
  async window(ruleId: string, windowStart: number): Promise<ShardRecord[]> {
    const rows = await this.store.list("Shards", `PartitionKey eq ${odata(ruleId)} and RowKey ge ${odata(PREFIX)} and RowKey lt ${odata(`${PREFIX}~`)} and windowStart eq ${odata(iso(windowStart))}`);
    return rows.map(fromEntity).sort((a, b) => a.index - b.index);
  }

  async get(ruleId: string, windowEnd: number, index: number): Promise<ShardRecord | undefined> {
    const entity = await this.store.get("Shards", ruleId, rowKey(windowEnd, index));
    return entity && fromEntity(entity);
  }

  /**
   * Changes one shard's row by `change` (null: leave it), under its ETag, reading it again when
   * another writer changed it meanwhile. Returns the row as it stands (undefined: no such shard).
   */
  async change(ruleId: string, windowEnd: number, index: number, change: (current: ShardRecord) => ShardRecord | null): Promise<ShardRecord | undefined> {
    const client = await this.store.table("Shards");
    for (;;) {
      const entity = await this.store.get("Shards", ruleId, rowKey(windowEnd, index));
      if (!entity) return undefined;
      const current = fromEntity(entity);
      const next = change(current);
      if (!next) return current;
      try {
        await client.updateEntity(toEntity(next), "Replace", { etag: entity.etag });
        return next;
      } catch (error) {
        if (statusOf(error) !== 412) throw error;
      }
    }
  }

  /** Deletes the shard rows of every window of the rule that ends at or before `windowEnd` (finished). */
  async clear(ruleId: string, windowEnd: number): Promise<void> {
    const rows = await this.store.list<object>("Shards", `PartitionKey eq ${odata(ruleId)} and RowKey ge ${odata(PREFIX)} and RowKey le ${odata(`${PREFIX}${iso(windowEnd)}:~`)}`, ["PartitionKey", "RowKey"]);
    await this.store.submit("Shards", rows.map((r) => ["delete", { partitionKey: r.partitionKey!, rowKey: r.rowKey! }]));
  }

  /** The rows the rule's last window read (null: none recorded). */
  async lastLoad(ruleId: string): Promise<{ windowEnd: number; rows: number } | null> {
    const entity = await this.store.get("Shards", ruleId, LOAD_ROW);
    if (!entity) return null;
    const e = LoadEntity.parse(entity);
    return { windowEnd: Date.parse(e.windowEnd), rows: e.rows };
  }

  async recordLoad(ruleId: string, windowEnd: number, rows: number): Promise<void> {
    await (await this.store.table("Shards")).upsertEntity({ partitionKey: ruleId, rowKey: LOAD_ROW, windowEnd: iso(windowEnd), rows }, "Replace");
  }
}
