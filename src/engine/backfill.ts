// Backfill: run one rule over a past time range as its timer would have, without touching
// its checkpoint and without rewriting the live baseline or session state. Alerts and
// incidents go to the real store (alert ids are deterministic, so a backfill over windows
// that already ran adds nothing); the checkpoint, the per-user baseline and the session
// state live in memory for the duration, bootstrapped from the history before `from`
// exactly like a first run.
import type { KnownNetworks, Rule } from "../rules/rule.js";
import { alignUp, runRule, type EngineDeps, type WindowReport } from "./run.js";
import { frequencyOf } from "../rules/rule.js";
import type { SignInSighting } from "../sources/rows.js";
import { fromMs, type DateTime } from "../rules/kql.js";
import { BaselineRepository } from "../store/baselines.js";
import { RuleStateRepository, type RuleState } from "../store/rule-state.js";
import type { TableStore } from "../store/tables.js";
import { MemorySessions } from "../store/sessions.js";

/** The longest range one backfill call covers: keeps it within one Functions invocation. */
export const MAX_BACKFILL_MS = 7 * 86_400_000;

/** How long after the range's end its events are still expected to arrive. */
const LATE_ARRIVAL_MS = 3_600_000;

export interface BackfillRange {
  from: number;
  to: number;
}

/** A checkpoint kept in memory: the backfill's own, never the live rule's. */
class MemoryRuleState extends RuleStateRepository {
  private readonly states = new Map<string, RuleState>();

  override async get(ruleId: string): Promise<RuleState | undefined> {
    return this.states.get(ruleId);
  }

  override async put(ruleId: string, state: RuleState): Promise<RuleState> {
    this.states.set(ruleId, state);
    return state;
  }

  override async all(): Promise<Map<string, RuleState>> {
    return new Map(this.states);
  }
}

/** A per-user baseline kept in memory, as of the backfilled windows rather than now. */
class MemoryBaselines extends BaselineRepository {
  private readonly seen = new Map<string, Map<string, DateTime>>();

  override async record(sightings: Iterable<SignInSighting>): Promise<void> {
    for (const s of sightings) {
      if (!s.account) continue;
      let entries = this.seen.get(s.account);
      if (!entries) this.seen.set(s.account, (entries = new Map()));
      for (const key of [s.ip && `ip:${s.ip}`, s.asn && `asn:${s.asn}`]) {
        const seen = key ? entries.get(key) : undefined;
        if (key && (seen === undefined || s.lastSeen > seen)) entries.set(key, s.lastSeen);
      }
    }
  }

  /** Expiry happens in memory too: the live table is never touched by a backfill. */
  override async purge(_bucketIndex: number, sinceMs: number): Promise<number> {
    const since = fromMs(sinceMs);
    let removed = 0;
    for (const entries of this.seen.values())
      for (const [key, lastSeen] of entries)
        if (lastSeen <= since) {
          entries.delete(key);
          removed++;
        }
    return removed;
  }

  override async load(accounts: Iterable<string>, sinceMs: number): Promise<Map<string, KnownNetworks>> {
    const since = fromMs(sinceMs);
    const out = new Map<string, KnownNetworks>();
    for (const account of new Set(accounts)) {
      const ips = new Set<string>();
      const asns = new Set<string>();
      for (const [key, lastSeen] of this.seen.get(account) ?? []) {
        if (lastSeen <= since) continue;
        if (key.startsWith("ip:")) ips.add(key.slice(3));
        else asns.add(key.slice(4));
      }
      if (ips.size || asns.size) out.set(account, { ips, asns });
    }
    return out;
  }
}

/**
 * Runs `rule` over every window from `range.from` until the window that covers `range.to`,
 * keeping triggering events to TimeGenerated in [from, to). `deps.now` bounds the last window.
 */
export async function backfillRule(rule: Rule, deps: EngineDeps, store: TableStore, range: BackfillRange): Promise<WindowReport[]> {
  if (!(range.from < range.to)) throw new RangeError("backfill: from must be before to");
  if (range.to - range.from > MAX_BACKFILL_MS) throw new RangeError("backfill: at most 7 days at a time");
  const stores = { ...deps.stores, ruleState: new MemoryRuleState(store), baselines: new MemoryBaselines(store), sessions: new MemorySessions() };
  // Events of the range that arrived a little after it are still looked at, up to now.
  const until = Math.min(alignUp(range.to + LATE_ARRIVAL_MS, frequencyOf(rule)), deps.now());
  return runRule(rule, { ...deps, stores }, { startAt: range.from, until, eventRange: range });
}
