// Account correlation's shared concepts: the pseudo-rule a correlated incident carries, and
// its settings. The decision is the engine's (src/engine/correlation.ts); the store, the
// API and webhook delivery only need to recognise a correlated incident.
import { TICKS_PER_MS, type DateTime } from "./time.js";

/** The pseudo-rule correlated incidents carry as ruleId (no rule file: nothing queries logs for it). */
export const CORRELATION_RULE_ID = "0c0a1e5c-e0a1-4c0e-8a11-ac0c0a1e5c0e";
export const CORRELATION_RULE_NAME = "Account correlation across rules";

export interface CorrelationSettings {
  /** Alerts of different rules at most this far apart (event time) correlate (TOKENWATCH_CORRELATION_WINDOW_HOURS). */
  windowMs: number;
  /** Alerts of different rules sharing a sign-in identifier correlate at most this far apart (TOKENWATCH_CORRELATION_LINK_DAYS). */
  linkLookbackMs: number;
}

export const DEFAULT_CORRELATION: CorrelationSettings = { windowMs: 24 * 3_600_000, linkLookbackMs: 14 * 86_400_000 };

export const isCorrelation = (incident: { ruleId: string }) => incident.ruleId === CORRELATION_RULE_ID;

/** How far before an account's earliest new alert its stored alerts can still correlate with it. */
export function correlationHorizon(earliestAlert: DateTime, settings: CorrelationSettings): DateTime {
  return earliestAlert - BigInt(Math.max(settings.windowMs, settings.linkLookbackMs)) * TICKS_PER_MS;
}

