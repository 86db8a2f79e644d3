// Structured run telemetry: one log line per rule window and one per rule run, as a single
// JSON object, written through the logger the caller passes (the Functions
// InvocationContext in Azure: its lines become Application Insights `traces`, with the
// function name and invocation id in customDimensions). The JSON is the message, so KQL
// reads the fields with parse_json(message); docs/deploy.md has the queries.
// No Functions import here: anything with info() and error() is a logger.
import { frequencyOf, type Rule } from "../rules/rule.js";
import type { Shard } from "../model/shard.js";
import { planWindows, type Window } from "../model/time.js";
import { LeaseHeld, StateConflict } from "../model/rule-state.js";
import { runRule, type EngineDeps, type RunOptions, type WindowReport } from "./run.js";

export const WINDOW_EVENT = "tokenwatch.window";
export const RUN_EVENT = "tokenwatch.run";

export interface RunLogger {
  info(message: string): void;
  error(message: string): void;
}

export interface WindowRecord {
  event: typeof WINDOW_EVENT;
  ruleId: string;
  rule: string;
  /** ISO times of the window [start, end); null when a failure came before any window was known. */
  windowStart: string | null;
  windowEnd: string | null;
  rowsRead: number;
  rowsRejected: number;
  alerts: number;
  incidents: number;
  /** Events the rule could not judge yet (Intune users without a baseline while learning). */
  eventsHeldBack: number;
  durationMs: number;
  outcome: "ok" | "error";
  error: string | null;
  /** A shard's window (a queue-triggered invocation): which slice of the accounts. Absent for a whole window. */
  shard?: Shard;
}

export interface RunRecord {
  event: typeof RUN_EVENT;
  ruleId: string;
  rule: string;
  /** The run processed windows ending at or before this (ISO). */
  until: string;
  windows: number;
  rowsRead: number;
  alerts: number;
  durationMs: number;
  /** busy: another invocation holds (or took over) the rule's lease and does the work. */
  outcome: "ok" | "error" | "busy";
  error: string | null;
}

const iso = (t: number) => new Date(t).toISOString();
const round = (ms: number) => Math.round(ms * 10) / 10;

/** An error as one line of text (`name: message`); cut at `max` characters with an ellipsis. */
export function errorText(error: unknown, max = Infinity): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** A log record's error text stays within this many characters. */
const LOGGED_ERROR_CHARS = 2000;

export function windowRecord(rule: Rule, report: WindowReport, durationMs: number, shard?: Shard): WindowRecord {
  return {
    event: WINDOW_EVENT,
    ruleId: rule.meta.id,
    rule: rule.meta.name,
    windowStart: iso(report.window.start),
    windowEnd: iso(report.window.end),
    rowsRead: report.rowsFetched,
    rowsRejected: report.rejected.length,
    alerts: report.alerts.length,
    incidents: report.incidents.length,
    eventsHeldBack: report.heldBack,
    durationMs: round(durationMs),
    outcome: "ok",
    error: null,
    ...(shard ? { shard: { count: shard.count, index: shard.index } } : {}),
  };
}

export function failedWindowRecord(rule: Rule, window: Window | null, durationMs: number, error: unknown, shard?: Shard): WindowRecord {
  return {
    event: WINDOW_EVENT,
    ruleId: rule.meta.id,
    rule: rule.meta.name,
    windowStart: window ? iso(window.start) : null,
    windowEnd: window ? iso(window.end) : null,
    rowsRead: 0,
    rowsRejected: 0,
    alerts: 0,
    incidents: 0,
    eventsHeldBack: 0,
    durationMs: round(durationMs),
    outcome: "error",
    error: errorText(error, LOGGED_ERROR_CHARS),
    ...(shard ? { shard: { count: shard.count, index: shard.index } } : {}),
  };
}

/** One line, one JSON object: failures at Error, everything else at Information. */
export function emit(logger: RunLogger, record: WindowRecord | RunRecord): void {
  const line = JSON.stringify(record);
  if (record.outcome === "error") logger.error(line);
  else logger.info(line);
}

/**
 * runRule with telemetry: a record per processed window, a record for the window that failed
 * (its checkpoint did not move, so it is the first window planned from the stored
 * checkpoint), and a run record. A failure is logged and rethrown, so the invocation fails too.
 * A lease held or lost to another invocation is not a failure: the run record says "busy".
 */
export async function runRuleWithTelemetry(
  rule: Rule,
  deps: EngineDeps,
  options: RunOptions,
  logger: RunLogger,
  clock: () => number = () => performance.now(),
  onWindow?: (report: WindowReport) => void,
): Promise<WindowReport[]> {
  const started = clock();
  let last = started;
  const reports: WindowReport[] = [];
  const run = (outcome: RunRecord["outcome"], error: unknown): RunRecord => ({
    event: RUN_EVENT,
    ruleId: rule.meta.id,
    rule: rule.meta.name,
    until: iso(options.until),
    windows: reports.length,
    rowsRead: reports.reduce((n, r) => n + r.rowsFetched, 0),
    alerts: reports.reduce((n, r) => n + r.alerts.length, 0),
    durationMs: round(clock() - started),
    outcome,
    error: outcome === "ok" ? null : errorText(error, LOGGED_ERROR_CHARS),
  });
  try {
    await runRule(rule, deps, options, (report) => {
      const now = clock();
      reports.push(report);
      onWindow?.(report);
      emit(logger, windowRecord(rule, report, now - last));
      last = now;
    });
  } catch (error) {
    if (error instanceof LeaseHeld || error instanceof StateConflict) {
      emit(logger, run("busy", error));
      throw error;
    }
    emit(logger, failedWindowRecord(rule, await failedWindow(rule, deps, options), clock() - last, error));
    emit(logger, run("error", error));
    throw error;
  }
  emit(logger, run("ok", null));
  return reports;
}

async function failedWindow(rule: Rule, deps: EngineDeps, options: RunOptions): Promise<Window | null> {
  try {
    const state = await deps.stores.ruleState.get(rule.meta.id);
    if (!state) return null;
    return planWindows(frequencyOf(rule), state.windowEnd, options.until, 1)[0] ?? null;
  } catch {
    // The store itself is what failed: the window stays unknown, the error is still reported.
    return null;
  }
}
