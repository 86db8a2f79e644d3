// In-memory implementations of the engine's rule-state and baseline ports (src/engine/ports.ts):
// a backfill's own checkpoint and baseline, so that it never moves the live ones.
import type { KnownNetworks, SignInSighting } from "../model/rows.js";
import type { RuleState } from "../model/rule-state.js";
import { fromMs, type DateTime } from "../model/time.js";

/** A checkpoint kept in memory: the backfill's own, never the live rule's. */
export class MemoryRuleState {
  private readonly states = new Map<string, RuleState>();

  async get(ruleId: string): Promise<RuleState | undefined> {
    return this.states.get(ruleId);
  }

  async put(ruleId: string, state: RuleState): Promise<RuleState> {
    this.states.set(ruleId, state);
    return state;
  }

  async all(): Promise<Map<string, RuleState>> {
    return new Map(this.states);
  }
}

/** A per-user baseline kept in memory, as of the backfilled windows rather than now. */
export class MemoryBaselines {
  private readonly seen = new Map<string, Map<string, DateTime>>();

  async record(sightings: Iterable<SignInSighting>): Promise<void> {
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
  async purge(_bucketIndex: number, sinceMs: number): Promise<number> {
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

  async load(accounts: Iterable<string>, sinceMs: number): Promise<Map<string, KnownNetworks>> {
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

/** A backfill's scratch state: its checkpoint and baseline, in memory. */
export const memoryBackfillStores = () => ({ ruleState: new MemoryRuleState(), baselines: new MemoryBaselines() });
