// A rule's health (RuleHealth in model/rule-state.ts) as its last run left it: the timer's
// run, or the shard invocation that finished a sharded window (its last shard to commit).
import { alignDown } from "../model/time.js";
import type { RuleHealth } from "../model/rule-state.js";
import { frequencyOf, type Rule } from "../rules/rule.js";
import type { Stores } from "./ports.js";
import { errorText } from "./telemetry.js";

/** What a run read: rows returned and rejected by validation, and events held back. */
export interface RunCounts {
  rows: number;
  rejected: number;
  heldBack: number;
}

export interface HealthDeps {
  stores: Pick<Stores, "ruleState">;
  now: () => number;
}

/**
 * One run's health: windows it completed (the checkpoint's move from `before`), what it read,
 * and its error (null: none). `counts` null: the run only planned or waited on shards, so the
 * figures of the last completed window (whoever completed it) stay.
 */
export async function recordHealth(
  rule: Rule,
  deps: HealthDeps,
  run: { until: number; started: number; before: number | null; counts: RunCounts | null; error: unknown; tableMissing?: string | null },
): Promise<RuleHealth> {
  const { ruleState } = deps.stores;
  const [state, previous] = await Promise.all([ruleState.get(rule.meta.id), ruleState.health(rule.meta.id)]);
  const frequency = frequencyOf(rule);
  const windowEnd = state?.windowEnd ?? null;
  const windowsUpTo = (t: number) => alignDown(t, frequency) / frequency;
  const now = deps.now();
  const { counts, error } = run;
  const figures =
    counts === null
      ? {
          rowsRead: previous?.rowsRead ?? 0,
          rowsRejected: previous?.rowsRejected ?? 0,
          eventsHeldBack: previous?.eventsHeldBack ?? 0,
          windowsProcessed: previous?.windowsProcessed ?? 0,
          durationMs: previous?.durationMs ?? 0,
        }
      : {
          rowsRead: counts.rows,
          rowsRejected: counts.rejected,
          eventsHeldBack: counts.heldBack,
          // Windows are aligned to the frequency, so the checkpoint's move counts them.
          windowsProcessed: state ? Math.max(0, windowsUpTo(state.windowEnd) - windowsUpTo(run.before ?? state.firstWindowStart)) : 0,
          durationMs: now - run.started,
        };
  const health: RuleHealth = {
    ruleId: rule.meta.id,
    lastSuccessfulWindowEnd: windowEnd,
    windowsBehind: windowEnd === null ? 0 : Math.max(0, windowsUpTo(run.until) - windowsUpTo(windowEnd)),
    ...figures,
    lastRunAt: now,
    failing: error !== null,
    lastError: error === null ? (previous?.lastError ?? null) : errorText(error),
    lastErrorAt: error === null ? (previous?.lastErrorAt ?? null) : now,
    tableMissing: run.tableMissing ?? null,
  };
  await ruleState.recordHealth(health);
  return health;
}

/** A failure outside a timer's run (a poisoned shard): failing, with its error, the rest as the last run left it. */
export async function recordFailure(rule: Rule, deps: HealthDeps, text: string): Promise<void> {
  const { ruleState } = deps.stores;
  const [previous, state] = await Promise.all([ruleState.health(rule.meta.id), ruleState.get(rule.meta.id)]);
  const now = deps.now();
  await ruleState.recordHealth({
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
  });
}
