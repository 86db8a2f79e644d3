// What the bench passes one invocation's process (src/bench/hour.ts) and what it prints back.
// An invocation is what the Functions host would run: the rules' timers for the measured
// window ("timer"), or one delivery of one shard message from the queue ("shard").
import { z } from "zod";

export const hourArgsSchema = z.object({
  endpoint: z.url(),
  workspaceId: z.string(),
  /** PEM of the local query API's certificate. */
  certificate: z.string(),
  /** Table endpoint (through the bench's counting proxy) and queue endpoint. */
  connectionString: z.string(),
  /** The window measured is [hourEnd - 1 h, hourEnd); the timer fires `delayMs` after it. */
  hourEnd: z.number().int(),
  delayMs: z.number().int(),
  /** TOKENWATCH_SHARD_ROWS: a per-account rule's window expected to read more is sharded. */
  rowsPerShard: z.number().int().positive(),
  invocation: z.discriminatedUnion("kind", [
    /** The timers of these rules, one after the other, as one process. */
    z.object({ kind: z.literal("timer"), ruleIds: z.array(z.string()).min(1) }),
    /** The queue trigger with one delivery of a shard message. */
    z.object({ kind: z.literal("shard"), message: z.unknown(), dequeueCount: z.number().int().min(1) }),
  ]),
});
export type HourArgs = z.infer<typeof hourArgsSchema>;

export const hourResultSchema = z.object({
  /** Wall time of the invocation's work, waits on the query API and Azurite included. */
  seconds: z.number(),
  /** CPU (user + system) of this process during that work. */
  cpuSeconds: z.number(),
  /** Peak resident memory of this process. */
  peakRssMB: z.number(),
  /** Rows the client received, over every HTTP query (split parts and truncated answers included). */
  rowsTransferred: z.number().int(),
  queries: z.number().int(),
  /** Queries answered incomplete (at a limit) and split. */
  splitQueries: z.number().int(),
  /** Accounts whose baseline the engine asked for (rule.baselineAccounts). */
  baselineCandidates: z.number().int(),
  alerts: z.number().int(),
  /** The accounts alerted (distinct). */
  alertedAccounts: z.array(z.string()),
  /** What the invocation did, in a few words (for the bench's log). */
  summary: z.string(),
});
export type HourResult = z.infer<typeof hourResultSchema>;
