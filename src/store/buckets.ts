// The partitions of the per-account tables (Baselines, Sessions): 32 buckets, an account's
// bucket its shard of 32 (src/model/shard.ts). Shard i of a run split in N ≤ 32 owns exactly
// the buckets b with b mod N == i, so a slice reads and writes only its own partitions.
// These are `x00`..`x1f`; both tables' first layout spread rows over `b00`..`b1f` by an
// FNV-1a hash (of the account, or of the session id), unrelated to the shards.
import { shardOf } from "../model/shard.js";

/** Enough partitions to spread 100k users' hourly writes, few enough that a small tenant's hour is a handful of transactions. */
export const BUCKETS = 32;

/** The bucket of an account: its shard of BUCKETS, the hash a sharded run splits accounts by. */
export function bucketOf(account: string): string {
  return bucketKey(shardOf(account, BUCKETS));
}

/** The partition of bucket `index` (taken modulo BUCKETS). */
export function bucketKey(index: number): string {
  return `x${hex(index)}`;
}

/** The partition of bucket `index` in the first layout. */
export function firstLayoutBucketKey(index: number): string {
  return `b${hex(index)}`;
}

/** The first layout's bucket of a key (FNV-1a of its UTF-16 code units). */
export function firstLayoutBucketOf(key: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return firstLayoutBucketKey(h >>> 0);
}

/** An OData filter for every partition of the first layout. */
export const FIRST_LAYOUT_PARTITIONS = `PartitionKey ge 'b00' and PartitionKey le 'b1f'`;

const hex = (index: number) => (((index % BUCKETS) + BUCKETS) % BUCKETS).toString(16).padStart(2, "0");
