// What the incident lists read instead of the Incidents table, whose partitions are accounts.
//
// IncidentIndex table: one row per incident and list (every incident; those of one status;
// those of one severity) in day partitions `<list>|<inverted day of the last alert>`, RowKey
// `<inverted ticks of the last alert>:<incident id>`. A query over one list's partitions
// returns newest first (the service orders by PartitionKey, then RowKey), so a page is the
// first rows after the cursor, whatever the table holds. One row per account in partition
// `accounts`, keyed by the accounts view's order. An account's tally (what that row shows)
// is the `summary` row of its own Incidents partition, written in the same transaction as
// the incidents it counts.
//
// The index lives in other partitions than the incidents, so no transaction covers both:
// rows are written ahead of the incident change and a reader checks each row against the
// incident (or tally) it names. A row that no longer matches is skipped, and deleted once it
// is older than any write in flight could be: a crash between the two writes never shows a
// wrong list, and leaves nothing behind for long.
import type { Incident, IncidentStatus } from "../engine/incidents.js";
import { isoOf, sortableIso, toDateTime, toMs, type DateTime } from "../rules/kql.js";
import { severityRank, type Severity } from "../rules/rule.js";
import type { TableEntity, TransactionAction } from "@azure/data-tables";
import { decodeKey, encodeKey } from "./keys.js";
import { deleteRows, forEachLimit, odata, type TableStore } from "./tables.js";

const DAY = 86_400_000;
const TICKS_SPAN = 10n ** 19n;
/** A row that does not match its incident is deleted only when older than this: no write-ahead waits this long for its commit. */
export const STALE_AFTER_MS = 10 * 60_000;
export const ACCOUNTS = "accounts";

/** Which list an index row belongs to. */
export type IndexList = "all" | `status-${IncidentStatus}` | `severity-${Severity}`;

const invertedTicks = (t: DateTime) => (TICKS_SPAN - 1n - t).toString().padStart(19, "0");
const invertedDay = (ms: number) => String(99_999 - Math.floor(ms / DAY)).padStart(5, "0");

export interface IndexKey {
  partitionKey: string;
  rowKey: string;
}

/** The partition range of a list: all its days, or those from `fromMs` on (newest first, so an upper bound). */
export function listRange(list: IndexList, fromMs?: number): { ge: string; le?: string; lt: string } {
  return { ge: `${list}|`, lt: `${list}}`, ...(fromMs === undefined ? {} : { le: `${list}|${invertedDay(fromMs)}` }) };
}

/** The index rows an incident in this state has, one per list it is on. */
export function indexKeys(i: Pick<Incident, "id" | "status" | "severity" | "lastAlertTime">): IndexKey[] {
  const day = invertedDay(toMs(i.lastAlertTime));
  const rowKey = `${invertedTicks(i.lastAlertTime)}:${i.id}`;
  const lists: IndexList[] = ["all", `status-${i.status}`, `severity-${i.severity}`];
  return lists.map((list) => ({ partitionKey: `${list}|${day}`, rowKey }));
}

/** The key of the row an incident list's cursor (last item's time and id) points at. */
export const cursorKey = (list: IndexList, t: DateTime, id: string): IndexKey => ({
  partitionKey: `${list}|${invertedDay(toMs(t))}`,
  rowKey: `${invertedTicks(t)}:${id}`,
});

export interface IndexEntity extends IndexKey {
  incidentId: string;
  account: string;
  ruleId: string;
  status: string;
  severity: string;
  firstAlertTime: string;
  lastAlertTime: string;
}

/** An incident's index rows, with the columns list filters test. */
export function indexEntities(i: Incident): IndexEntity[] {
  return indexKeys(i).map((key) => ({
    ...key,
    incidentId: i.id,
    account: i.account,
    ruleId: i.ruleId,
    status: i.status,
    severity: i.severity,
    firstAlertTime: sortableIso(i.firstAlertTime),
    lastAlertTime: sortableIso(i.lastAlertTime),
  }));
}

/** Whether an index row is one of the incident's rows in its current state. */
export const rowMatches = (row: IndexKey, i: Incident) => indexKeys(i).some((k) => k.partitionKey === row.partitionKey && k.rowKey === row.rowKey);

// ---- per-account tallies (the accounts view) ----

export interface RuleTally {
  id: string;
  name: string;
  severity: Severity;
  open: number;
  total: number;
}

export interface AccountTally {
  account: string;
  rules: RuleTally[];
  first: DateTime;
  last: DateTime;
}

/** What the accounts view shows of one account, from all its incidents (null: none). */
export function tallyOf(account: string, incidents: readonly Incident[]): AccountTally | null {
  if (incidents.length === 0) return null;
  const rules = new Map<string, RuleTally>();
  let first = incidents[0]!.firstAlertTime;
  let last = incidents[0]!.lastAlertTime;
  for (const i of incidents) {
    const r = rules.get(i.ruleId) ?? { id: i.ruleId, name: i.ruleName, severity: i.severity, open: 0, total: 0 };
    r.total++;
    if (i.status !== "Closed") r.open++;
    if (severityRank[i.severity] > severityRank[r.severity]) r.severity = i.severity;
    rules.set(i.ruleId, r);
    if (i.firstAlertTime < first) first = i.firstAlertTime;
    if (i.lastAlertTime > last) last = i.lastAlertTime;
  }
  return { account, rules: [...rules.values()].sort((a, b) => a.id.localeCompare(b.id)), first, last };
}

/** RowKey in partition `accounts`: accounts hit by more rules first, then by highest severity, then latest, then by name. */
export function accountRowKey(t: AccountTally): string {
  const top = Math.max(...t.rules.map((r) => severityRank[r.severity]));
  return `${String(999 - Math.min(t.rules.length, 999)).padStart(3, "0")}:${9 - top}:${invertedTicks(t.last)}:${encodeKey(t.account)}`;
}

export const accountOfRowKey = (rowKey: string) => decodeKey(rowKey.split(":").slice(3).join(":"));

export const SUMMARY = "summary";

/** The tally as its row of the account's Incidents partition. */
export const tallyEntity = (partitionKey: string, t: AccountTally) => ({
  partitionKey,
  rowKey: SUMMARY,
  account: t.account,
  rules: JSON.stringify(t.rules),
  firstSeen: sortableIso(t.first),
  lastSeen: sortableIso(t.last),
});

export function tallyFromEntity(e: { account: string; rules: string; firstSeen: string; lastSeen: string }): AccountTally {
  return { account: e.account, rules: JSON.parse(e.rules) as RuleTally[], first: toDateTime(e.firstSeen)!, last: toDateTime(e.lastSeen)! };
}

const higher = (a: Severity | null, b: Severity) => (a === null || severityRank[b] > severityRank[a] ? b : a);

/** An account as GET /accounts shows it. */
export function accountView(t: AccountTally) {
  let highest: Severity | null = null;
  let highestOpen: Severity | null = null;
  for (const r of t.rules) {
    highest = higher(highest, r.severity);
    if (r.open > 0) highestOpen = higher(highestOpen, r.severity);
  }
  return {
    account: t.account,
    openIncidents: t.rules.reduce((n, r) => n + r.open, 0),
    totalIncidents: t.rules.reduce((n, r) => n + r.total, 0),
    highestSeverity: highest!,
    highestOpenSeverity: highestOpen,
    rules: t.rules.map((r) => ({ id: r.id, name: r.name })).sort((a, b) => a.name.localeCompare(b.name)),
    multipleRules: t.rules.length > 1,
    firstSeen: isoOf(t.first),
    lastSeen: isoOf(t.last),
  };
}
export type AccountView = ReturnType<typeof accountView>;

// ---- the IPs a list shows, kept on the incident row ----

/** Each distinct IP of an incident's alerts with its first alert (time, id): the list's IPs in order, mergeable. */
export type IpSeen = [ip: string, time: string, alertId: string][];

export function ipSeenOf(alerts: readonly { id: string; ip: string | null; time: DateTime }[], into: IpSeen = []): IpSeen {
  const first = new Map(into.map((e) => [e[0], e]));
  for (const a of alerts) {
    if (a.ip === null) continue;
    const seen: IpSeen[number] = [a.ip, sortableIso(a.time), a.id];
    const had = first.get(a.ip);
    if (!had || seen[1] < had[1] || (seen[1] === had[1] && seen[2] < had[2])) first.set(a.ip, seen);
  }
  return [...first.values()].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));
}

// ---- the table ----

type IndexRow = TableEntity<Partial<IndexEntity> & { account: string }> & { etag: string; timestamp?: string };

/** Writes and reads the IncidentIndex table; checking rows against incidents is the caller's (IncidentRepository). */
export class IndexTable {
  constructor(private readonly store: TableStore) {}

  /** Writes the rows of these incidents' new states and the account's row, before the change they describe is committed. */
  async writeAhead(incidents: readonly Incident[], tally: AccountTally | null): Promise<void> {
    const rows: (IndexKey & Record<string, unknown>)[] = incidents.flatMap(indexEntities).map((e) => ({ ...e }));
    if (tally) rows.push({ partitionKey: ACCOUNTS, rowKey: accountRowKey(tally), account: tally.account });
    const byPartition = new Map<string, TransactionAction[]>();
    for (const row of rows) byPartition.set(row.partitionKey, [...(byPartition.get(row.partitionKey) ?? []), ["upsert", row, "Replace"]]);
    await forEachLimit(byPartition.values(), 8, (actions) => this.store.submit("IncidentIndex", actions));
  }

  /**
   * Rows of one partition range in key order, strictly after `after`, a page of `size` at a
   * time: `more` reads the next page (null when there is none).
   */
  async scan(filter: string, size: number, after?: IndexKey): Promise<{ rows: IndexRow[]; more: boolean }> {
    const client = await this.store.table("IncidentIndex");
    const from = after ? ` and (PartitionKey gt ${odata(after.partitionKey)} or (PartitionKey eq ${odata(after.partitionKey)} and RowKey gt ${odata(after.rowKey)}))` : "";
    const pages = client.listEntities<IndexRow>({ queryOptions: { filter: filter + from } }).byPage({ maxPageSize: size });
    const rows: IndexRow[] = [];
    // The service may answer a page short (a partition boundary, a time limit): keep reading until it is full or the range is done.
    for await (const page of pages) {
      rows.push(...(page as IndexRow[]));
      if (rows.length >= size) return { rows: rows.slice(0, size), more: true };
    }
    return { rows, more: false };
  }

  /** Deletes rows that did not match what they name and are older than any write in flight; one changed since it was read stays. */
  async dropStale(rows: readonly IndexRow[], now: number): Promise<void> {
    const old = rows.filter((r) => r.timestamp !== undefined && now - Date.parse(r.timestamp) > STALE_AFTER_MS);
    if (old.length) await deleteRows(this.store, "IncidentIndex", old);
  }
}
