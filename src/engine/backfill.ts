// Backfill: run one rule over a past time range as its timer would have, without touching
// its checkpoint and without rewriting the live baseline. Alerts and incidents go to the
// real store (alert ids are deterministic, so a backfill over windows that already ran adds
// nothing); the checkpoint and the per-user baseline live in memory for the duration, the
// baseline bootstrapped from the history before `from` exactly like a first run.
import { frequencyOf, type Rule } from "../rules/rule.js";
import { alignUp } from "../model/time.js";
import type { BackfillStores } from "./ports.js";
import { runRule, type EngineDeps, type WindowReport } from "./run.js";

/** The longest range one backfill call covers: keeps it within one Functions invocation. */
export const MAX_BACKFILL_MS = 7 * 86_400_000;

/** How long after the range's end its events are still expected to arrive. */
const LATE_ARRIVAL_MS = 3_600_000;

export interface BackfillRange {
  from: number;
  to: number;
}

/**
 * Runs `rule` over every window from `range.from` until the window that covers `range.to`,
 * keeping triggering events to TimeGenerated in [from, to). `deps.now` bounds the last window;
 * `scratch` keeps the backfill's own checkpoint and baseline (src/store/memory.ts), never the live ones.
 */
export async function backfillRule(rule: Rule, deps: EngineDeps, scratch: BackfillStores, range: BackfillRange): Promise<WindowReport[]> {
  if (!(range.from < range.to)) throw new RangeError("backfill: from must be before to");
  if (range.to - range.from > MAX_BACKFILL_MS) throw new RangeError("backfill: at most 7 days at a time");
  const stores = { ...deps.stores, ...scratch };
  // Events of the range that arrived a little after it are still looked at, up to now.
  const until = Math.min(alignUp(range.to + LATE_ARRIVAL_MS, frequencyOf(rule)), deps.now());
  return runRule(rule, { ...deps, stores }, { startAt: range.from, until, eventRange: range });
}
