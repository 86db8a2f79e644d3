// A sharded run's slice of the accounts, and the hash that assigns an account to it. The KQL
// clause and its TypeScript evaluation live together, so a shard selects the same accounts in
// Log Analytics, in replay and in the local query API. And a shard's record in the Shards table.
import xxhash from "xxhash-wasm";
import { z } from "zod";

const { h64 } = await xxhash();

/**
 * One of `count` disjoint slices of the accounts: those whose lowercase UserPrincipalName
 * hashes to `index`. `count` is a power of two, so the slice is the same whether Kusto's
 * `long` is read as signed or unsigned (2^64 is a multiple of it).
 */
export interface Shard {
  count: number;
  index: number;
  /** The column whose lowercase value is hashed: absent, UserPrincipalName (the account). */
  column?: ShardColumn;
}

/**
 * The columns a slice can be taken by: the account, or the column a per-event rule's
 * evaluation never combines rows across (Rule.partsBy).
 */
export const SHARD_COLUMNS = ["UserPrincipalName", "Id", "AccountObjectId"] as const;
export type ShardColumn = (typeof SHARD_COLUMNS)[number];

/**
 * KQL's hash_xxhash64(text) for a string: xxHash64 with seed 0 of the text's UTF-8 bytes, as a
 * signed `long` (the documentation's example, hash_xxhash64("World") = 1846988464401551951, is
 * checked in test/rules/shard.test.ts).
 */
export function hashXxhash64(text: string): bigint {
  return BigInt.asIntN(64, h64(text));
}

/** The clause that keeps a shard's rows: the expression inShard() evaluates. */
export function shardKql(shard: Shard): string {
  const n = shard.count;
  return `| where (hash_xxhash64(tolower(${shard.column ?? "UserPrincipalName"})) % ${n} + ${n}) % ${n} == ${shard.index}`;
}

/** Whether a row (by column name) is in the shard, as shardKql() selects it (a missing value is Kusto's empty string). */
export function inShard(row: Readonly<Record<string, unknown>>, shard: Shard): boolean {
  const value = row[shard.column ?? "UserPrincipalName"];
  return shardOf(value === null || value === undefined ? "" : String(value), shard.count) === shard.index;
}

/**
 * The shard of an account: `(hash_xxhash64(tolower(UserPrincipalName)) % count + count) % count`
 * evaluated as KQL does it, on a signed long with a truncating `%`.
 */
export function shardOf(account: string, count: number): number {
  const n = BigInt(count);
  return Number(((hashXxhash64(account.toLowerCase()) % n) + n) % n);
}

export const ShardStatus = z.enum(["pending", "committed", "poisoned"]);
export type ShardStatus = z.infer<typeof ShardStatus>;

/** One shard of one rule's window, as the Shards table keeps it. */
export interface ShardRecord {
  ruleId: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  index: number;
  status: ShardStatus;
  /** When its message was last sent (a pending shard whose message was lost is sent again). */
  enqueuedAt: number;
  /** What the shard's commit recorded: rows read and rejected, alerts, held-back events, the earliest baseline sighting. */
  rows: number;
  rejected: number;
  alerts: number;
  heldBack: number;
  /** Exact ticks (a DateTime: time.ts imports this module, so not named here). */
  dataSince: bigint | null;
  /** Deliveries of its message when it was poisoned, and the last error. */
  deliveries: number;
  error: string | null;
}
