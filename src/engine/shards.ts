// Sharded windows: when a per-account rule's window is expected to hold more rows than one
// invocation should (TOKENWATCH_SHARD_ROWS, from the rows its previous window read), the timer
// splits the window by account hash into N shards, records them in the Shards table and sends
// one queue message per shard. A queue-triggered invocation processes one shard: the rule's
// queries carry the shard's hash filter, so it holds only its accounts' rows. The window's
// checkpoint moves once every shard has committed, by the last shard to commit or else by the
// timer's next run. A redelivered shard that already committed does nothing; one that crashed
// runs again and rewrites the same alerts (their ids are deterministic). A shard that fails on
// its last delivery is recorded as poisoned and reported in the rule's health; the timer's
// next run sends it again, as it retries a failed unsharded window.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { LeaseHeld, StateConflict, type RuleHealth } from "../model/rule-state.js";
import type { ShardRecord } from "../model/shard.js";
import { planWindows, type DateTime, type Window } from "../model/time.js";
import { ruleById } from "../rules/index.js";
import { frequencyOf, type Rule } from "../rules/rule.js";
import { holdLease, type HeldLease } from "./lease.js";
import type { ShardPort, Stores } from "./ports.js";
import { purgeBaselines, runWindow, type EngineDeps, type WindowReport } from "./run.js";
import { emit, errorText, failedWindowRecord, windowRecord, type RunLogger } from "./telemetry.js";

/** The most shards one window is split into (a power of two: see Shard in rules/rule.ts). */
export const MAX_SHARDS = 64;
/** Deliveries of a shard's message before it is poisoned: host.json's extensions.queues.maxDequeueCount. */
export const SHARD_MAX_DEQUEUE = 5;
/** The queue the timers send shards to and the shard function is triggered by. */
export const SHARD_QUEUE = "tokenwatch-shards";
/** A pending shard whose message is older than this is sent again (its message was lost): host.json's functionTimeout. */
export const SHARD_RESEND_MS = 30 * 60_000;

const powerOfTwo = (n: number) => (n & (n - 1)) === 0;

/** One queue message: one shard of one rule's window. */
export const ShardMessage = z
  .strictObject({
    ruleId: z.string().min(1),
    windowStart: z.number().int(),
    windowEnd: z.number().int(),
    count: z.number().int().min(2).max(MAX_SHARDS).refine(powerOfTwo, "a power of two"),
    index: z.number().int().min(0),
  })
  .refine((m) => m.index < m.count, { message: "index must be below count", path: ["index"] })
  .refine((m) => m.windowStart < m.windowEnd, { message: "windowStart must be before windowEnd", path: ["windowStart"] });
export type ShardMessage = z.infer<typeof ShardMessage>;

/** Where shard messages go: a Storage Queue (store/queue.ts). */
export interface ShardQueue {
  send(messages: readonly ShardMessage[]): Promise<void>;
}

export interface Sharding {
  queue: ShardQueue;
  shards: ShardPort;
  /** A window expected to read more rows than this is sharded (TOKENWATCH_SHARD_ROWS). */
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

const messageOf = (s: ShardRecord): ShardMessage => ({ ruleId: s.ruleId, windowStart: s.windowStart, windowEnd: s.windowEnd, count: s.count, index: s.index });

/** What the sharded path did in one timer run. */
export interface ShardedStep {
  /** The window whose shards are out (null: every sharded window finished and the next is small). */
  window: { start: number; end: number } | null;
  /** Its shards as they stood before any was sent again. */
  shards: ShardRecord[];
  /** Shards sent in this run (a new plan, poisoned ones, or ones whose message was lost). */
  sent: number;
  /** Sharded windows whose checkpoint this run moved, with the rows and held-back events their shards reported. */
  finished: { end: number; rows: number; heldBack: number }[];
}

/**
 * The timer's sharded step for a per-account rule, under the rule's lease: moves the checkpoint
 * over sharded windows whose shards all committed, then either leaves the open window to its
 * shards (sending again those poisoned or lost), or plans the next due window as shards when
 * the previous window read more than the bound. Returns null when the rule has no checkpoint
 * yet, or nothing is sharded and the next window is small: then the timer runs it as usual.
 * Throws LeaseHeld when another invocation holds the rule.
 */
export async function stepSharded(rule: Rule, deps: ShardDeps, until: number): Promise<ShardedStep | null> {
  const id = rule.meta.id;
  if (!(await deps.stores.ruleState.get(id))) return null;
  const { shards, queue } = deps.sharding;
  const lease = await holdLease(deps.stores.ruleState, id, randomUUID(), deps.now);
  const finished: ShardedStep["finished"] = [];
  try {
    for (;;) {
      const checkpoint = lease.state.windowEnd;
      const open = await shards.window(id, checkpoint);
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
        await queue.send(resent.map(messageOf));
        return { window: { start: open[0]!.windowStart, end: open[0]!.windowEnd }, shards: open, sent: resent.length, finished };
      }
      const [next] = planWindows(frequencyOf(rule), checkpoint, until, 1);
      const load = next && (await shards.lastLoad(id));
      const count = next ? shardCount(load?.rows ?? 0, deps.sharding.rowsPerShard) : 1;
      if (!next || count === 1) return finished.length > 0 ? { window: null, shards: [], sent: 0, finished } : null;
      const now = deps.now();
      const planned: ShardRecord[] = Array.from({ length: count }, (_, index) => ({
        ruleId: id,
        windowStart: next.start,
        windowEnd: next.end,
        count,
        index,
        status: "pending",
        enqueuedAt: now,
        rows: 0,
        alerts: 0,
        heldBack: 0,
        dataSince: null,
        deliveries: 0,
        error: null,
      }));
      // Recorded before sent: a message is never about a shard the table does not know.
      if (!(await shards.plan(planned))) continue; // planned meanwhile: read it
      await queue.send(planned.map(messageOf));
      return { window: { start: next.start, end: next.end }, shards: planned, sent: count, finished };
    }
  } finally {
    await lease.release();
  }
}

/** Every shard committed: expire the baseline once for the window, move the checkpoint, record the window's rows, drop its shard rows. */
async function finish(rule: Rule, deps: ShardDeps, lease: HeldLease, done: readonly ShardRecord[]): Promise<ShardedStep["finished"][number]> {
  const window = { start: done[0]!.windowStart, end: done[0]!.windowEnd };
  let dataSince: DateTime | null = lease.state.dataSince;
  for (const s of done) if (s.dataSince !== null && (dataSince === null || s.dataSince < dataSince)) dataSince = s.dataSince;
  if (rule.baseline) await purgeBaselines(rule, window, deps);
  await lease.advance({ windowEnd: window.end, dataSince });
  const rows = done.reduce((n, s) => n + s.rows, 0);
  await deps.sharding.shards.recordLoad(rule.meta.id, window.end, rows);
  await deps.sharding.shards.clear(rule.meta.id, window.end);
  return { end: window.end, rows, heldBack: done.reduce((n, s) => n + s.heldBack, 0) };
}

export type ShardOutcome =
  | { status: "committed"; report: WindowReport }
  /** Committed before (a redelivery), or its window already finished or was never planned: nothing to do. */
  | { status: "skipped"; reason: string }
  /** Failed on its last delivery: recorded, and reported in the rule's health. */
  | { status: "poisoned"; error: string };

/**
 * What the queue trigger does with one delivery of a shard message. Throws when the shard
 * failed and deliveries remain (the queue delivers it again); on the last delivery
 * (`dequeueCount` reaching SHARD_MAX_DEQUEUE) the failure is recorded instead.
 */
export async function runShard(body: unknown, dequeueCount: number, deps: ShardDeps): Promise<ShardOutcome> {
  const parsed = ShardMessage.safeParse(body);
  if (!parsed.success) return { status: "skipped", reason: `not a shard message: ${z.prettifyError(parsed.error)}` };
  const msg = parsed.data;
  const rule = ruleById(msg.ruleId);
  if (!rule?.perAccount) return { status: "skipped", reason: `no per-account rule with id ${msg.ruleId}` };
  const { shards } = deps.sharding;
  const record = await shards.get(msg.ruleId, msg.windowEnd, msg.index);
  if (!record) return { status: "skipped", reason: "its window is finished, or was never planned" };
  if (record.status === "committed") return { status: "skipped", reason: "committed by an earlier delivery" };
  const state = await deps.stores.ruleState.get(msg.ruleId);
  if (!state || state.windowEnd !== msg.windowStart) return { status: "skipped", reason: "its window is not the rule's next" };
  let report: WindowReport;
  const shard = { count: msg.count, index: msg.index };
  const window: Window = { start: msg.windowStart, end: msg.windowEnd, shard, ...(deps.maxLatenessMs ? { maxLatenessMs: deps.maxLatenessMs } : {}) };
  const started = performance.now();
  try {
    const run = await runWindow(rule, window, state, await deps.stores.allowlists.all(), deps);
    report = run.report;
    const dataSince = run.dataSince;
    await shards.change(msg.ruleId, msg.windowEnd, msg.index, (c) =>
      c.status === "committed" ? null : { ...c, status: "committed", rows: report.rowsFetched, alerts: report.alerts.length, heldBack: report.heldBack, dataSince, error: null },
    );
  } catch (error) {
    if (deps.logger) emit(deps.logger, failedWindowRecord(rule, window, performance.now() - started, error, shard));
    if (dequeueCount < SHARD_MAX_DEQUEUE) throw error;
    const text = `shard ${msg.index + 1} of ${msg.count} of window ${new Date(msg.windowStart).toISOString()}..${new Date(msg.windowEnd).toISOString()} poisoned after ${dequeueCount} deliveries: ${errorText(error)}`;
    await shards.change(msg.ruleId, msg.windowEnd, msg.index, (c) => (c.status === "committed" ? null : { ...c, status: "poisoned", deliveries: dequeueCount, error: errorText(error) }));
    await reportPoisoned(rule, deps, text);
    return { status: "poisoned", error: text };
  }
  if (deps.logger) emit(deps.logger, windowRecord(rule, report, performance.now() - started, shard));
  // The last shard to commit moves the checkpoint (and plans the next window when it is due and large).
  if ((await shards.window(msg.ruleId, msg.windowStart)).every((s) => s.status === "committed")) {
    try {
      await stepSharded(rule, deps, deps.now() - deps.ingestionDelayMs);
    } catch (error) {
      if (!(error instanceof LeaseHeld || error instanceof StateConflict)) throw error; // else the timer's next run does it
    }
  }
  return { status: "committed", report };
}

/** A poisoned shard in the rule's health: failing, with the shard and its error, until the timer's next run reports again. */
async function reportPoisoned(rule: Rule, deps: ShardDeps, text: string): Promise<void> {
  const { ruleState } = deps.stores;
  const [previous, state] = await Promise.all([ruleState.health(rule.meta.id), ruleState.get(rule.meta.id)]);
  const now = deps.now();
  const health: RuleHealth = {
    ruleId: rule.meta.id,
    lastSuccessfulWindowEnd: state?.windowEnd ?? null,
    windowsBehind: previous?.windowsBehind ?? 0,
    rowsRead: previous?.rowsRead ?? 0,
    rowsRejected: previous?.rowsRejected ?? 0,
    eventsHeldBack: previous?.eventsHeldBack ?? 0,
    windowsProcessed: previous?.windowsProcessed ?? 0,
    durationMs: previous?.durationMs ?? 0,
    lastRunAt: previous?.lastRunAt ?? now,
    failing: true,
    lastError: text,
    lastErrorAt: now,
    tableMissing: previous?.tableMissing ?? null,
  };
  await ruleState.recordHealth(health);
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

