// Sharded windows: when a per-account rule's window is expected to hold more rows than one
// invocation should (TOKENWATCH_SHARD_ROWS, from the rows its read group's previous window
// read), the timer splits the window by account hash into N shards and records them in the
// Shards table. The rules that share reads (shared-reads.ts) split a common window alike, so
// one queue message carries one slice of all of them: a queue-triggered invocation runs the
// slice of each over one read of its rows (the queries carry the slice's hash filter, so it
// holds only its accounts' rows). Each rule's shard keeps its own record. The window's
// checkpoint moves once every shard has committed, by the last shard to commit or else by the
// timer's next run. A redelivered shard that already committed does nothing; one that crashed
// runs again and rewrites the same alerts (their ids are deterministic). A shard that fails on
// its last delivery is recorded as poisoned and reported in the rule's health; the timer's
// next run sends it again, as it retries a failed unsharded window.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { AllowlistEntry } from "../model/allowlists.js";
import { LeaseHeld, StateConflict, type RuleState } from "../model/rule-state.js";
import type { Shard, ShardRecord } from "../model/shard.js";
import { planWindows, type DateTime, type Window } from "../model/time.js";
import { ruleById, rules } from "../rules/index.js";
import { frequencyOf, type Rule } from "../rules/rule.js";
import { recordFailure, recordHealth, type RunCounts } from "./health.js";
import { holdLease, type HeldLease } from "./lease.js";
import type { ShardPort, Stores } from "./ports.js";
import { reclaimExpired, runWindow, type EngineDeps, type WindowReport } from "./run.js";
import { readGroup, shareReads } from "./shared-reads.js";
import { emit, errorText, failedWindowRecord, windowRecord, type RunLogger } from "./telemetry.js";

/**
 * The most shards one window is split into (a power of two: see Shard in model/shard.ts): 512
 * slices of TOKENWATCH_SHARD_ROWS hold about 5 million rows an hour. A plan of more than
 * 100 shards takes several transactions; one cut short is completed by the next timer.
 */
export const MAX_SHARDS = 512;
/** Deliveries of a shard's message before it is poisoned: host.json's extensions.queues.maxDequeueCount. */
export const SHARD_MAX_DEQUEUE = 5;
/** The queue the timers send shards to and the shard function is triggered by. */
export const SHARD_QUEUE = "tokenwatch-shards";
/** A pending shard whose message is older than this is sent again (its message was lost): host.json's functionTimeout. */
export const SHARD_RESEND_MS = 30 * 60_000;

const powerOfTwo = (n: number) => (n & (n - 1)) === 0;

/** One queue message: one slice of the window of one or more rules that share their reads. */
export const ShardMessage = z.preprocess(
  // The previous release's messages name one rule.
  (m) => (m && typeof m === "object" && "ruleId" in m && !("ruleIds" in m) ? (({ ruleId, ...rest }) => ({ ...rest, ruleIds: [ruleId] }))(m) : m),
  z
  .strictObject({
    ruleIds: z
      .array(z.string().min(1))
      .min(1)
      .max(16)
      .refine((ids) => new Set(ids).size === ids.length, "rule ids must be distinct"),
    windowStart: z.number().int(),
    windowEnd: z.number().int(),
    count: z.number().int().min(2).max(MAX_SHARDS).refine(powerOfTwo, "a power of two"),
    index: z.number().int().min(0),
  })
  .refine((m) => m.index < m.count, { message: "index must be below count", path: ["index"] })
  .refine((m) => m.windowStart < m.windowEnd, { message: "windowStart must be before windowEnd", path: ["windowStart"] }),
);
export type ShardMessage = z.infer<typeof ShardMessage>;

/** Where shard messages go: a Storage Queue (store/queue.ts). */
export interface ShardQueue {
  send(messages: readonly ShardMessage[]): Promise<void>;
}

export interface Sharding {
  queue: ShardQueue;
  shards: ShardPort;
  /** A window expected to read more rows than this is sharded, or read in parts (TOKENWATCH_SHARD_ROWS). */
  rowsPerShard: number;
  /** Tests shorten the resend delay; default SHARD_RESEND_MS. */
  resendAfterMs?: number;
}

export interface ShardDeps extends EngineDeps {
  stores: Stores;
  sharding: Sharding;
  /** Windows end at or before now minus this. */
  ingestionDelayMs: number;
  /** Each delivery's window record (telemetry.ts), as a timer's run writes one per window: the invocation's logger in Azure. */
  logger?: RunLogger;
}

/**
 * How many shards a window expected to read `expectedRows` needs: 1 (unsharded) up to
 * `rowsPerShard`, else the smallest power of two that brings each shard to at most
 * `rowsPerShard` rows (by an even hash), at most `maxShards`.
 */
export function shardCount(expectedRows: number, rowsPerShard: number, maxShards = MAX_SHARDS): number {
  let n = 1;
  while (n * rowsPerShard < expectedRows && n < maxShards) n *= 2;
  return n;
}

/**
 * Sends shards as messages: the same slice of one window of several rules (a read group's
 * plan) is one message, so that one invocation runs them over one read.
 */
export async function sendShards(queue: ShardQueue, shards: readonly ShardRecord[]): Promise<void> {
  const messages = new Map<string, ShardMessage>();
  for (const s of shards) {
    const key = `${s.windowStart}/${s.windowEnd}/${s.count}/${s.index}`;
    const message = messages.get(key);
    if (message) message.ruleIds.push(s.ruleId);
    else messages.set(key, { ruleIds: [s.ruleId], windowStart: s.windowStart, windowEnd: s.windowEnd, count: s.count, index: s.index });
  }
  if (messages.size > 0) await queue.send([...messages.values()]);
}

/** The rules whose sharded windows go out together with `rule`'s: its read group's per-account rules. */
const shardGroup = (rule: Rule) => readGroup(rule, rules).filter((r) => r.perAccount);

/** What the sharded path did in one timer run. */
export interface ShardedStep {
  /** The window whose shards are out (null: every sharded window finished and the next is small). */
  window: { start: number; end: number } | null;
  /** Its shards as they stood before any was sent again. */
  shards: ShardRecord[];
  /** Shards sent in this run (a new plan, poisoned ones, or ones whose message was lost). */
  sent: number;
  /** Sharded windows whose checkpoint this run moved, with the rows and held-back events their shards reported. */
  finished: Finished[];
}

/** A sharded window whose checkpoint moved: the rows, rejected rows and held-back events its shards reported. */
export interface Finished {
  end: number;
  rows: number;
  rejected: number;
  heldBack: number;
}

/** Adds finished windows' counts to a run's. */
export const addFinished = (counts: RunCounts, done: Finished) => ((counts.rows += done.rows + done.rejected), (counts.rejected += done.rejected), (counts.heldBack += done.heldBack));

/**
 * The timer's sharded step for a per-account rule, under the rule's lease: moves the checkpoint
 * over sharded windows whose shards all committed, then either leaves the open window to its
 * shards (sending again those poisoned or lost), or plans the next due window as shards when
 * the previous window of its read group read more than the bound. Shards to send go to
 * `outbox` (the caller sends the group's together: sendShards). Returns null when the rule has
 * no checkpoint yet, or nothing is sharded and the next window is small: then the timer runs it
 * as usual. Throws LeaseHeld when another invocation holds the rule.
 */
export async function stepSharded(rule: Rule, deps: ShardDeps, until: number, outbox: ShardRecord[]): Promise<ShardedStep | null> {
  const id = rule.meta.id;
  if (!(await deps.stores.ruleState.get(id))) return null;
  const { shards } = deps.sharding;
  const lease = await holdLease(deps.stores.ruleState, id, randomUUID(), deps.now);
  const finished: ShardedStep["finished"] = [];
  try {
    for (;;) {
      const checkpoint = lease.state.windowEnd;
      const open = await shards.window(id, checkpoint);
      // A plan cut short between its transactions (a crash) is completed before anything else.
      const missing = unplanned(open, deps.now());
      if (missing.length > 0) {
        if (await shards.plan(missing)) outbox.push(...missing);
        continue;
      }
      if (open.length > 0 && open.every((s) => s.status === "committed")) {
        finished.push(await finish(rule, deps, lease, open));
        continue;
      }
      if (open.length > 0) {
        const now = deps.now();
        const due = open.filter((s) => s.status === "poisoned" || (s.status === "pending" && now - s.enqueuedAt >= (deps.sharding.resendAfterMs ?? SHARD_RESEND_MS)));
        const resent: ShardRecord[] = [];
        for (const s of due) {
          const changed = await shards.change(id, s.windowEnd, s.index, (c) => (c.status === "committed" ? null : { ...c, status: "pending", enqueuedAt: now }));
          if (changed && changed.status === "pending") resent.push(changed);
        }
        outbox.push(...resent);
        return { window: { start: open[0]!.windowStart, end: open[0]!.windowEnd }, shards: open, sent: resent.length, finished };
      }
      const [next] = planWindows(frequencyOf(rule), checkpoint, until, 1);
      // One count for the group (the largest of its loads), so that its shards of a window coincide.
      const loads = next ? await Promise.all(shardGroup(rule).map((r) => shards.lastLoad(r.meta.id))) : [];
      const count = shardCount(Math.max(0, ...loads.map((load) => load?.rows ?? 0)), deps.sharding.rowsPerShard);
      if (!next || count === 1) return finished.length > 0 ? { window: null, shards: [], sent: 0, finished } : null;
      const now = deps.now();
      const planned = Array.from({ length: count }, (_, index) => pendingShard(id, next, count, index, now));
      // Recorded before sent: a message is never about a shard the table does not know.
      if (!(await shards.plan(planned))) continue; // planned meanwhile: read it
      outbox.push(...planned);
      return { window: { start: next.start, end: next.end }, shards: planned, sent: count, finished };
    }
  } finally {
    await lease.release();
  }
}

/** A shard as planned: pending, sent at `now`, nothing recorded yet. */
function pendingShard(ruleId: string, window: { start: number; end: number }, count: number, index: number, now: number): ShardRecord {
  return { ruleId, windowStart: window.start, windowEnd: window.end, count, index, status: "pending", enqueuedAt: now, rows: 0, rejected: 0, alerts: 0, heldBack: 0, dataSince: null, deliveries: 0, error: null };
}

/** The shards of a window's plan that were never recorded (its transactions cut short), as planned now. */
function unplanned(open: readonly ShardRecord[], now: number): ShardRecord[] {
  const first = open[0];
  if (!first || open.length === first.count) return [];
  const recorded = new Set(open.map((s) => s.index));
  const missing: ShardRecord[] = [];
  for (let index = 0; index < first.count; index++)
    if (!recorded.has(index)) missing.push(pendingShard(first.ruleId, { start: first.windowStart, end: first.windowEnd }, first.count, index, now));
  return missing;
}

/** Every shard committed: expire the baseline and a bucket of sessions once for the window, move the checkpoint, record the window's rows, drop its shard rows. */
async function finish(rule: Rule, deps: ShardDeps, lease: HeldLease, done: readonly ShardRecord[]): Promise<Finished> {
  const window = { start: done[0]!.windowStart, end: done[0]!.windowEnd };
  let dataSince: DateTime | null = lease.state.dataSince;
  for (const s of done) if (s.dataSince !== null && (dataSince === null || s.dataSince < dataSince)) dataSince = s.dataSince;
  await reclaimExpired(rule, window, deps);
  await lease.advance({ windowEnd: window.end, dataSince });
  const sum = (f: (s: ShardRecord) => number) => done.reduce((n, s) => n + f(s), 0);
  const rows = sum((s) => s.rows);
  await deps.sharding.shards.recordLoad(rule.meta.id, window.end, rows);
  await deps.sharding.shards.clear(rule.meta.id, window.end);
  return { end: window.end, rows, rejected: sum((s) => s.rejected), heldBack: sum((s) => s.heldBack) };
}

export type ShardOutcome =
  /** Every rule of the message that had its slice to do committed it (at least one did). */
  | { status: "committed"; reports: WindowReport[] }
  /** Nothing to do for any of its rules: committed by an earlier delivery, or the window finished or was never planned. */
  | { status: "skipped"; reason: string }
  /** Some rule's slice failed on the last delivery: recorded, and reported in that rule's health; `reports` are the rules that committed. */
  | { status: "poisoned"; error: string; reports: WindowReport[] };

/**
 * What the queue trigger does with one delivery of a shard message: the slice of each of its
 * rules still to do, side by side over one read of the slice's rows. A rule's slice that
 * committed before (a redelivery) is skipped. Throws when a slice failed and deliveries remain
 * (the queue delivers the message again, and the slices that committed are skipped then); on
 * the last delivery (`dequeueCount` reaching SHARD_MAX_DEQUEUE) the failures are recorded instead.
 */
export async function runShard(body: unknown, dequeueCount: number, deps: ShardDeps): Promise<ShardOutcome> {
  const parsed = ShardMessage.safeParse(body);
  if (!parsed.success) return { status: "skipped", reason: `not a shard message: ${z.prettifyError(parsed.error)}` };
  const msg = parsed.data;
  const started = deps.now();
  const due: { rule: Rule; state: RuleState }[] = [];
  const skipped: string[] = [];
  for (const ruleId of msg.ruleIds) {
    const reason = await whyNotDue(ruleId, msg, deps);
    if (typeof reason === "string") skipped.push(`${ruleId}: ${reason}`);
    else due.push(reason);
  }
  if (due.length === 0) return { status: "skipped", reason: skipped.join("; ") };
  const shard = { count: msg.count, index: msg.index };
  const window: Window & { shard: Shard } = { start: msg.windowStart, end: msg.windowEnd, shard, ...(deps.maxLatenessMs ? { maxLatenessMs: deps.maxLatenessMs } : {}) };
  const source = shareReads(deps.source, due.map((d) => d.rule));
  const allowlists = await deps.stores.allowlists.all();
  const runs = await Promise.allSettled(due.map(({ rule, state }) => runSlice(rule, state, window, allowlists, { ...deps, source })));
  const reports: WindowReport[] = [];
  const committed: Rule[] = [];
  const failed: { rule: Rule; error: unknown }[] = [];
  runs.forEach((run, i) => {
    const { rule } = due[i]!;
    if (run.status === "fulfilled") reports.push(run.value), committed.push(rule);
    else failed.push({ rule, error: run.reason });
  });
  // The last slice of a rule's window to commit moves its checkpoint (and plans the next window when it is due and large).
  const outbox: ShardRecord[] = [];
  for (const rule of committed) {
    if (!(await deps.sharding.shards.window(rule.meta.id, msg.windowStart)).every((s) => s.status === "committed")) continue;
    try {
      const until = deps.now() - deps.ingestionDelayMs;
      const step = await stepSharded(rule, deps, until, outbox);
      // The rule's health counts the windows this invocation finished, as a timer's run that finished them would.
      if (step && step.finished.length > 0) {
        const counts: RunCounts = { rows: 0, rejected: 0, heldBack: 0 };
        for (const done of step.finished) addFinished(counts, done);
        await recordHealth(rule, deps, { until, started, before: msg.windowStart, counts, error: null });
      }
    } catch (error) {
      if (!(error instanceof LeaseHeld || error instanceof StateConflict)) throw error; // else the timer's next run does it
    }
  }
  await sendShards(deps.sharding.queue, outbox);
  if (failed.length === 0) return { status: "committed", reports };
  if (dequeueCount < SHARD_MAX_DEQUEUE) throw failed[0]!.error;
  const texts: string[] = [];
  for (const { rule, error } of failed) {
    const text = `shard ${msg.index + 1} of ${msg.count} of window ${new Date(msg.windowStart).toISOString()}..${new Date(msg.windowEnd).toISOString()} poisoned after ${dequeueCount} deliveries: ${errorText(error)}`;
    await deps.sharding.shards.change(rule.meta.id, msg.windowEnd, msg.index, (c) => (c.status === "committed" ? null : { ...c, status: "poisoned", deliveries: dequeueCount, error: errorText(error) }));
    await recordFailure(rule, deps, text);
    texts.push(`${rule.meta.name}: ${text}`);
  }
  return { status: "poisoned", error: texts.join("; "), reports };
}

/** A rule's slice of the message's window to run now, or why not. */
async function whyNotDue(ruleId: string, msg: ShardMessage, deps: ShardDeps): Promise<{ rule: Rule; state: RuleState } | string> {
  const rule = ruleById(ruleId);
  if (!rule?.perAccount) return "no per-account rule with this id";
  const record = await deps.sharding.shards.get(ruleId, msg.windowEnd, msg.index);
  if (!record) return "its window is finished, or was never planned";
  if (record.status === "committed") return "committed by an earlier delivery";
  const state = await deps.stores.ruleState.get(ruleId);
  if (!state || state.windowEnd !== msg.windowStart) return "its window is not the rule's next";
  return { rule, state };
}

/** One rule's slice: its window over the slice's accounts, committed in its shard record, with its window record. */
async function runSlice(rule: Rule, state: RuleState, window: Window & { shard: Shard }, allowlists: readonly AllowlistEntry[], deps: ShardDeps): Promise<WindowReport> {
  const started = performance.now();
  const { shard } = window;
  try {
    const { report, dataSince } = await runWindow(rule, window, state, allowlists, deps);
    const rejected = report.rejected.length;
    await deps.sharding.shards.change(rule.meta.id, window.end, shard.index, (c) =>
      c.status === "committed" ? null : { ...c, status: "committed", rows: report.rowsFetched, rejected, alerts: report.alerts.length, heldBack: report.heldBack, dataSince, error: null },
    );
    if (deps.logger) emit(deps.logger, windowRecord(rule, report, performance.now() - started, shard));
    return report;
  } catch (error) {
    if (deps.logger) emit(deps.logger, failedWindowRecord(rule, window, performance.now() - started, error, shard));
    throw error;
  }
}

/** Poisoned shards of a window, as the timer's health reports them. */
export class ShardsPoisoned extends Error {
  constructor(poisoned: readonly ShardRecord[]) {
    const first = poisoned[0]!;
    super(
      `${poisoned.length} of ${first.count} shards of window ${new Date(first.windowStart).toISOString()}..${new Date(first.windowEnd).toISOString()} poisoned ` +
        `(shard ${first.index + 1}: ${first.error ?? "unknown error"}); sent again`,
    );
    this.name = "ShardsPoisoned";
  }
}

