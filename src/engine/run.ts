// Running a rule: plan its windows from the checkpoint, and for each window fetch, evaluate,
// store alerts and incidents, update the baseline, and only then move the checkpoint.
import { randomUUID } from "node:crypto";
import { alignDown, type DateTime, DEFAULT_MAX_LATENESS_MS, fromMs, planWindows, type TimeRange, type Window } from "../model/time.js";
import { frequencyOf, parseDuration, type BaselineView, type Results, type Rule, type RuleContext, type Specs } from "../rules/rule.js";
import type { QuerySpec } from "../model/query.js";
import { mergeSightings, type Rejection, type SignInSighting } from "../model/rows.js";
import type { LogSource, RunStores } from "./ports.js";
import { holdLease } from "./lease.js";
import type { RuleState } from "../model/rule-state.js";
import { allowlistsAt } from "./allowlists.js";
import { type AllowlistEntry } from "../model/allowlists.js";
import { alertFromDraft, type Alert, type Incident } from "./incidents.js";

export interface EngineDeps {
  source: LogSource;
  stores: RunStores;
  /** Wall-clock time for createdAt/updatedAt stamps. */
  now: () => number;
  /** How late a row may arrive and still be looked for (TOKENWATCH_MAX_LATENESS_HOURS); default 7 days. */
  maxLatenessMs?: number;
}

export interface RunOptions {
  /** Where a rule that never ran begins: its first window starts here (aligned down). */
  startAt: number;
  /** Process every window that ends at or before this. */
  until: number;
  /** At most this many windows in this invocation; the next one resumes (catch-up after downtime). */
  maxWindows?: number;
  /** No window after the first begins at or after this time (the invocation's budget); the next invocation resumes. */
  deadline?: number;
  /** Triggering events must have TimeGenerated here (replay's [--from, --to)); default: any. */
  eventRange?: TimeRange;
  /** The lease this run holds on the rule: who it is, how long a claim lasts unrenewed, how often it is renewed. */
  lease?: { owner?: string; ttlMs?: number; renewMs?: number };
}


export interface WindowReport {
  ruleId: string;
  window: Window;
  rowsFetched: number;
  rejected: Rejection[];
  alerts: Alert[];
  incidents: Incident[];
  baselineEstablished: boolean | null;
  /** Events the rule could not judge yet (see Rule.heldBack): counted, not alerted. */
  heldBack: number;
}

/** How far back a new deployment looks for any baseline data at all (Sentinel workspaces keep 90 days). */
const HISTORY_LOOKBACK_MS = 90 * 86_400_000;
/** Baseline bootstrap is summarized a day at a time: each query stays small. */
const BOOTSTRAP_CHUNK_MS = 86_400_000;

/** Runs a rule's due windows, oldest first; a failure stops at that window with its checkpoint unchanged. */
export async function runRule(rule: Rule, deps: EngineDeps, options: RunOptions, onWindow?: (report: WindowReport) => void): Promise<WindowReport[]> {
  const { stores } = deps;
  const id = rule.meta.id;
  const owner = options.lease?.owner ?? randomUUID();
  if (!(await stores.ruleState.get(id))) await initialize(rule, deps, alignDown(options.startAt, frequencyOf(rule)));
  // Two invocations of one rule never process windows at once: the loser throws LeaseHeld.
  const lease = await holdLease(stores.ruleState, id, owner, deps.now, options.lease?.ttlMs, options.lease?.renewMs);
  try {
    const state = () => lease.state;
    const windows = planWindows(frequencyOf(rule), state().windowEnd, options.until, options.maxWindows);
    if (windows.length === 0) return [];
    const allowlists = await stores.allowlists.all();
    const reports: WindowReport[] = [];
    const maxLatenessMs = deps.maxLatenessMs ?? DEFAULT_MAX_LATENESS_MS;
    for (const planned of windows) {
      if (options.deadline !== undefined && reports.length > 0 && deps.now() >= options.deadline) break;
      const window = { ...planned, maxLatenessMs };
      const { report, dataSince } = await runWindow(rule, window, state(), allowlists, deps, options.eventRange);
      // Moving the checkpoint renews the lease; the ETag makes it fail if the lease was lost.
      await lease.advance({ windowEnd: planned.end, dataSince });
      reports.push(report);
      onWindow?.(report);
    }
    return reports;
  } finally {
    await lease.release(); // else it expires on its own
  }
}

/**
 * A rule's first run: its checkpoint starts at `firstWindowStart`; a rule with a baseline
 * learns from the history before it (the same bootstrap for a deployment and a replay).
 */
async function initialize(rule: Rule, deps: EngineDeps, firstWindowStart: number): Promise<RuleState> {
  let dataSince: DateTime | null = null;
  if (rule.baseline) {
    const { table, sightingsKql, earliestKql } = rule.baseline;
    const period = baselinePeriodOf(rule);
    // Queried a day at a time (each answer stays small), written once: one transaction per
    // bucket rather than one per bucket and day.
    const merged = new Map<string, SignInSighting>();
    for (let from = firstWindowStart - period; from < firstWindowStart; from += BOOTSTRAP_CHUNK_MS) {
      const spec: QuerySpec = { table, arrived: { to: firstWindowStart }, time: { from, to: Math.min(from + BOOTSTRAP_CHUNK_MS, firstWindowStart) } };
      const { rows } = await deps.source.sightings(spec, sightingsKql(spec), `${rule.meta.id}/bootstrap`);
      mergeSightings(merged, rows);
    }
    await deps.stores.baselines.record(merged.values());
    const historySpec: QuerySpec = { table, arrived: { to: firstWindowStart }, time: { from: firstWindowStart - HISTORY_LOOKBACK_MS, to: firstWindowStart } };
    dataSince = await deps.source.earliest(historySpec, earliestKql(historySpec), `${rule.meta.id}/earliest`);
  }
  return deps.stores.ruleState.put(rule.meta.id, { windowEnd: firstWindowStart, firstWindowStart, dataSince });
}

/** A window's inputs for a rule: its first-stage queries, then the follow-up they call for. */
export async function fetchInputs(rule: Rule, window: Window, source: LogSource): Promise<{ inputs: Results<Specs>; rowsFetched: number; rejected: Rejection[] }> {
  const rejected: Rejection[] = [];
  let rowsFetched = 0;
  const fetchAll = async (specs: Specs) => {
    const entries = await Promise.all(
      Object.entries(specs).map(async ([name, spec]) => {
        const result = spec.accounts?.length === 0 ? { rows: [], rejected: [] } : await source.rows(spec, rule.kql(name, spec), `${rule.meta.id}/${name}`);
        rowsFetched += result.rows.length;
        rejected.push(...result.rejected);
        return [name, result.rows] as const;
      }),
    );
    return Object.fromEntries(entries) as Results<Specs>;
  };
  const first = await fetchAll(rule.queries(window));
  const inputs = rule.followUp ? { ...first, ...(await fetchAll(rule.followUp(window, first))) } : first;
  return { inputs, rowsFetched, rejected };
}

async function runWindow(
  rule: Rule,
  window: Window,
  state: RuleState,
  allowlists: readonly AllowlistEntry[],
  deps: EngineDeps,
  eventRange: TimeRange = { from: -Infinity, to: Infinity },
): Promise<{ report: WindowReport; dataSince: DateTime | null }> {
  const { source, stores } = deps;
  const { inputs, rowsFetched, rejected } = await fetchInputs(rule, window, source);

  const ctx: RuleContext = { window, eventRange, lists: allowlistsAt(allowlists, window.end), baselines: NO_BASELINE };
  let established: boolean | null = null;
  if (rule.baseline) {
    const period = baselinePeriodOf(rule);
    // Data since before the first window, or for at least a whole baseline period: exact ticks.
    established = state.dataSince !== null && (state.dataSince < fromMs(state.firstWindowStart) || state.dataSince <= fromMs(window.end - period));
    const known = rule.baselineAccounts ? await stores.baselines.load(rule.baselineAccounts(inputs, ctx), window.end - period) : new Map();
    ctx.baselines = { established, get: (account) => known.get(account) };
  }

  const alerts = rule.evaluate(inputs, ctx).map((draft) => alertFromDraft(rule, draft));
  const heldBack = rule.heldBack?.(inputs, ctx) ?? 0;
  const placed = await stores.incidents.place(alerts, deps.now());

  let dataSince = state.dataSince;
  if (rule.baseline) {
    // After evaluation: the window's own sign-ins are not part of its baseline (the seed's `ago(1h)` bound).
    const sightings = new Map<string, SignInSighting>();
    mergeSightings(sightings, rule.baseline.observe(inputs));
    await stores.baselines.record(sightings.values());
    for (const s of sightings.values()) if (dataSince === null || s.lastSeen < dataSince) dataSince = s.lastSeen;
    // Reclaim expired entries, one bucket per window: the whole table every BUCKETS windows.
    await stores.baselines.purge(Math.floor(window.end / frequencyOf(rule)), window.end - baselinePeriodOf(rule));
  }
  return {
    report: { ruleId: rule.meta.id, window: { start: window.start, end: window.end }, rowsFetched, rejected, alerts: placed.alerts, incidents: placed.incidents, baselineEstablished: established, heldBack },
    dataSince,
  };
}

const NO_BASELINE: BaselineView = { established: false, get: () => undefined };

function baselinePeriodOf(rule: Rule): number {
  if (!rule.meta.baselinePeriod) throw new Error(`rule ${rule.meta.id} keeps a baseline but has no baselinePeriod`);
  return parseDuration(rule.meta.baselinePeriod);
}
