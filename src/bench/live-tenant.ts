// The benchmark tenant, generated as it is queried: a RowProvider for the local query API
// that makes the rows of each query's hours from the simulator (same seed, same rows as
// `tokenwatch simulate` writes), so a 100,000-user tenant (about 70 GB of NDJSON for 15
// days) is served without files and with bounded memory. One walk over the whole history
// counts the rows per second of TimeGenerated (what each query's declared time range
// scans) and keeps, for the last hours only, the workforce's state before each hour (to
// generate that hour again) and each row's arrival time (to render only the rows a query
// takes). A query that reaches outside those hours fails: the bench never answers from
// less than the tenant has.
//
// The hours queried are generated again once each and kept (a few, least recently used
// dropped), and a query's rows are rendered only once the item's account is known to be in
// its account list or shard: a slice of a sharded run reads the same six or seven hours in
// each of its ~20 queries and keeps one row in 16 of them, and at 100k users generating and
// rendering them again took the 2-core machine's other core for most of each slice's
// 2-4 minutes, beside the tokenwatch process being measured.
import type { Buckets, Item } from "../sim/activity.js";
import { MAX_INGESTION_DELAY_MS } from "../sim/rows.js";
import { TABLES, TenantGenerator, type SimulateOptions, type UserFilter } from "../sim/simulate.js";
import { declaredRange, inScope, storedRow, type ParsedQuery, type RowProvider, type StoredRow } from "./query-api.js";
import { shardOf } from "../model/shard.js";

export const HOUR = 3_600_000;
/** Hours generated again that are kept: a measured window's queries reach seven (its rows' lateness), the pivot's look-back a few more. */
const KEPT_HOURS = 12;
type Table = (typeof TABLES)[number];

/** A generated hour's events of one table, with each one's arrival time. */
export interface HourRows {
  items: readonly Item[];
  arrivals: Float64Array;
}

export class LiveTenant implements RowProvider {
  readonly generator: TenantGenerator;
  /** Rows per second of TimeGenerated since the tenant's start, per table. */
  private readonly perSecond: Record<Table, Uint32Array>;
  /** The workforce's state before each hour that can be generated again. */
  private readonly states = new Map<number, Int32Array>();
  /** Arrival times of those hours' rows, per table, in bucket order. */
  private readonly arrivals = new Map<number, Record<Table, Float64Array>>();
  /** Hours generated again, least recently used first. */
  private readonly again = new Map<number, Record<Table, HourRows>>();
  private next: number;
  private keepFrom = Infinity;

  constructor(options: SimulateOptions, keep?: UserFilter) {
    this.generator = new TenantGenerator(options, keep);
    const seconds = Math.ceil((this.generator.toMs - this.generator.startMs) / 1000);
    this.perSecond = Object.fromEntries(TABLES.map((t) => [t, new Uint32Array(seconds)])) as Record<Table, Uint32Array>;
    this.next = this.generator.hours.first;
  }

  /**
   * Generates the hours up to `end` (exclusive) in order, counting their rows, and shows
   * each to `visit`; hours from `keepFrom` on can be generated again later, and come with
   * their rows' arrivals (earlier hours' rows all arrived before `keepFrom` + the longest delay).
   */
  advance(end: number, keepFrom: number, visit?: (hour: number, buckets: Buckets, arrivals: Record<Table, Float64Array> | null) => void): void {
    // regenerate() leaves the workforce in an earlier hour's state: the walk would go on from it.
    if (this.again.size > 0) throw new Error("the benchmark tenant cannot advance once an hour was generated again");
    this.keepFrom = Math.min(this.keepFrom, keepFrom);
    const start = this.generator.startMs;
    for (; this.next < end; this.next++) {
      const hour = this.next;
      const kept = hour >= keepFrom;
      if (kept) this.states.set(hour, this.generator.workforce.snapshot());
      const buckets = this.generator.hour(hour);
      for (const table of TABLES) {
        const counts = this.perSecond[table];
        for (const item of buckets[table]) counts[Math.floor((item.t - start) / 1000)]!++;
      }
      visit?.(hour, buckets, kept ? this.arrivalsOf(hour, buckets) : null);
    }
  }

  /** The hour's events again, exactly as the walk made them. */
  regenerate(hour: number): Record<Table, HourRows> {
    const kept = this.again.get(hour);
    if (kept) {
      this.again.delete(hour);
      this.again.set(hour, kept);
      return kept;
    }
    const state = this.states.get(hour);
    if (!state || hour >= this.next) throw new Error(`hour ${new Date(hour * HOUR).toISOString()} is outside the generated span of the benchmark tenant`);
    this.generator.workforce.restore(state);
    const buckets = this.generator.hour(hour);
    const arrivals = this.arrivalsOf(hour, buckets);
    const rows = (t: Table): HourRows => ({ items: buckets[t], arrivals: arrivals[t] });
    const made = { SigninLogs: rows("SigninLogs"), AADNonInteractiveUserSignInLogs: rows("AADNonInteractiveUserSignInLogs"), AuditLogs: rows("AuditLogs"), CloudAppEvents: rows("CloudAppEvents") };
    this.again.set(hour, made);
    if (this.again.size > KEPT_HOURS) this.again.delete(this.again.keys().next().value!);
    return made;
  }

  /** Rows in the scope of a query of the local query API, made from the hours it can reach. */
  select(q: ParsedQuery): StoredRow[] {
    if (!isTable(q.table)) return [];
    const { from, to } = declaredRange(q);
    // A row that arrived at or after arrived.from happened at most the longest delay before it.
    const tFrom = Math.max(from, q.arrived.from === undefined ? -Infinity : q.arrived.from - MAX_INGESTION_DELAY_MS, this.generator.startMs);
    const tTo = Math.min(to, q.arrived.to);
    if (tFrom >= tTo) return [];
    const accounts = q.accounts ? new Set(q.accounts) : null;
    // A slice by account is known before rendering (inScope checks every row rendered anyway).
    const shard = q.shard && (q.shard.column ?? "UserPrincipalName") === "UserPrincipalName" ? q.shard : undefined;
    const out: StoredRow[] = [];
    for (let hour = Math.floor(tFrom / HOUR); hour * HOUR < tTo; hour++) {
      if (hour < this.keepFrom) throw new Error(`query ${q.table} from ${new Date(tFrom).toISOString()} reaches before the generated span of the benchmark tenant`);
      const { items, arrivals } = this.regenerate(hour)[q.table];
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        if (item.t < tFrom || item.t >= tTo || arrivals[i]! >= q.arrived.to) continue;
        if (q.arrived.from !== undefined && arrivals[i]! < q.arrived.from) continue;
        if ("signIn" in item && (accounts || shard)) {
          const account = item.signIn.user.upn.toLowerCase();
          if (accounts && !accounts.has(account)) continue;
          if (shard && shardOf(account, shard.count) !== shard.index) continue;
        }
        const row = storedRow(JSON.parse(this.generator.render(item)) as Record<string, unknown>);
        if (inScope(row, q)) out.push(row);
      }
    }
    return out;
  }

  /** Rows whose TimeGenerated is in the query's declared range, to the second. */
  scanned(q: ParsedQuery): number {
    if (!isTable(q.table)) return 0;
    const { from, to } = declaredRange(q);
    return this.rowsBetween(q.table, from, to);
  }

  /** Rows of a table with TimeGenerated in [from, to), to the second. */
  rowsBetween(table: Table, from: number, to: number): number {
    const counts = this.perSecond[table];
    const start = this.generator.startMs;
    const a = Math.max(0, Math.floor((from - start) / 1000));
    const b = Math.min(counts.length, Math.ceil((to - start) / 1000));
    let n = 0;
    for (let s = a; s < b; s++) n += counts[s]!;
    return n;
  }

  /** Each row's arrival, rendered once per hour and kept. */
  private arrivalsOf(hour: number, buckets: Buckets): Record<Table, Float64Array> {
    let arrivals = this.arrivals.get(hour);
    if (!arrivals) {
      arrivals = Object.fromEntries(TABLES.map((t) => [t, Float64Array.from(buckets[t], (item) => arrivalOf(this.generator.render(item)))])) as Record<Table, Float64Array>;
      this.arrivals.set(hour, arrivals);
    }
    return arrivals;
  }
}

const isTable = (name: string): name is Table => (TABLES as readonly string[]).includes(name);

/** A rendered row's `_TimeReceived`, in ms. */
export function arrivalOf(line: string): number {
  const at = line.indexOf('"_TimeReceived":"');
  if (at < 0) throw new Error("a generated row without _TimeReceived");
  const start = at + '"_TimeReceived":"'.length;
  return Date.parse(line.slice(start, line.indexOf('"', start)));
}
