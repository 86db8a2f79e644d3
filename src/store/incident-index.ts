// What the incident lists read instead of the Incidents table, whose partitions are accounts.
//
// IncidentIndex table: one row per incident and list (every incident; those of one status;
// those of one severity) in day partitions `<list>|<inverted day of the last alert>`, RowKey
// `<inverted ticks of the last alert>:<incident id>`, holding the incident as a list shows
// it. A query over one list's partitions returns newest first (the service orders by
// PartitionKey, then RowKey), so a page is the first rows after the cursor, whatever the
// table holds. One row per account in partition `accounts`, keyed by the accounts view's
// order, holding its tally; the tally itself is the `summary` row of the account's own
// Incidents partition, written in the same transaction as the incidents it counts.
//
// The index lives in other partitions than the incidents, so no transaction covers both.
// A change therefore (1) writes its new rows and marks the rows it replaces, all `pending`;
// (2) commits the incidents; (3) confirms its new rows and deletes the replaced ones, each
// under the ETag step 1 left (a later change that marked them since wins). A reader trusts
// a confirmed row and checks a pending one against the incident (or tally) it names: a
// crash between the writes never shows a wrong list. A pending row that does not match is
// skipped, and deleted once older than any change in flight could be.
import type { Incident, IncidentStatus } from "../model/incident.js";
import { CORRELATION_RULE_ID } from "../model/correlation.js";
import { isoOf, sortableIso, toDateTime, toMs, type DateTime } from "../model/time.js";
import { severityRank, type Severity } from "../model/severity.js";
import type { TableEntity, TransactionAction } from "@azure/data-tables";
import { decodeKey, encodeKey } from "./keys.js";
import { MAX_BATCH, deleteRows, forEachLimit, odata, statusOf, type TableStore } from "./tables.js";

const DAY = 86_400_000;
const TICKS_SPAN = 10n ** 19n;
/** A pending row that does not match is deleted only when older than this: no change waits this long between its steps. */
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

/** An index row: the columns list filters test, and the incident as a list shows it (JSON, times as decimal ticks). */
export interface IndexEntity extends IndexKey {
  incidentId: string;
  account: string;
  ruleId: string;
  status: string;
  severity: string;
  firstAlertTime: string;
  lastAlertTime: string;
  incident: string;
  ips: string;
  /** The incident row's ETag once confirmed; "" while pending. */
  incidentEtag: string;
  pending: boolean;
}

/** An incident's index rows (pending), with what a list shows of it. */
export function indexEntities(i: Incident, ips: IpSeen): IndexEntity[] {
  const { etag: _etag, ...state } = i;
  const incident = JSON.stringify({ ...state, firstAlertTime: String(i.firstAlertTime), lastAlertTime: String(i.lastAlertTime) });
  return indexKeys(i).map((key) => ({
    ...key,
    incidentId: i.id,
    account: i.account,
    ruleId: i.ruleId,
    status: i.status,
    severity: i.severity,
    firstAlertTime: sortableIso(i.firstAlertTime),
    lastAlertTime: sortableIso(i.lastAlertTime),
    incident,
    ips: JSON.stringify(ips),
    incidentEtag: "",
    pending: true,
  }));
}

/** The incident (with its ETag) and IPs a confirmed index row holds. */
export function listedFromRow(row: Pick<IndexEntity, "incident" | "ips" | "incidentEtag">): { incident: Incident; ips: IpSeen } {
  const stored = JSON.parse(row.incident) as Omit<Incident, "firstAlertTime" | "lastAlertTime"> & { firstAlertTime: string; lastAlertTime: string };
  return { incident: { ...stored, firstAlertTime: BigInt(stored.firstAlertTime), lastAlertTime: BigInt(stored.lastAlertTime), etag: row.incidentEtag }, ips: JSON.parse(row.ips) as IpSeen };
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

/** The rules that hit an account: a correlated incident is not one of them, it says they agree. */
const rulesHit = (t: AccountTally) => t.rules.filter((r) => r.id !== CORRELATION_RULE_ID);
const isCorrelated = (t: AccountTally) => t.rules.some((r) => r.id === CORRELATION_RULE_ID);

/** RowKey in partition `accounts`: correlated accounts first, then those hit by more rules, then by highest severity, then latest, then by name. */
export function accountRowKey(t: AccountTally): string {
  const top = Math.max(...t.rules.map((r) => severityRank[r.severity]));
  const rules = rulesHit(t).length;
  return `${isCorrelated(t) ? 0 : 1}:${String(999 - Math.min(rules, 999)).padStart(3, "0")}:${9 - top}:${invertedTicks(t.last)}:${encodeKey(t.account)}`;
}


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
    rules: rulesHit(t).map((r) => ({ id: r.id, name: r.name })).sort((a, b) => a.name.localeCompare(b.name)),
    multipleRules: rulesHit(t).length > 1,
    correlated: isCorrelated(t),
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

export type IndexRow = TableEntity<Partial<IndexEntity> & { account: string; tally?: string }> & { etag: string; timestamp?: string };

/** One change to the index: the incidents' states it replaces or removes, their new states, and the account's tally before and after. */
export interface IndexChange {
  before: readonly Incident[];
  after: readonly { incident: Incident; ips: IpSeen }[];
  tallyBefore: AccountTally | null;
  tallyAfter: AccountTally | null;
}

/** What step 1 wrote, for step 3: each row's key and the ETag it left. */
export interface Prepared {
  written: { key: IndexKey; etag: string; incidentId?: string }[];
  replaced: { key: IndexKey; etag: string }[];
}

const accountEntity = (t: AccountTally) => ({ partitionKey: ACCOUNTS, rowKey: accountRowKey(t), account: t.account, tally: tallyText(t), pending: true });
const tallyText = (t: AccountTally) => JSON.stringify({ ...t, first: String(t.first), last: String(t.last) });

export function tallyFromText(text: string): AccountTally {
  const t = JSON.parse(text) as Omit<AccountTally, "first" | "last"> & { first: string; last: string };
  return { ...t, first: BigInt(t.first), last: BigInt(t.last) };
}

/** Writes and reads the IncidentIndex table; checking pending rows against incidents is the caller's (IncidentRepository). */
export class IndexTable {
  constructor(private readonly store: TableStore) {}

  /** Step 1: the new rows, pending; the rows they replace, marked pending. */
  async prepare(change: IndexChange): Promise<Prepared> {
    const rows: (IndexKey & Record<string, unknown>)[] = change.after.flatMap(({ incident, ips }) => indexEntities(incident, ips).map((e) => ({ ...e })));
    if (change.tallyAfter) rows.push(accountEntity(change.tallyAfter));
    const fresh = new Set(rows.map((r) => `${r.partitionKey}\u0000${r.rowKey}`));
    const old = [...change.before.flatMap(indexKeys), ...(change.tallyBefore ? [{ partitionKey: ACCOUNTS, rowKey: accountRowKey(change.tallyBefore) }] : [])].filter(
      (k) => !fresh.has(`${k.partitionKey}\u0000${k.rowKey}`),
    );
    const actions: TransactionAction[] = [...rows.map((r): TransactionAction => ["upsert", r, "Replace"]), ...old.map((k): TransactionAction => ["upsert", { ...k, pending: true }, "Merge"])];
    const etags = await this.submitByPartition(actions);
    const etagOf = (k: IndexKey) => etags.get(`${k.partitionKey}\u0000${k.rowKey}`)!;
    return {
      written: rows.map((r) => ({ key: { partitionKey: r.partitionKey, rowKey: r.rowKey }, etag: etagOf(r), incidentId: r.incidentId as string | undefined })),
      replaced: old.map((k) => ({ key: k, etag: etagOf(k) })),
    };
  }

  /** Step 3, after the incidents committed (`incidentEtags`: their new ETags by id): confirm what step 1 wrote, delete what it replaced. */
  async settle(prepared: Prepared, incidentEtags: ReadonlyMap<string, string>): Promise<void> {
    const client = await this.store.table("IncidentIndex");
    await forEachLimit(prepared.written, 8, async ({ key, etag, incidentId }) => {
      const incidentEtag = incidentId === undefined ? undefined : incidentEtags.get(incidentId);
      if (incidentId !== undefined && incidentEtag === undefined) return;
      await ignoreChanged(client.updateEntity({ ...key, pending: false, ...(incidentEtag ? { incidentEtag } : {}) }, "Merge", { etag }));
    });
    await forEachLimit(prepared.replaced, 8, ({ key, etag }) => ignoreChanged(client.deleteEntity(key.partitionKey, key.rowKey, { etag })));
  }

  /** Index rows and tallies written as confirmed: a bulk load of incidents whose rows and ETags are known. */
  async load(incidents: readonly { incident: Incident; ips: IpSeen }[], tallies: readonly AccountTally[]): Promise<TransactionAction[][]> {
    const rows: (IndexKey & Record<string, unknown>)[] = incidents.flatMap(({ incident, ips }) => indexEntities(incident, ips).map((e) => ({ ...e, incidentEtag: incident.etag ?? "", pending: false })));
    for (const t of tallies) rows.push({ ...accountEntity(t), pending: false });
    return [...groupByPartition(rows.map((r): TransactionAction => ["upsert", r, "Replace"])).values()].flatMap((actions) => chunks(actions, MAX_BATCH));
  }

  /**
   * Rows of one partition range in key order, strictly after `after`, `size` at most (the
   * service's `$top`): `more` when the range may hold more.
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

  /**
   * Repairs pending rows a reader checked, once older than any change in flight could be (a
   * crash's leftovers): deletes those that did not match what they name, and confirms those
   * that did, with what they named as read. Each write is conditional on the row as read, so
   * a change that marked it since wins.
   */
  async repair(checked: readonly { row: IndexRow; found?: { incident: Incident; ips: IpSeen } | AccountTally }[], now: number): Promise<void> {
    const old = checked.filter(({ row }) => row.pending !== false && row.timestamp !== undefined && now - Date.parse(row.timestamp) > STALE_AFTER_MS);
    if (old.length === 0) return;
    await deleteRows(this.store, "IncidentIndex", old.filter((c) => c.found === undefined).map((c) => c.row));
    const client = await this.store.table("IncidentIndex");
    await forEachLimit(old.filter((c) => c.found !== undefined), 8, async ({ row, found }) => {
      const key = { partitionKey: row.partitionKey!, rowKey: row.rowKey! };
      const entity =
        found && "incident" in found
          ? { ...indexEntities(found.incident, found.ips)[0]!, ...key, incidentEtag: found.incident.etag ?? "" }
          : { ...accountEntity(found as AccountTally), ...key };
      await ignoreChanged(client.updateEntity({ ...entity, pending: false }, "Replace", { etag: row.etag }));
    });
  }

  private async submitByPartition(actions: TransactionAction[]): Promise<Map<string, string>> {
    const etags = new Map<string, string>();
    const client = await this.store.table("IncidentIndex");
    const batches = [...groupByPartition(actions).values()].flatMap((a) => chunks(a, MAX_BATCH));
    await forEachLimit(batches, 8, async (batch) => {
      const response = await client.submitTransaction(batch);
      // Sub-responses come in request order.
      batch.forEach((a, i) => etags.set(`${a[1].partitionKey}\u0000${a[1].rowKey}`, response.subResponses[i]!.etag!));
    });
    return etags;
  }
}

function groupByPartition(actions: readonly TransactionAction[]): Map<string, TransactionAction[]> {
  const by = new Map<string, TransactionAction[]>();
  for (const a of actions) {
    const list = by.get(a[1].partitionKey);
    if (list) list.push(a);
    else by.set(a[1].partitionKey, [a]);
  }
  return by;
}

const chunks = <T>(items: readonly T[], size: number) => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

/** A conditional write that lost to a later change (412) or found the row gone (404) leaves it to that change. */
async function ignoreChanged(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (error) {
    const status = statusOf(error);
    if (status !== 412 && status !== 404) throw error;
  }
}
