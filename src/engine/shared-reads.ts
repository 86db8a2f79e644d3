// Rules that read the same rows run together, and read them once. The Intune rule, the pivot
// and the forked-session rule read a window's non-interactive sign-ins (the largest table by
// far) with one KQL text, and the last two the window's interactive sign-ins with another; run
// side by side over a shared source, each window's arrivals are fetched by whichever rule asks
// first and handed to the others.
import type { QuerySpec } from "../model/query.js";
import type { Window } from "../model/time.js";
import type { Fetched, RowOf, TableName } from "../model/rows.js";
import { frequencyOf, type Rule } from "../rules/rule.js";
import type { LogSource } from "./ports.js";

/** What identifies one read: the table, the spec's scope and the KQL text. */
const readKey = (spec: QuerySpec, kql: string) => JSON.stringify([spec.table, spec.arrived, spec.time, kql]);

/** A rule's first-stage reads of `window`, by key (a sample window compares rules: they depend on the window only by its bounds). */
function firstReads(rule: Rule, window: Window = { start: 0, end: frequencyOf(rule) }): Set<string> {
  return new Set(Object.entries(rule.queries(window)).map(([name, spec]) => readKey(spec, rule.kql(name, spec))));
}

/**
 * The rules that share a first-stage read with `rule`, directly or through another, and run at
 * the same frequency (so their windows coincide): `rule` first, then the others in list order.
 */
export function readGroup(rule: Rule, all: readonly Rule[]): Rule[] {
  const reads = new Map(all.map((r) => [r, firstReads(r)]));
  const group = [rule];
  for (let i = 0; i < group.length; i++) {
    const mine = reads.get(group[i]!)!;
    for (const other of all) {
      if (group.includes(other) || frequencyOf(other) !== frequencyOf(rule)) continue;
      if ([...reads.get(other)!].some((key) => mine.has(key))) group.push(other);
    }
  }
  return group;
}

/** How many of `group` read `key` among their first-stage reads of the window `spec` was made for. */
function readersOf(group: readonly Rule[], spec: QuerySpec, key: string): number {
  const window: Window = { start: spec.arrived.from!, end: spec.arrived.to, maxLatenessMs: spec.arrived.from! - spec.time.from, ...(spec.shard ? { shard: spec.shard } : {}) };
  return group.filter((rule) => firstReads(rule, window).has(key)).length;
}

/** Window reads kept at once: each shared read's current window and one behind, for two tables. */
const MAX_ENTRIES = 4;

/**
 * A source over `source` on which the `group` rules run side by side: a window's arrivals (a
 * spec without an account list) are fetched once and kept until every rule of the group that
 * reads them has taken them, or until MAX_ENTRIES newer reads push them out (a rule that
 * stopped early, or fell more than a window behind, then costs a second read, never a wrong
 * one). Follow-ups, by account, are never shared. A failed read is dropped at once, so a retry
 * reads again.
 */
export function shareReads(source: LogSource, group: readonly Rule[]): LogSource {
  const entries = new Map<string, { fetched: Promise<Fetched<unknown>>; takers: number; readers: number }>();
  return {
    rows<T extends TableName>(spec: QuerySpec<T>, kql: string, label?: string): Promise<Fetched<RowOf<T>>> {
      if (group.length < 2 || spec.accounts || spec.arrived.from === undefined) return source.rows(spec, kql, label);
      const key = readKey(spec, kql);
      let entry = entries.get(key);
      if (!entry) {
        const readers = readersOf(group, spec, key);
        if (readers < 2) return source.rows(spec, kql, label);
        const fetched = source.rows(spec, kql, label) as Promise<Fetched<unknown>>;
        entry = { fetched, takers: 0, readers };
        entries.set(key, entry);
        const mine = entry;
        fetched.catch(() => entries.get(key) === mine && entries.delete(key));
        for (const old of entries.keys()) if (entries.size > MAX_ENTRIES) entries.delete(old);
      }
      if (++entry.takers >= entry.readers) entries.delete(key);
      return entry.fetched as Promise<Fetched<RowOf<T>>>;
    },
    sightings: (spec, kql, label) => source.sightings(spec, kql, label),
    earliest: (spec, kql, label) => source.earliest(spec, kql, label),
  };
}
