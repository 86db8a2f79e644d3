// What a rule's timer does: process the rule's due windows up to now minus the ingestion
// delay (at most maxWindows of them, and none begun after RUN_BUDGET_MS; a longer backlog
// resumes in the next invocation), under the rule's lease, and record the rule's health.
import { alignDown } from "../model/time.js";
import { ruleById } from "../rules/index.js";
import { frequencyOf, type Rule } from "../rules/rule.js";
import { TableMissing, type Fetched } from "../model/rows.js";
import type { LogSource, Stores } from "./ports.js";
import { LeaseHeld, StateConflict, type RuleHealth } from "../model/rule-state.js";
import { runRule, type EngineDeps, type WindowReport } from "./run.js";
import { errorText, runRuleWithTelemetry, type RunLogger } from "./telemetry.js";

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
}

/**
 * How long an invocation keeps beginning windows. A catch-up run stops between windows once
 * this has passed; the window in flight then has the rest of host.json's functionTimeout
 * (30 min) to finish, more than one Log Analytics query's worst case (test/infra/timeout.test.ts).
 */
export const RUN_BUDGET_MS = 15 * 60_000;

export type ScheduledOutcome =
  | { status: "ok"; reports: WindowReport[]; health: RuleHealth }
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
 * Runs one rule as its timer does. A failed window is recorded in the rule's health and
 * rethrown (its checkpoint did not move, so the next invocation retries it).
 */
export async function runScheduled(ruleId: string, deps: ScheduledDeps): Promise<ScheduledOutcome> {
  const rule = ruleById(ruleId);
  if (!rule) throw new Error(`no rule with id ${ruleId}`);
  const reason = await disabledReason(ruleId, deps);
  if (reason) return { status: "disabled", reason };
  const started = deps.now();
  const until = started - deps.ingestionDelayMs;
  const frequency = frequencyOf(rule);
  // A rule that never ran starts with the last complete window.
  const startAt = alignDown(until, frequency) - frequency;
  const options = { startAt, until, maxWindows: deps.maxWindows, deadline: started + RUN_BUDGET_MS };
  // Rows read are counted at the source, so a run that fails part-way still reports them.
  const counter = { rows: 0, rejected: 0, heldBack: 0 };
  const onWindow = (report: WindowReport) => void (counter.heldBack += report.heldBack);
  const source = counting(deps.source, counter);
  const before = (await deps.stores.ruleState.get(ruleId))?.windowEnd ?? null;
  let reports: WindowReport[] = [];
  try {
    reports = deps.logger
      ? await runRuleWithTelemetry(rule, { ...deps, source }, options, deps.logger, undefined, onWindow)
      : await runRule(rule, { ...deps, source }, options, onWindow);
  } catch (error) {
    if (error instanceof LeaseHeld || error instanceof StateConflict) return { status: "busy", reason: error.message };
    if (error instanceof TableMissing) {
      const newly = (await deps.stores.ruleState.health(ruleId))?.tableMissing !== error.table;
      return { status: "table-missing", table: error.table, newly, health: await recordHealth(rule, deps, until, started, before, counter, null, error.table) };
    }
    await recordHealth(rule, deps, until, started, before, counter, error);
    throw error;
  }
  return { status: "ok", reports, health: await recordHealth(rule, deps, until, started, before, counter, null) };
}

/** Why a rule is switched off (the setting first, then an admin's API change), or null when it runs. */
export async function disabledReason(ruleId: string, deps: Pick<ScheduledDeps, "disabledRules" | "stores">): Promise<string | null> {
  if (deps.disabledRules?.has(ruleId)) return "switched off by the TOKENWATCH_DISABLED_RULES setting";
  const setting = await deps.stores.ruleState.setting(ruleId);
  return setting && !setting.enabled ? `switched off by ${setting.changedBy.name} at ${new Date(setting.changedAt).toISOString()}: ${setting.reason}` : null;
}

/** The source, counting the rows it returns and rejects. */
function counting(source: LogSource, counter: { rows: number; rejected: number; heldBack: number }): LogSource {
  const add = <R>(fetched: Fetched<R>) => ((counter.rows += fetched.rows.length + fetched.rejected.length), (counter.rejected += fetched.rejected.length), fetched);
  return {
    rows: async (spec, kql, label) => add(await source.rows(spec, kql, label)),
    sightings: async (spec, kql, label) => add(await source.sightings(spec, kql, label)),
    earliest: (spec, kql, label) => source.earliest(spec, kql, label),
  };
}

async function recordHealth(
  rule: Rule,
  deps: ScheduledDeps,
  until: number,
  started: number,
  before: number | null,
  counter: { rows: number; rejected: number; heldBack: number },
  error: unknown,
  tableMissing: string | null = null,
): Promise<RuleHealth> {
  const { ruleState } = deps.stores;
  const [state, previous] = await Promise.all([ruleState.get(rule.meta.id), ruleState.health(rule.meta.id)]);
  const frequency = frequencyOf(rule);
  const windowEnd = state?.windowEnd ?? null;
  const windowsUpTo = (t: number) => alignDown(t, frequency) / frequency;
  const now = deps.now();
  const health: RuleHealth = {
    ruleId: rule.meta.id,
    lastSuccessfulWindowEnd: windowEnd,
    windowsBehind: windowEnd === null ? 0 : Math.max(0, windowsUpTo(until) - windowsUpTo(windowEnd)),
    rowsRead: counter.rows,
    rowsRejected: counter.rejected,
    eventsHeldBack: counter.heldBack,
    // Windows are aligned to the frequency, so the checkpoint's move counts them.
    windowsProcessed: state ? Math.max(0, windowsUpTo(state.windowEnd) - windowsUpTo(before ?? state.firstWindowStart)) : 0,
    durationMs: now - started,
    lastRunAt: now,
    failing: error !== null,
    lastError: error === null ? (previous?.lastError ?? null) : errorText(error),
    lastErrorAt: error === null ? (previous?.lastErrorAt ?? null) : now,
    tableMissing,
  };
  await ruleState.recordHealth(health);
  return health;
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
