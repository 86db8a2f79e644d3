// Incidents table. An account's incidents AND its alerts live in one partition (the
// encoded account), RowKeys `incident:<id>` and `alert:<id>`: placing alerts into an
// incident is then one entity-group transaction, all or nothing, so a crash can never
// leave an alert stored without its incident or the other way round.
import { actorColumns, actorFromColumns, type Actor } from "../model/actor.js";
import type { TransactionAction } from "@azure/data-tables";
import { correlate } from "../engine/correlation.js";
import { correlationHorizon, CORRELATION_RULE_ID, DEFAULT_CORRELATION, isCorrelation, type CorrelationSettings } from "../model/correlation.js";
import { groupAlerts, groupingHorizon, isTriaged, type Alert, type Grouping, type Incident, type IncidentStatus } from "../engine/incidents.js";
import { outboxAction, packTransactions, placementEvent, updateEvent } from "../delivery/outbox.js";
import type { Severity } from "../model/severity.js";
import { compareTime, fromMs, sortableIso, toDateTime, type DateTime } from "../model/time.js";
import { decodeKey, encodeKey, invertedTime, prefixRange } from "./keys.js";
import { MAX_BATCH, forEachLimit, odata, statusOf, type TableStore } from "./tables.js";

const INCIDENT = "incident:";
const ALERT = "alert:";
/** One row per partition that every placement rewrites, ETag-chained: placements never interleave. */
const PLACEMENT = "placement";
const CONCURRENCY = 16;
const CONFLICT_RETRIES = 5;

interface IncidentEntity {
  ruleId: string;
  ruleName: string;
  account: string;
  severity: string;
  status: string;
  title: string;
  firstAlertTime: string;
  lastAlertTime: string;
  alertIds: string;
  createdAt: string;
  updatedAt: string;
  owner: string;
  classification: string;
  /** JSON: a correlated incident's member incident ids; absent on a rule's incident. */
  memberIncidentIds?: string;
}

interface AlertEntity {
  ruleId: string;
  ruleName: string;
  severity: string;
  time: string;
  account: string;
  ip: string;
  title: string;
  details: string;
  entities: string;
  /** JSON: the alert's sign-in identifiers (absent on alerts stored before they were kept). */
  links?: string;
  incidentId: string;
}

export interface Placement {
  alerts: Alert[];
  incidents: Incident[];
}

export class IncidentRepository {
  constructor(
    private readonly store: TableStore,
    /** Account correlation across rules (TOKENWATCH_CORRELATION_*). */
    private readonly correlation: CorrelationSettings = DEFAULT_CORRELATION,
  ) {}

  /**
   * Places alerts into incidents and stores both. Alerts already stored (a window run
   * again, an overlapping window) are left as they are. Safe against concurrent writers:
   * a conflicting write re-reads the partition and groups again.
   */
  async place(alerts: readonly Omit<Alert, "incidentId">[], now: number): Promise<Placement> {
    const byAccount = new Map<string, Omit<Alert, "incidentId">[]>();
    for (const a of alerts) {
      const list = byAccount.get(a.account);
      if (list) list.push(a);
      else byAccount.set(a.account, [a]);
    }
    const placed: Placement = { alerts: [], incidents: [] };
    await forEachLimit(byAccount, CONCURRENCY, async ([account, accountAlerts]) => {
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await this.placeForAccount(account, accountAlerts, now);
          placed.alerts.push(...result.alerts);
          placed.incidents.push(...result.incidents);
          return;
        } catch (error) {
          const status = statusOf(error);
          if ((status !== 409 && status !== 412) || attempt >= CONFLICT_RETRIES) throw error;
        }
      }
    });
    return placed;
  }

  private async placeForAccount(account: string, alerts: Omit<Alert, "incidentId">[], now: number): Promise<Placement> {
    const partitionKey = encodeKey(account);
    // Read first: every transaction below is conditional on this row being as this placement
    // last saw it (see the end of this method).
    let placementEtag = (await this.store.get("Incidents", partitionKey, PLACEMENT))?.etag;
    const horizon = sortableIso(groupingHorizon(alerts.reduce((m, a) => (a.time < m ? a.time : m), alerts[0]!.time)));
    const range = prefixRange(INCIDENT);
    const history = prefixRange(HISTORY);
    const [incidentEntities, comments] = await Promise.all([
      this.store.list<IncidentEntity>(
        "Incidents",
        `PartitionKey eq ${odata(partitionKey)} and RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)} and lastAlertTime ge ${odata(horizon)}`,
      ),
      this.store.list<HistoryEntity & { rowKey: string }>(
        "Incidents",
        `PartitionKey eq ${odata(partitionKey)} and RowKey ge ${odata(history.ge)} and RowKey lt ${odata(history.lt)} and field eq ${odata("comment")}`,
      ),
    ]);
    // An alert counts as placed only when an incident holds it: every incident that could
    // (lastAlertTime >= its time) is loaded above, and groupAlerts skips those alerts. An
    // alert entity alone is not enough: with more than 100 actions the alerts go in earlier
    // transactions than their incident, and a crash or an ETag conflict between them would
    // otherwise leave those alerts without an incident for good.
    // Correlated incidents take no alerts of their own: correlate() below keeps them.
    const existing = incidentEntities.map(incidentFromEntity).filter((i) => !isCorrelation(i));
    const commented = new Set(comments.map((c) => c.rowKey.slice(HISTORY.length).split(":")[0]!));
    // Untriaged incidents are regrouped with the new alerts, from their stored alerts.
    const untriaged = existing.filter((i) => !isTriaged(i, commented));
    const stored = untriaged.length ? await this.listAlerts(`PartitionKey eq ${odata(partitionKey)} and time ge ${odata(sortableIso(untriaged.reduce((t, i) => (i.firstAlertTime < t ? i.firstAlertTime : t), untriaged[0]!.firstAlertTime)))}`) : [];
    const grouping = groupAlerts(existing, alerts, now, { stored, commented });
    const known = new Set(existing.map((i) => i.id));
    const actions: TransactionAction[] = [...grouping.alerts, ...grouping.moved].map((a) => ["upsert", alertToEntity(partitionKey, a), "Replace"]);
    // Each incident travels with the outbox row announcing its change (webhooks): both in
    // one transaction, so no change is stored unannounced (src/delivery/outbox.ts). An
    // incident that gained alerts (new or moved in by a regrouping) announces them; one that
    // only lost alerts to a regrouping, or was merged away, announces its new state.
    const groups = grouping.incidents.map((incident): TransactionAction[] => {
      const entity = incidentToEntity(partitionKey, incident);
      const added = [...grouping.alerts, ...grouping.moved].filter((a) => a.incidentId === incident.id).map((a) => a.id);
      const event = known.has(incident.id) && added.length === 0 ? updateEvent(incident, now) : placementEvent(incident, !known.has(incident.id), added, now);
      return [known.has(incident.id) ? ["update", entity, "Merge", { etag: incident.etag }] : ["create", entity], outboxAction(partitionKey, event)];
    });
    for (const incident of grouping.removed)
      groups.push([
        // A batch delete takes no ETag; the placement row guards it instead: an analyst's
        // update rewrites that row too (updateIncident), so a placement that read this
        // incident before it was triaged fails and groups again.
        ["delete", { partitionKey, rowKey: INCIDENT + incident.id }],
        outboxAction(partitionKey, updateEvent({ ...incident, alertIds: [], updatedAt: now }, now)),
      ]);
    // Correlated incidents go in the same guarded placement, after their members: two rules
    // placing into one account at once are serialised by the placement row, so the second
    // sees the first's correlated incident and extends it rather than making another.
    if (grouping.alerts.length > 0) {
      const { correlated, before } = await this.correlations(partitionKey, alerts, grouping, now);
      for (const incident of correlated) {
        const was = before.get(incident.id);
        const added = incident.alertIds.filter((id) => !was?.alertIds.includes(id));
        const entity = incidentToEntity(partitionKey, incident);
        groups.push([was ? ["update", entity, "Merge", { etag: was.etag }] : ["create", entity], outboxAction(partitionKey, placementEvent(incident, !was, added, now))]);
        grouping.incidents.push(incident);
      }
    }
    if (actions.length === 0 && groups.length === 0) return grouping;
    // Incidents go last: when a partition needs several transactions, the incident is
    // written only once all its alerts are. Each transaction also rewrites the partition's
    // placement row under the ETag the previous one left (or the one read above), so two
    // placements into one account cannot interleave: the second to write fails with 412/409
    // and place() groups again from what the first stored. Without it, two writers whose
    // alerts began at different alerts created two different incidents holding the same
    // alerts (a backfill next to the live run, or a run whose lease expired).
    const guard = { partitionKey, rowKey: PLACEMENT, at: new Date(now).toISOString() };
    await this.store.submitGuarded("Incidents", guard, placementEtag, packTransactions(actions, groups, MAX_BATCH - 1));
    return grouping;
  }

  /** The account's correlated incidents to create or change once `grouping` is stored, and the stored state of those that exist. */
  private async correlations(partitionKey: string, alerts: readonly Omit<Alert, "incidentId">[], grouping: Grouping, now: number) {
    const since = sortableIso(correlationHorizon(alerts.reduce((m, a) => (a.time < m ? a.time : m), alerts[0]!.time), this.correlation));
    const scope = `PartitionKey eq ${odata(partitionKey)}`;
    const [stored, existing] = await Promise.all([
      this.listAlerts(`${scope} and time ge ${odata(since)}`),
      this.listIncidents(`${scope} and ruleId eq ${odata(CORRELATION_RULE_ID)} and lastAlertTime ge ${odata(since)}`),
    ]);
    const byId = new Map(stored.map((a) => [a.id, a]));
    for (const a of [...grouping.alerts, ...grouping.moved]) byId.set(a.id, a);
    const removed = new Set(grouping.removed.map((i) => i.id));
    return { correlated: correlate([...byId.values()], existing, this.correlation, now, removed), before: new Map(existing.map((i) => [i.id, i])) };
  }

  async listIncidents(filter?: string): Promise<Incident[]> {
    const range = prefixRange(INCIDENT);
    const scope = `RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)}`;
    const entities = await this.store.list<IncidentEntity>("Incidents", filter ? `${scope} and (${filter})` : scope);
    return entities.map(incidentFromEntity);
  }

  async listAlerts(filter?: string): Promise<Alert[]> {
    const range = prefixRange(ALERT);
    const scope = `RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)}`;
    const entities = await this.store.list<AlertEntity>("Incidents", filter ? `${scope} and (${filter})` : scope);
    return entities.map(alertFromEntity);
  }

  // ---- HTTP API reads and analyst updates ----

  /** Incidents matching every given criterion (all incidents when none). */
  async queryIncidents(q: IncidentQuery = {}): Promise<Incident[]> {
    const terms: string[] = [];
    // Accounts are stored lowercase (the rules report them so); a UPN copied from Entra is mixed case.
    if (q.account !== undefined) terms.push(`PartitionKey eq ${odata(encodeKey(q.account.toLowerCase()))}`);
    if (q.status?.length) terms.push(`(${q.status.map((s) => `status eq ${odata(s)}`).join(" or ")})`);
    if (q.severity?.length) terms.push(`(${q.severity.map((s) => `severity eq ${odata(s)}`).join(" or ")})`);
    if (q.ruleId !== undefined) terms.push(`ruleId eq ${odata(q.ruleId)}`);
    // Incidents whose alerts overlap [from, to).
    if (q.from !== undefined) terms.push(`lastAlertTime ge ${odata(sortableIso(fromMs(q.from)))}`);
    if (q.to !== undefined) terms.push(`firstAlertTime lt ${odata(sortableIso(fromMs(q.to)))}`);
    return this.listIncidents(terms.length ? terms.join(" and ") : undefined);
  }

  /** One incident by id (ids are unique across accounts), with its ETag. */
  async getIncident(id: string): Promise<Incident | undefined> {
    const found = await this.store.list<IncidentEntity>("Incidents", `RowKey eq ${odata(INCIDENT + id)}`);
    return found[0] && incidentFromEntity(found[0]);
  }

  /** The alerts placed in an incident (a correlated incident: the alerts it links), oldest first. */
  async alertsOf(incident: Incident): Promise<Alert[]> {
    if (isCorrelation(incident)) return (await this.alertsOfIncidents([incident])).get(incident.id)!;
    const range = prefixRange(ALERT);
    const entities = await this.store.list<AlertEntity>(
      "Incidents",
      `PartitionKey eq ${odata(encodeKey(incident.account))} and RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)} and incidentId eq ${odata(incident.id)}`,
    );
    return entities.map(alertFromEntity).sort((a, b) => compareTime(a.time, b.time) || a.id.localeCompare(b.id));
  }

  /** The alerts of several incidents (a list page), by incident id, oldest first: one query per account. */
  async alertsOfIncidents(incidents: readonly Incident[]): Promise<Map<string, Alert[]>> {
    const byAccount = new Map<string, Set<string>>();
    for (const i of incidents) byAccount.set(i.account, (byAccount.get(i.account) ?? new Set()).add(i.id));
    const result = new Map<string, Alert[]>(incidents.map((i) => [i.id, []]));
    // A correlated incident holds alerts placed in its members: it lists them by id.
    const linked = new Map(incidents.filter(isCorrelation).flatMap((i) => i.alertIds.map((id) => [id, i.id] as const)));
    await forEachLimit([...byAccount], CONCURRENCY, async ([account, ids]) => {
      const filter = `PartitionKey eq ${odata(encodeKey(account))}`;
      for (const alert of await this.listAlerts(filter)) {
        if (ids.has(alert.incidentId)) result.get(alert.incidentId)!.push(alert);
        const correlated = linked.get(alert.id);
        if (correlated !== undefined && ids.has(correlated)) result.get(correlated)!.push(alert);
      }
    });
    for (const alerts of result.values()) alerts.sort((a, b) => compareTime(a.time, b.time) || a.id.localeCompare(b.id));
    return result;
  }

  /**
   * A page of an incident's change history, newest first: at most `limit` changes after the
   * row `after` (a previous page's `next`), and the `next` of the page after (null: none).
   */
  async historyPage(incident: Incident, limit: number, after?: string): Promise<{ changes: IncidentChange[]; next: string | null }> {
    const prefix = `${HISTORY}${incident.id}:`;
    const range = prefixRange(prefix);
    const from = after === undefined ? `RowKey ge ${odata(range.ge)}` : `RowKey gt ${odata(prefix + after)}`;
    const entities = await this.store.first<HistoryEntity>("Incidents", `PartitionKey eq ${odata(encodeKey(incident.account))} and ${from} and RowKey lt ${odata(range.lt)}`, limit + 1);
    const page = entities.slice(0, limit);
    return {
      changes: page.map((e) => ({
        at: Date.parse(e.at),
        actor: actorFromColumns("actor", e),
        field: e.field as IncidentChange["field"],
        before: e.before === "" ? null : e.before,
        after: e.after === "" ? null : e.after,
      })),
      next: entities.length > limit ? page.at(-1)!.rowKey.slice(prefix.length) : null,
    };
  }

  /**
   * Retention: deletes incidents closed before `before` (epoch ms: their last change, which
   * closing them is) with their alerts and history, at most `budget` rows in all; an
   * incident whose rows do not fit is finished by a later run. Every transaction also
   * rewrites the incident row under the ETag the previous one left, so an analyst's change
   * in between (reopening it) fails as stale, and a change that came first fails the purge's
   * first transaction: an open incident never loses a row. Returns the rows deleted.
   */
  async purgeClosed(before: number, budget: number): Promise<number> {
    const range = prefixRange(INCIDENT);
    const closed = await this.store.first<IncidentEntity>(
      "Incidents",
      `RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)} and status eq ${odata("Closed" satisfies IncidentStatus)} and updatedAt lt ${odata(new Date(before).toISOString())}`,
      budget,
    );
    let deleted = 0;
    for (const entity of closed) {
      // Rewritten as read, less what the service adds to a read.
      const { etag, timestamp: _, ...row } = entity as typeof entity & { timestamp?: string };
      const left = budget - deleted;
      if (left <= 0) break;
      const partitionKey = row.partitionKey;
      const id = row.rowKey.slice(INCIDENT.length);
      const alerts = prefixRange(ALERT);
      const history = prefixRange(`${HISTORY}${id}:`);
      const keys = ["PartitionKey", "RowKey"];
      const scope = `PartitionKey eq ${odata(partitionKey)}`;
      const children = [
        ...(await this.store.first("Incidents", `${scope} and RowKey ge ${odata(alerts.ge)} and RowKey lt ${odata(alerts.lt)} and incidentId eq ${odata(id)}`, left, keys)),
        ...(await this.store.first("Incidents", `${scope} and RowKey ge ${odata(history.ge)} and RowKey lt ${odata(history.lt)}`, left, keys)),
      ].slice(0, left);
      const deletes: TransactionAction[] = children.map((c) => ["delete", { partitionKey, rowKey: c.rowKey }]);
      const transactions: TransactionAction[][] = [];
      for (let i = 0; i < deletes.length; i += MAX_BATCH - 1) transactions.push(deletes.slice(i, i + MAX_BATCH - 1));
      try {
        const last = transactions.length ? await this.store.submitGuarded("Incidents", row, etag, transactions) : etag;
        deleted += children.length;
        if (children.length === left) break;
        await (await this.store.table("Incidents")).deleteEntity(partitionKey, row.rowKey, { etag: last });
        deleted++;
      } catch (error) {
        // Changed (reopened, commented) or deleted since it was read: it waits for a later run.
        const status = statusOf(error);
        if (status !== 412 && status !== 404) throw error;
      }
    }
    return deleted;
  }

  /**
   * Applies an analyst's changes if the incident is unchanged since `etag` was read: the
   * incident, one history row per change and, when a field changed, the outbox row of its
   * `incident.updated` event are one entity-group transaction, so a change is never stored
   * without its history or unannounced. "stale" when someone (or a run placing alerts)
   * changed it first; "missing" when it does not exist.
   */
  async updateIncident(
    incident: Incident,
    etag: string,
    changes: IncidentChanges,
    actor: Actor,
    now: number,
  ): Promise<{ ok: true; incident: Incident; changes: IncidentChange[] } | { ok: false; reason: "stale" | "missing" }> {
    const partitionKey = encodeKey(incident.account);
    const next: Incident = { ...incident };
    const log: IncidentChange[] = [];
    const change = (field: IncidentChange["field"], before: string | null, after: string | null) => {
      if (before !== after) log.push({ at: now, actor, field, before, after });
    };
    if (changes.status !== undefined) change("status", incident.status, (next.status = changes.status));
    if (changes.owner !== undefined) change("owner", incident.owner, (next.owner = changes.owner));
    if (changes.classification !== undefined) change("classification", incident.classification, (next.classification = changes.classification));
    if (changes.comment !== undefined) log.push({ at: now, actor, field: "comment", before: null, after: changes.comment });
    if (log.some((c) => c.field !== "comment")) next.updatedAt = now;
    const fields = { status: next.status, owner: next.owner ?? "", classification: next.classification ?? "", updatedAt: new Date(next.updatedAt).toISOString() };
    const actions: TransactionAction[] = [["update", { partitionKey, rowKey: INCIDENT + incident.id, ...fields }, "Merge", { etag }]];
    log.forEach((c, i) =>
      actions.push([
        "create",
        {
          partitionKey,
          rowKey: `${HISTORY}${incident.id}:${invertedTime(now)}:${String(log.length - i).padStart(2, "0")}`,
          at: new Date(c.at).toISOString(),
          ...actorColumns("actor", c.actor),
          field: c.field,
          before: c.before ?? "",
          after: c.after ?? "",
        },
      ]),
    );
    // A comment alone announces nothing: the payload carries the incident, not its history, so the event would repeat the last one.
    if (log.some((c) => c.field !== "comment")) actions.push(outboxAction(partitionKey, updateEvent(next, now)));
    // Any change, a comment too, triages the incident: a placement that read the account
    // before it must group again rather than regroup or remove it (placeForAccount).
    actions.push(["upsert", { partitionKey, rowKey: PLACEMENT, at: new Date(now).toISOString() }, "Replace"]);
    const client = await this.store.table("Incidents");
    try {
      const response = await client.submitTransaction(actions);
      const newEtag = response.getResponseForEntity(INCIDENT + incident.id)?.etag;
      const stored = newEtag ? { ...next, etag: newEtag } : await this.getIncident(incident.id);
      if (!stored) return { ok: false, reason: "missing" };
      return { ok: true, incident: stored, changes: log };
    } catch (error) {
      const status = statusOf(error);
      if (status === 412) return { ok: false, reason: "stale" };
      if (status === 404) return { ok: false, reason: "missing" };
      // Two analysts in the same millisecond: the history row exists; the ETag decides.
      if (status === 409) return { ok: false, reason: "stale" };
      throw error;
    }
  }
}

const HISTORY = "history:";

export interface IncidentQuery {
  status?: readonly IncidentStatus[];
  severity?: readonly Severity[];
  ruleId?: string;
  /** Compared case-insensitively. */
  account?: string;
  /** Incidents with an alert at or after this (epoch ms). */
  from?: number;
  /** Incidents with an alert before this (epoch ms). */
  to?: number;
}

export interface IncidentChanges {
  status?: IncidentStatus;
  owner?: string | null;
  classification?: string | null;
  comment?: string;
}

export interface IncidentChange {
  at: number;
  actor: Actor;
  field: "status" | "owner" | "classification" | "comment";
  before: string | null;
  after: string | null;
}

interface HistoryEntity {
  at: string;
  actor: string;
  actorId?: string;
  actorTenantId?: string;
  field: string;
  before: string;
  after: string;
}

function incidentToEntity(partitionKey: string, i: Incident) {
  return {
    partitionKey,
    rowKey: INCIDENT + i.id,
    ruleId: i.ruleId,
    ruleName: i.ruleName,
    account: i.account,
    severity: i.severity,
    status: i.status,
    title: i.title,
    firstAlertTime: sortableIso(i.firstAlertTime),
    lastAlertTime: sortableIso(i.lastAlertTime),
    alertIds: JSON.stringify(i.alertIds),
    alertCount: i.alertIds.length,
    createdAt: new Date(i.createdAt).toISOString(),
    updatedAt: new Date(i.updatedAt).toISOString(),
    owner: i.owner ?? "",
    classification: i.classification ?? "",
    ...(i.memberIncidentIds ? { memberIncidentIds: JSON.stringify(i.memberIncidentIds) } : {}),
  };
}

export function incidentFromEntity(e: IncidentEntity & { rowKey?: string; partitionKey?: string; etag: string }): Incident {
  return {
    id: (e.rowKey ?? "").slice(INCIDENT.length),
    ruleId: e.ruleId,
    ruleName: e.ruleName,
    account: e.account || decodeKey(e.partitionKey ?? ""),
    severity: e.severity as Severity,
    status: e.status as IncidentStatus,
    title: e.title,
    firstAlertTime: storedTime(e.firstAlertTime),
    lastAlertTime: storedTime(e.lastAlertTime),
    alertIds: JSON.parse(e.alertIds) as string[],
    createdAt: Date.parse(e.createdAt),
    updatedAt: Date.parse(e.updatedAt),
    owner: e.owner || null,
    classification: e.classification || null,
    ...(e.memberIncidentIds ? { memberIncidentIds: JSON.parse(e.memberIncidentIds) as string[] } : {}),
    etag: e.etag,
  };
}

function alertToEntity(partitionKey: string, a: Alert) {
  return {
    partitionKey,
    rowKey: ALERT + a.id,
    ruleId: a.ruleId,
    ruleName: a.ruleName,
    severity: a.severity,
    time: sortableIso(a.time),
    account: a.account,
    ip: a.ip ?? "",
    title: a.title,
    details: JSON.stringify(a.details),
    entities: JSON.stringify(a.entities),
    links: JSON.stringify(a.links ?? []),
    incidentId: a.incidentId,
  };
}

export function alertFromEntity(e: AlertEntity & { rowKey?: string }): Alert {
  return {
    id: (e.rowKey ?? "").slice(ALERT.length),
    ruleId: e.ruleId,
    ruleName: e.ruleName,
    severity: e.severity as Severity,
    time: storedTime(e.time),
    account: e.account,
    ip: e.ip || null,
    title: e.title,
    details: JSON.parse(e.details) as Alert["details"],
    entities: JSON.parse(e.entities) as Alert["entities"],
    links: e.links ? (JSON.parse(e.links) as string[]) : [],
    incidentId: e.incidentId,
  };
}

/** An event time as stored: fixed-width seven-digit ISO text (so filters compare it as a time), exact. */
function storedTime(text: string): DateTime {
  const t = toDateTime(text);
  if (t === null) throw new Error(`stored time is not a datetime: ${JSON.stringify(text)}`);
  return t;
}
