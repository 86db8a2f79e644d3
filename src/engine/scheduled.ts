// What a rule's timer does: process the rule's due windows up to now minus the ingestion
// delay (at most maxWindows of them, and none begun after RUN_BUDGET_MS; a longer backlog
// resumes in the next invocation), under the rule's lease, and record the rule's health.
import { alignDown } from "../model/time.js";
import { ruleById, rules } from "../rules/index.js";
import { frequencyOf, type Rule } from "../rules/rule.js";
import { TableMissing, type Fetched } from "../model/rows.js";
import type { LogSource, Stores } from "./ports.js";
import { LeaseHeld, StateConflict, type RuleHealth } from "../model/rule-state.js";
import { runRule, type EngineDeps, type WindowReport } from "./run.js";
import { readGroup, shareReads } from "./shared-reads.js";
import { addFinished, sendShards, shardCount, ShardsPoisoned, stepSharded, type Sharding, type ShardedStep } from "./shards.js";
import type { ShardRecord } from "../model/shard.js";
import { runRuleWithTelemetry, type RunLogger } from "./telemetry.js";
import { recordHealth, type RunCounts } from "./health.js";

export interface ScheduledDeps extends EngineDeps {
  stores: Stores;
  /** Windows end at or before now minus this (TOKENWATCH_INGESTION_DELAY_MINUTES). */
  ingestionDelayMs: number;
  /** TOKENWATCH_MAX_WINDOWS_PER_RUN. */
  maxWindows: number;
  /** Run and window traces (the invocation's logger in Azure). */
  logger?: RunLogger;
  /** Rules switched off by setting (TOKENWATCH_DISABLED_RULES); an admin can also switch one off over the API. */
  disabledRules?: ReadonlySet<string>;
  /** Large windows of per-account rules go out as shards on a queue, and per-event rules read theirs in parts (absent: neither). */
  sharding?: Sharding;
}

/**
 * How long an invocation keeps beginning windows. A catch-up run stops between windows once
 * this has passed; the window in flight then has the rest of host.json's functionTimeout
 * (30 min) to finish, more than one Log Analytics query's worst case (test/infra/timeout.test.ts).
 */
export const RUN_BUDGET_MS = 15 * 60_000;

export type ScheduledOutcome =
  | { status: "ok"; reports: WindowReport[]; health: RuleHealth }
  /** The rule's next window is out as shards on the queue; its checkpoint moves when all have committed. */
  | { status: "sharded"; step: ShardedStep & { window: { start: number; end: number } }; health: RuleHealth }
  /** Another invocation holds the rule's lease: it does the work, this one stops. */
  | { status: "busy"; reason: string }
  /** Switched off by setting or by an admin: nothing ran, the checkpoint waits. */
  | { status: "disabled"; reason: string }
  /**
   * The workspace has no table the rule reads (its connector is not connected): recorded
   * in the rule's health, not thrown. `newly` is true on the run that first found it.
   */
  | { status: "table-missing"; table: string; newly: boolean; health: RuleHealth };

/**
 * Runs one rule as its timer does, together with the rules that share its reads (its read
 * group: the Intune rule and the pivot both read the window's non-interactive sign-ins), over
 * one source that reads each window's shared rows once. Whichever timer of the group fires,
 * the invocation that takes the lease of the group's first rule (in list order) runs them all,
 * side by side; another invocation finds that lease held and stops ("busy"). Each rule keeps
 * its own lease, checkpoint and health. A failed window of the timer's own rule is recorded in
 * its health and rethrown (its checkpoint did not move, so the next invocation retries it); a
 * group member's failure is recorded in that rule's health and reported by its own timer.
 * Sharded windows of the group that coincide go out as one message per slice (shards.ts).
 */
export async function runScheduled(ruleId: string, deps: ScheduledDeps): Promise<ScheduledOutcome> {
  const rule = ruleById(ruleId);
  if (!rule) throw new Error(`no rule with id ${ruleId}`);
  const reason = await disabledReason(ruleId, deps);
  if (reason) return { status: "disabled", reason };
  const group: Rule[] = [];
  for (const member of readGroup(rule, rules)) if (member === rule || !(await disabledReason(member.meta.id, deps))) group.push(member);
  // Shards the group's rules plan go out together: one message per slice runs the slice of every rule over one read.
  const outbox: ShardRecord[] = [];
  const flush = async () => void (deps.sharding && (await sendShards(deps.sharding.queue, outbox)));
  if (group.length === 1) {
    try {
      return await runOne(rule, deps, outbox);
    } finally {
      await flush();
    }
  }
  group.sort((a, b) => rules.indexOf(a) - rules.indexOf(b));
  const shared = { ...deps, source: shareReads(deps.source, group) };
  const [first, ...rest] = group as [Rule, ...Rule[]];
  let leased!: () => void;
  const lease = new Promise<void>((resolve) => (leased = resolve));
  const firstRun = runOne(first, shared, outbox, leased);
  // The others start once the first holds its lease, or has stopped without it.
  const stopped = await Promise.race([lease.then(() => null), firstRun.then((outcome) => outcome, () => null)]);
  const busy = stopped?.status === "busy" ? stopped : null;
  const runs = [firstRun, ...rest.map((member) => (busy ? Promise.resolve(busy) : runOne(member, shared, outbox)))];
  const outcomes = await Promise.allSettled(runs);
  await flush();
  const own = outcomes[group.indexOf(rule)]!;
  if (own.status === "rejected") throw own.reason;
  return own.value;
}

/** One rule's due windows, and its health recorded; shards it plans or sends again go to `outbox`. */
async function runOne(rule: Rule, deps: ScheduledDeps, outbox: ShardRecord[], onLease?: () => void): Promise<ScheduledOutcome> {
  const ruleId = rule.meta.id;
  const started = deps.now();
  const until = started - deps.ingestionDelayMs;
  const frequency = frequencyOf(rule);
  // A rule that never ran starts with the last complete window.
  const startAt = alignDown(until, frequency) - frequency;
  // A per-event rule whose last window read more than one invocation should hold reads its next in parts.
  const parts = rule.partsBy && deps.sharding ? shardCount((await deps.sharding.shards.lastLoad(ruleId))?.rows ?? 0, deps.sharding.rowsPerShard) : 1;
  const options = { startAt, until, maxWindows: deps.maxWindows, deadline: started + RUN_BUDGET_MS, onLease, parts };
  // Rows read are counted at the source, so a run that fails part-way still reports them.
  const counts: RunCounts = { rows: 0, rejected: 0, heldBack: 0 };
  const onWindow = (report: WindowReport) => void (counts.heldBack += report.heldBack);
  const source = counting(deps.source, counts);
  const before = (await deps.stores.ruleState.get(ruleId))?.windowEnd ?? null;
  const health = (error: unknown, tableMissing: string | null = null) => recordHealth(rule, deps, { until, started, before, counts, error, tableMissing });
  let reports: WindowReport[] = [];
  try {
    if (rule.perAccount && deps.sharding) {
      const step = await stepSharded(rule, { ...deps, sharding: deps.sharding }, until, outbox);
      for (const done of step?.finished ?? []) addFinished(counts, done);
      if (step?.window) {
        const poisoned = step.shards.filter((s) => s.status === "poisoned");
        const error = poisoned.length > 0 ? new ShardsPoisoned(poisoned) : null;
        // A run that finished no window keeps the figures of the last one finished (by its last shard).
        const figures = step.finished.length === 0 ? null : counts;
        return { status: "sharded", step: { ...step, window: step.window }, health: await recordHealth(rule, deps, { until, started, before, counts: figures, error }) };
      }
    }
    reports = deps.logger
      ? await runRuleWithTelemetry(rule, { ...deps, source }, options, deps.logger, undefined, onWindow)
      : await runRule(rule, { ...deps, source }, options, onWindow);
    // The rows a window read are what the next is expected to read: whether to shard it.
    const last = reports.at(-1);
    if ((rule.perAccount || rule.partsBy) && deps.sharding && last) await deps.sharding.shards.recordLoad(ruleId, last.window.end, last.rowsFetched);
  } catch (error) {
    if (error instanceof LeaseHeld || error instanceof StateConflict) return { status: "busy", reason: error.message };
    if (error instanceof TableMissing) {
      const newly = (await deps.stores.ruleState.health(ruleId))?.tableMissing !== error.table;
      return { status: "table-missing", table: error.table, newly, health: await health(null, error.table) };
    }
    await health(error);
    throw error;
  }
  return { status: "ok", reports, health: await health(null) };
}

/** Why a rule is switched off (the setting first, then an admin's API change), or null when it runs. */
export async function disabledReason(ruleId: string, deps: Pick<ScheduledDeps, "disabledRules" | "stores">): Promise<string | null> {
  if (deps.disabledRules?.has(ruleId)) return "switched off by the TOKENWATCH_DISABLED_RULES setting";
  const setting = await deps.stores.ruleState.setting(ruleId);
  return setting && !setting.enabled ? `switched off by ${setting.changedBy.name} at ${new Date(setting.changedAt).toISOString()}: ${setting.reason}` : null;
}

/** The source, counting the rows it returns and rejects. */
function counting(source: LogSource, counts: RunCounts): LogSource {
  const add = <R>(fetched: Fetched<R>) => ((counts.rows += fetched.rows.length + fetched.rejected.length), (counts.rejected += fetched.rejected.length), fetched);
  return {
    rows: async (spec, kql, label) => add(await source.rows(spec, kql, label)),
    sightings: async (spec, kql, label) => add(await source.sightings(spec, kql, label)),
    earliest: (spec, kql, label) => source.earliest(spec, kql, label),
  };
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The timer of a rule: its function name and an NCRONTAB schedule (second minute hour day
 * month weekday) that fires once per queryFrequency, `delayMinutes` after each period
 * boundary. A frequency that does not divide the hour or the day fires on the largest
 * cadence that does: firing more often is harmless, the planner only runs windows that are due.
 */
export function timerFor(rule: Rule, delayMinutes: number): { name: string; schedule: string } {
  const name = `detect-${rule.meta.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "")}`.slice(0, 100);
  const minutes = Math.round(frequencyOf(rule) / 60_000);
  let schedule: string;
  if (minutes < 60 || minutes % 60 !== 0) {
    const step = gcd(minutes, 60);
    schedule = step === 60 ? `0 ${delayMinutes % 60} * * * *` : `0 ${delayMinutes % step}/${step} * * * *`;
  } else if (minutes < 1440 || minutes % 1440 !== 0) {
    const step = gcd(minutes / 60, 24);
    const hourOffset = Math.floor(delayMinutes / 60) % step;
    schedule = step === 1 ? `0 ${delayMinutes % 60} * * * *` : `0 ${delayMinutes % 60} ${hourOffset}/${step} * * *`;
  } else {
    schedule = `0 ${delayMinutes % 60} ${Math.floor(delayMinutes / 60) % 24} * * *`;
  }
  return { name, schedule };
}
