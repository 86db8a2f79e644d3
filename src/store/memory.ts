// In-memory implementations of the engine's rule-state, baseline and session ports (src/engine/ports.ts):
// a backfill's own checkpoint and baseline, so that it never moves the live ones.
import type { KnownNetworks, SignInSighting } from "../model/rows.js";
import type { RuleState } from "../model/rule-state.js";
import { forget, sessionKey, type SessionRef, type SessionState } from "../model/sessions.js";
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

/** Per-session state kept in memory (forked session), as of the backfilled windows rather than now; a session is its account's, as in the Sessions table. */
export class MemorySessions {
  private readonly states = new Map<string, SessionState>();

  async load(sessions: Iterable<SessionRef>, since: number): Promise<Map<string, SessionState>> {
    const cutoff = fromMs(since);
    const out = new Map<string, SessionState>();
    for (const ref of sessions) {
      if (out.has(ref.sessionId)) continue;
      const stored = this.states.get(sessionKey(ref));
      const state = stored && forget(stored, cutoff);
      if (state) out.set(ref.sessionId, state);
    }
    return out;
  }

  async save(states: Iterable<SessionState>): Promise<void> {
    for (const state of states) this.states.set(sessionKey(state), state);
  }

  async purge(_bucketIndex: number, since: number): Promise<number> {
    const cutoff = fromMs(since);
    let removed = 0;
    for (const [id, state] of this.states)
      if (state.lastSeen <= cutoff) {
        this.states.delete(id);
        removed++;
      }
    return removed;
  }
}

/** A backfill's scratch state: its checkpoint, baseline and session state, in memory. */
export const memoryBackfillStores = () => ({ ruleState: new MemoryRuleState(), baselines: new MemoryBaselines(), sessions: new MemorySessions() });
