// What the bench passes its measured-hour process (src/bench/hour.ts) and what it prints back.
import { z } from "zod";

export const hourArgsSchema = z.object({
  endpoint: z.url(),
  workspaceId: z.string(),
  /** PEM of the local query API's certificate. */
  certificate: z.string(),
  connectionString: z.string(),
  /** The window measured is [hourEnd - 1 h, hourEnd); the timer fires `delayMs` after it. */
  hourEnd: z.number().int(),
  delayMs: z.number().int(),
  /** Rules to run (per-user rules only for a shard of a sharded tenant). */
  ruleIds: z.array(z.string()).min(1),
});
export type HourArgs = z.infer<typeof hourArgsSchema>;

export const hourResultSchema = z.object({
  /** Wall time of the rules' runs, waits on the query API and Azurite included. */
  seconds: z.number(),
  /** CPU (user + system) of this process during the runs. */
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
  alertedAccounts: z.number().int(),
});
export type HourResult = z.infer<typeof hourResultSchema>;
