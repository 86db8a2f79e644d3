// Running a rule: plan its windows from the checkpoint, and for each window fetch, evaluate,
// store alerts and incidents, update the baseline, and only then move the checkpoint.
import { randomUUID } from "node:crypto";
import { alignDown, type DateTime, DEFAULT_MAX_LATENESS_MS, fromMs, planWindows, type TimeRange, type Window } from "../model/time.js";
import { frequencyOf, parseDuration, type BaselineView, type FollowUpSpecs, type Results, type Rule, type RuleContext, type Specs } from "../rules/rule.js";
import type { QuerySpec } from "../model/query.js";
import { mergeSightings, type Rejection, type SignInSighting } from "../model/rows.js";
import type { LogSource, RunStores } from "./ports.js";
import { holdLease, type HeldLease } from "./lease.js";
import { StateConflict, type RuleState } from "../model/rule-state.js";
import { allowlistsAt } from "./allowlists.js";
import { type AllowlistEntry } from "../model/allowlists.js";
import { alertFromDraft, type Alert, type Incident } from "./incidents.js";
import { bootstrapSessions, recordSessions, sessionMemory, sessionsFor } from "./sessions.js";
import { DEFAULT_SESSION_LIFETIME_MS } from "../model/sessions.js";

export interface EngineDeps {
  source: LogSource;
  stores: RunStores;
  /** Wall-clock time for createdAt/updatedAt stamps. */
  now: () => number;
  /** How late a row may arrive and still be looked for (TOKENWATCH_MAX_LATENESS_HOURS); default 7 days. */
  maxLatenessMs?: number;
  /** How long a session's state is kept after its last use (TOKENWATCH_SESSION_LIFETIME_DAYS); default 14 days. */
  sessionLifetimeMs?: number;
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
  /** Called once this run holds the rule's lease (rules that share reads start after the first of them has it). */
  onLease?: () => void;
  /** Each window of a rule with partsBy is read and evaluated in this many parts (default one). */
  parts?: number;
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
/** Baseline bootstrap is summarized, recorded and checkpointed a day at a time: each query and each step stays small. */
const BOOTSTRAP_CHUNK_MS = 86_400_000;

/** Runs a rule's due windows, oldest first; a failure stops at that window with its checkpoint unchanged. */
export async function runRule(rule: Rule, deps: EngineDeps, options: RunOptions, onWindow?: (report: WindowReport) => void): Promise<WindowReport[]> {
  const { stores } = deps;
  const id = rule.meta.id;
  const owner = options.lease?.owner ?? randomUUID();
  if (!(await stores.ruleState.get(id))) await initialize(rule, deps, alignDown(options.startAt, frequencyOf(rule)));
  // Two invocations of one rule never process windows at once: the loser throws LeaseHeld.
  const lease = await holdLease(stores.ruleState, id, owner, deps.now, options.lease?.ttlMs, options.lease?.renewMs);
  options.onLease?.();
  try {
    if (lease.state.bootstrapUntil !== undefined && !(await bootstrap(rule, deps, lease, options.deadline))) return [];
    const state = () => lease.state;
    const windows = planWindows(frequencyOf(rule), state().windowEnd, options.until, options.maxWindows);
    if (windows.length === 0) return [];
    const allowlists = await stores.allowlists.all();
    const reports: WindowReport[] = [];
    const maxLatenessMs = deps.maxLatenessMs ?? DEFAULT_MAX_LATENESS_MS;
    for (const planned of windows) {
      if (options.deadline !== undefined && reports.length > 0 && deps.now() >= options.deadline) break;
      const window = { ...planned, maxLatenessMs, ...(options.parts && options.parts > 1 ? { parts: options.parts } : {}) };
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
 * first learns from the history before it (the same bootstrap for a deployment and a replay),
 * from `bootstrapUntil` on. Two first runs racing: one creates the state, the other uses it.
 */
async function initialize(rule: Rule, deps: EngineDeps, firstWindowStart: number): Promise<void> {
  const bootstrapUntil = rule.baseline ? { bootstrapUntil: firstWindowStart - baselinePeriodOf(rule) } : {};
  // Sessions are learnt before the state exists: a run that dies first learns them again (upserts).
  await bootstrapSessions(rule, deps.source, deps.stores.sessions, firstWindowStart, sessionLifetimeOf(deps));
  try {
    await deps.stores.ruleState.put(rule.meta.id, { windowEnd: firstWindowStart, firstWindowStart, dataSince: null, ...bootstrapUntil });
  } catch (error) {
    if (!(error instanceof StateConflict)) throw error;
  }
}

/**
 * The baseline bootstrap, streamed a day at a time: each day's summarized sightings are
 * recorded, then the rule's state notes the day done, so memory holds one day and a bootstrap
 * cut short (the invocation's budget, a failed query, a crash) resumes at the next day in the
 * next invocation. Past `deadline`, stops between days (after at least one): returns false.
 * Done, it records the earliest history the table holds and returns true.
 */
async function bootstrap(rule: Rule, deps: EngineDeps, lease: HeldLease, deadline?: number): Promise<boolean> {
  if (!rule.baseline) throw new Error(`rule ${rule.meta.id} has no baseline to bootstrap`);
  const { table, sightingsKql, earliestKql } = rule.baseline;
  const { firstWindowStart } = lease.state;
  for (let days = 0, from = lease.state.bootstrapUntil!; from < firstWindowStart; days++) {
    if (deadline !== undefined && days > 0 && deps.now() >= deadline) return false;
    const to = Math.min(from + BOOTSTRAP_CHUNK_MS, firstWindowStart);
    const spec: QuerySpec = { table, arrived: { to: firstWindowStart }, time: { from, to } };
    const { rows } = await deps.source.sightings(spec, sightingsKql(spec), `${rule.meta.id}/bootstrap`);
    await deps.stores.baselines.record(rows);
    await lease.advance({ bootstrapUntil: to });
    from = to;
  }
  const historySpec: QuerySpec = { table, arrived: { to: firstWindowStart }, time: { from: firstWindowStart - HISTORY_LOOKBACK_MS, to: firstWindowStart } };
  const dataSince = await deps.source.earliest(historySpec, earliestKql(historySpec), `${rule.meta.id}/earliest`);
  await lease.advance({ bootstrapUntil: undefined, dataSince });
  return true;
}

/**
 * A window's inputs for a rule: its first-stage queries, then the follow-up they call for
 * (each name's rows from its disjoint queries together).
 */
export async function fetchInputs(rule: Rule, window: Window, source: LogSource): Promise<{ inputs: Results<Specs>; rowsFetched: number; rejected: Rejection[] }> {
  const rejected: Rejection[] = [];
  let rowsFetched = 0;
  const fetchAll = async (specs: FollowUpSpecs) => {
    const entries = await Promise.all(
      Object.entries(specs).map(async ([name, list]) => {
        const parts: unknown[][] = [];
        for (const spec of list) {
          if (spec.accounts?.length === 0) continue;
          const result = await source.rows(spec, rule.kql(name, spec), `${rule.meta.id}/${name}`);
          rowsFetched += result.rows.length;
          rejected.push(...result.rejected);
          parts.push(result.rows);
        }
        return [name, parts.length === 1 ? parts[0]! : parts.flat()] as const;
      }),
    );
    return Object.fromEntries(entries) as Results<Specs>;
  };
  const first = await fetchAll(Object.fromEntries(Object.entries(rule.queries(window)).map(([name, spec]) => [name, [spec]])));
  const inputs = rule.followUp ? { ...first, ...(await fetchAll(rule.followUp(window, first))) } : first;
  return { inputs, rowsFetched, rejected };
}

/**
 * One window of a rule: fetch, evaluate, store alerts and incidents, update the baseline.
 * The caller moves the checkpoint. A shard's window (window.shard) reads and decides only its
 * accounts; the expiry of its baseline and sessions is left to whoever moves the checkpoint once every shard committed.
 */
export async function runWindow(
  rule: Rule,
  window: Window,
  state: RuleState,
  allowlists: readonly AllowlistEntry[],
  deps: EngineDeps,
  eventRange: TimeRange = { from: -Infinity, to: Infinity },
): Promise<{ report: WindowReport; dataSince: DateTime | null }> {
  const { source, stores } = deps;
  if (window.parts) return { report: await runInParts(rule, window, window.parts, allowlists, deps, eventRange), dataSince: state.dataSince };
  const { inputs, rowsFetched, rejected } = await fetchInputs(rule, window, source);

  const sessions = sessionMemory(await sessionsFor(rule, inputs, stores.sessions, window, sessionLifetimeOf(deps)));
  const ctx: RuleContext = { window, eventRange, lists: allowlistsAt(allowlists, window.end), baselines: NO_BASELINE, sessions };
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
  }
  await recordSessions(rule, sessions, stores.sessions);
  if (!window.shard) await reclaimExpired(rule, window, deps);
  return {
    report: { ruleId: rule.meta.id, window: { start: window.start, end: window.end }, rowsFetched, rejected, alerts: placed.alerts, incidents: placed.incidents, baselineEstablished: established, heldBack },
    dataSince,
  };
}

/**
 * A per-event rule's window read and evaluated in `parts` slices by its partsBy column, one
 * after another: only one part's rows are held at a time, and the alerts are those of the
 * whole window, since its evaluation never combines rows across values of that column.
 */
async function runInParts(rule: Rule, window: Window, parts: number, allowlists: readonly AllowlistEntry[], deps: EngineDeps, eventRange: TimeRange): Promise<WindowReport> {
  if (!rule.partsBy) throw new Error(`rule ${rule.meta.id} is not read in parts`);
  const whole = { ...window, parts: undefined };
  const ctx: RuleContext = { window: whole, eventRange, lists: allowlistsAt(allowlists, window.end), baselines: NO_BASELINE, sessions: sessionMemory(new Map()) };
  const alerts: ReturnType<typeof alertFromDraft>[] = [];
  const rejected: Rejection[] = [];
  let rowsFetched = 0;
  let heldBack = 0;
  for (let index = 0; index < parts; index++) {
    const part = await fetchInputs(rule, { ...whole, shard: { count: parts, index, column: rule.partsBy } }, deps.source);
    rowsFetched += part.rowsFetched;
    rejected.push(...part.rejected);
    for (const draft of rule.evaluate(part.inputs, ctx)) alerts.push(alertFromDraft(rule, draft));
    heldBack += rule.heldBack?.(part.inputs, ctx) ?? 0;
  }
  const placed = await deps.stores.incidents.place(alerts, deps.now());
  return { ruleId: rule.meta.id, window: { start: window.start, end: window.end }, rowsFetched, rejected, alerts: placed.alerts, incidents: placed.incidents, baselineEstablished: null, heldBack };
}

const sessionLifetimeOf = (deps: EngineDeps) => deps.sessionLifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;

const NO_BASELINE: BaselineView = { established: false, get: () => undefined };

/**
 * Reclaims one bucket of the rule's expired state, a different bucket each window (the whole
 * table every BUCKETS windows): baseline entries past the baseline period, sessions past their
 * lifetime. Once per window: by its run or, for a sharded window, by whoever moves its
 * checkpoint (slices running at once would delete the same rows, and a delete of a row
 * already gone fails the slice). Reads already ignore what is expired; this reclaims space.
 */
export async function reclaimExpired(rule: Rule, window: Pick<Window, "end">, deps: EngineDeps): Promise<void> {
  const bucket = purgedBucket(rule, window);
  if (rule.baseline) await deps.stores.baselines.purge(bucket, window.end - baselinePeriodOf(rule));
  if (rule.sessions) await deps.stores.sessions.purge(bucket, window.end - sessionLifetimeOf(deps));
}

/** The bucket whose expired entries a window removes (the repositories' purge takes it modulo the buckets). */
export function purgedBucket(rule: Rule, window: Pick<Window, "end">): number {
  return Math.floor(window.end / frequencyOf(rule));
}

function baselinePeriodOf(rule: Rule): number {
  if (!rule.meta.baselinePeriod) throw new Error(`rule ${rule.meta.id} keeps a baseline but has no baselinePeriod`);
  return parseDuration(rule.meta.baselinePeriod);
}
