// The per-session state a rule keeps (the forked-session rule; its port is SessionPort in
// ports.ts, kept in Table Storage, or in memory for a backfill): the bootstrap from the history before a rule's
// first window, and the window's load and update around evaluate().
import type { Results, Rule, Specs } from "../rules/rule.js";
import { SessionFold } from "../rules/sessions.js";
import type { SessionState } from "../model/sessions.js";
import type { SignInRow } from "../model/rows.js";
import type { Window } from "../model/time.js";
import type { LogSource, SessionPort as SessionStore } from "./ports.js";

/** Sessions' history is read a day at a time, so that each answer stays small. */
const BOOTSTRAP_CHUNK_MS = 86_400_000;

/**
 * A rule's first run: the state of every session used in the lifetime before its first window,
 * from the rows that arrived before it (the same bootstrap for a deployment and a replay).
 */
export async function bootstrapSessions(rule: Rule, source: LogSource, store: SessionStore, firstWindowStart: number, lifetimeMs: number): Promise<void> {
  if (!rule.sessions) return;
  const fold = new SessionFold(() => undefined);
  for (const table of rule.sessions.tables)
    for (let from = firstWindowStart - lifetimeMs; from < firstWindowStart; from += BOOTSTRAP_CHUNK_MS) {
      const spec = { table, arrived: { to: firstWindowStart }, time: { from, to: Math.min(from + BOOTSTRAP_CHUNK_MS, firstWindowStart) } };
      const { rows } = await source.rows(spec, rule.sessions.historyKql(spec), `${rule.meta.id}/sessions-history`);
      fold.addAll(rows as SignInRow[]);
    }
  await store.save(fold.touched());
}

/** The state of the sessions a window's evaluate() reads, as of the window's end (most were used in the window before). */
export async function sessionsFor(rule: Rule, inputs: Results<Specs>, store: SessionStore, window: Window, lifetimeMs: number): Promise<Map<string, SessionState>> {
  return rule.sessions ? store.load(rule.sessions.refs(inputs), window.end - lifetimeMs, 2 * window.start - window.end) : new Map();
}

/** The window's session memory for evaluate() (ctx.sessions): the states read, each copied once as sign-ins fold into it. */
export const sessionMemory = (states: ReadonlyMap<string, SessionState>): SessionFold => new SessionFold((id) => states.get(id));

/**
 * After evaluation: the sessions its sign-ins were folded into written, as the fold left them
 * (their expiry is the window's: reclaimExpired in run.ts).
 */
export async function recordSessions(rule: Rule, memory: SessionFold, store: SessionStore): Promise<void> {
  if (rule.sessions) await store.save(memory.touched());
}
