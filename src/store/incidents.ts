// Incidents table. An account's incidents AND its alerts live in one partition (the
// encoded account), RowKeys `incident:<id>` and `alert:<id>`: placing alerts into an
// incident is then one entity-group transaction, all or nothing, so a crash can never
// leave an alert stored without its incident or the other way round.
import { actorColumns, actorFromColumns, type Actor } from "../model/actor.js";
import type { TransactionAction } from "@azure/data-tables";
import { correlationHorizon, CORRELATION_RULE_ID, DEFAULT_CORRELATION, isCorrelation, type CorrelationSettings } from "../model/correlation.js";
import type { Alert, Grouping, Incident, IncidentChange, IncidentChanges, IncidentPlanner, IncidentQuery, IncidentStatus, Listed } from "../model/incident.js";
import { outboxAction, packTransactions, placementEvent, updateEvent } from "./outbox.js";
import type { Severity } from "../model/severity.js";
import { compareTime, fromMs, sortableIso, toDateTime, type DateTime } from "../model/time.js";
import { accountOfIncidentId } from "../model/incident-id.js";
import {
  ACCOUNTS,
  IndexTable,
  SUMMARY,
  listedFromRow,
  tallyFromText,
  type IndexChange,
  type IndexEntity,
  type IndexKey,
  type Prepared,
  STALE_AFTER_MS,
  accountRowKey,
  accountView,
  cursorKey,
  ipSeenOf,
  listRange,
  rowMatches,
  tallyEntity,
  tallyFromEntity,
  tallyOf,
  type AccountTally,
  type AccountView,
  type IndexList,
  type IpSeen,
} from "./incident-index.js";
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
  /** IpSeen as JSON; absent on rows stored before incidents kept it. */
  ips?: string;
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
  private readonly index: IndexTable;
  private indexed?: Promise<void>;

  constructor(
    private readonly store: TableStore,
    /** The engine's planning, for placing alerts (a repository that only reads, updates or purges needs none). */
    private readonly planner?: IncidentPlanner,
    /** The clock that ages stale index rows (tests move it on). */
    private readonly now: () => number = Date.now,
    /** Account correlation across rules (TOKENWATCH_CORRELATION_*). */
    private readonly correlation: CorrelationSettings = DEFAULT_CORRELATION,
  ) {
    this.index = new IndexTable(store);
  }

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

  private plannerFor(what: string): IncidentPlanner {
    if (!this.planner) throw new Error(`IncidentRepository: to ${what} it needs the engine's planner (createStores passes it)`);
    return this.planner;
  }

  private async placeForAccount(account: string, alerts: Omit<Alert, "incidentId">[], now: number): Promise<Placement> {
    const partitionKey = encodeKey(account);
    // Read first: every transaction below is conditional on this row being as this placement
    // last saw it (see the end of this method).
    let placementEtag = (await this.store.get("Incidents", partitionKey, PLACEMENT))?.etag;
    const planner = this.plannerFor("place alerts");
    const horizon = planner.groupingHorizon(alerts.reduce((m, a) => (a.time < m ? a.time : m), alerts[0]!.time));
    const range = prefixRange(INCIDENT);
    const history = prefixRange(HISTORY);
    // Every incident of the account: the account's tally counts them all; grouping needs those past the horizon.
    const [incidentEntities, comments] = await Promise.all([
      this.store.list<IncidentEntity>("Incidents", `PartitionKey eq ${odata(partitionKey)} and RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)}`),
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
    const all = incidentEntities.map(incidentFromEntity);
    // Correlated incidents take no alerts of their own: correlate() below keeps them.
    const existing = all.filter((i) => i.lastAlertTime >= horizon && !isCorrelation(i));
    const commented = new Set(comments.map((c) => c.rowKey.slice(HISTORY.length).split(":")[0]!));
    // Untriaged incidents are regrouped with the new alerts, from their stored alerts.
    const untriaged = existing.filter((i) => !planner.isTriaged(i, commented));
    const stored = untriaged.length ? await this.listAlerts(`PartitionKey eq ${odata(partitionKey)} and time ge ${odata(sortableIso(untriaged.reduce((t, i) => (i.firstAlertTime < t ? i.firstAlertTime : t), untriaged[0]!.firstAlertTime)))}`) : [];
    const grouping = planner.groupAlerts(existing, alerts, now, { stored, commented });
    const known = new Set(existing.map((i) => i.id));
    const actions: TransactionAction[] = [...grouping.alerts, ...grouping.moved].map((a) => ["upsert", alertToEntity(partitionKey, a), "Replace"]);
    // The IPs a list shows: from all of an incident's alerts where they are at hand (new and
    // regrouped incidents), else merged into what its row had.
    const alertsById = new Map<string, Alert>([...stored, ...grouping.alerts, ...grouping.moved].map((a) => [a.id, a]));
    const ipsBefore = new Map(incidentEntities.map((e) => [incidentFromEntity(e).id, ipSeenFromEntity(e)]));
    const ipsOf = async (incident: Incident): Promise<IpSeen> => {
      const mine = incident.alertIds.map((id) => alertsById.get(id));
      if (mine.every((a) => a !== undefined)) return ipSeenOf(mine as Alert[]);
      const added = grouping.alerts.filter((a) => a.incidentId === incident.id);
      return ipSeenOf(added, ipsBefore.get(incident.id) ?? ipSeenOf(await this.alertsOf(incident)));
    };
    const ips = new Map(await Promise.all(grouping.incidents.map(async (i) => [i.id, await ipsOf(i)] as const)));
    // Each incident travels with the outbox row announcing its change (webhooks): both in
    // one transaction, so no change is stored unannounced (src/store/outbox.ts). An
    // incident that gained alerts (new or moved in by a regrouping) announces them; one that
    // only lost alerts to a regrouping, or was merged away, announces its new state.
    const groups = grouping.incidents.map((incident): TransactionAction[] => {
      const entity = incidentToEntity(partitionKey, incident, ips.get(incident.id)!);
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
      const { correlated, before, alerts: memberAlerts } = await this.correlations(partitionKey, alerts, grouping, now);
      for (const incident of correlated) {
        const was = before.get(incident.id);
        const added = incident.alertIds.filter((id) => !was?.alertIds.includes(id));
        ips.set(incident.id, ipSeenOf(incident.alertIds.flatMap((id) => memberAlerts.get(id) ?? [])));
        const entity = incidentToEntity(partitionKey, incident, ips.get(incident.id)!);
        groups.push([was ? ["update", entity, "Merge", { etag: was.etag }] : ["create", entity], outboxAction(partitionKey, placementEvent(incident, !was, added, now))]);
        grouping.incidents.push(incident);
      }
    }
    if (actions.length === 0 && groups.length === 0) return grouping;
    // The account's tally is written with the last incident (packTransactions keeps a group whole, in order).
    const after = new Map(all.map((i) => [i.id, i]));
    for (const i of grouping.removed) after.delete(i.id);
    for (const i of grouping.incidents) after.set(i.id, i);
    const tally = tallyOf(account, [...after.values()]);
    groups.push([tallyAction(partitionKey, account, tally)]);
    const replaced = new Set([...grouping.incidents, ...grouping.removed].map((i) => i.id));
    const change: IndexChange = {
      before: all.filter((i) => replaced.has(i.id)),
      after: grouping.incidents.map((incident) => ({ incident, ips: ips.get(incident.id)! })),
      tallyBefore: tallyOf(account, all),
      tallyAfter: tally,
    };
    // The index rows of the new state go first, pending (see src/store/incident-index.ts).
    const prepared = await this.prepare(change);
    // Incidents go last: when a partition needs several transactions, the incident is
    // written only once all its alerts are. Each transaction also rewrites the partition's
    // placement row under the ETag the previous one left (or the one read above), so two
    // placements into one account cannot interleave: the second to write fails with 412/409
    // and place() groups again from what the first stored. Without it, two writers whose
    // alerts began at different alerts created two different incidents holding the same
    // alerts (a backfill next to the live run, or a run whose lease expired).
    const guard = { partitionKey, rowKey: PLACEMENT, at: new Date(now).toISOString() };
    const etags = new Map<string, string>();
    await this.store.submitGuarded("Incidents", guard, placementEtag, packTransactions(actions, groups, MAX_BATCH - 1), etags);
    await this.index.settle(await prepared.fresh(), incidentEtags(etags));
    return grouping;
  }

  /**
   * Step 1 of an index change, and the rows to settle after the commit: written again when
   * the commit comes so late that a reader could have taken them for a crash's leftovers.
   */
  private async prepare(change: IndexChange): Promise<{ fresh(): Promise<Prepared> }> {
    const at = Date.now();
    const prepared = await this.index.prepare(change);
    return { fresh: async () => (Date.now() - at > STALE_AFTER_MS / 2 ? this.index.prepare(change) : prepared) };
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
    return { correlated: this.plannerFor("correlate").correlate([...byId.values()], existing, this.correlation, now, removed), before: new Map(existing.map((i) => [i.id, i])), alerts: byId };
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

  /** Incidents matching every given criterion (all incidents when none): a scan, for tools; lists read pages. */
  async queryIncidents(q: IncidentQuery = {}): Promise<Incident[]> {
    return this.listIncidents(queryFilter(q));
  }

  /**
   * One incident by id (ids are unique across accounts), with its ETag: a point read, as
   * the id names its account; an id from before ids did (a bare digest) is looked up by
   * its row key across partitions.
   */
  async getIncident(id: string): Promise<Incident | undefined> {
    const account = accountOfIncidentId(id);
    if (account === null) {
      const found = await this.store.list<IncidentEntity>("Incidents", `RowKey eq ${odata(INCIDENT + id)}`);
      return found[0] && incidentFromEntity(found[0]);
    }
    if (!isKeyable(account)) return undefined;
    const entity = await this.store.get<IncidentEntity>("Incidents", keyOf(account), INCIDENT + id);
    return entity && incidentFromEntity(entity);
  }

  /**
   * A page of incidents matching `q`, newest first (latest alert, then id), strictly after
   * `after` (the last item of the previous page): at most `limit`, and whether more follow.
   * One account's incidents are one partition query; otherwise the index is read (one
   * query, more only when stale rows are skipped) and each row checked by a point read.
   */
  async incidentPage(q: IncidentQuery, limit: number, after?: { t: DateTime; id: string }): Promise<{ items: Listed[]; more: boolean }> {
    if (q.account !== undefined) {
      const rows = (await this.listIncidentEntities(queryFilter(q))).sort((a, b) => newestFirst(a.incident, b.incident));
      const rest = after ? rows.filter(({ incident: i }) => i.lastAlertTime < after.t || (i.lastAlertTime === after.t && i.id > after.id)) : rows;
      return { items: await this.withIps(rest.slice(0, limit)), more: rest.length > limit };
    }
    await this.ensureIndexed();
    const list: IndexList = q.status?.length === 1 ? `status-${q.status[0]!}` : q.severity?.length === 1 ? `severity-${q.severity[0]!}` : "all";
    const range = listRange(list, q.from);
    // Pending rows pass whatever the terms: each is checked against its incident below, and a
    // mark (a deleted row's key alone, no columns) must be read to be repaired.
    const terms = queryTerms({ ...q, account: undefined });
    const filter = [
      `PartitionKey ge ${odata(range.ge)}`,
      range.le ? `PartitionKey le ${odata(range.le)}` : `PartitionKey lt ${odata(range.lt)}`,
      ...(terms.length ? [`(${terms.join(" and ")} or pending eq true)`] : []),
    ].join(" and ");
    const found: { row: { partitionKey?: string; rowKey?: string }; item: EntityOf }[] = [];
    let from = after && cursorKey(list, after.t, after.id);
    for (;;) {
      const want = limit + 1 - found.length;
      const { rows, more } = await this.index.scan(filter, want, from);
      // A confirmed row is the incident as it is; a pending one is checked against it.
      const current = await Promise.all(
        rows.map(async (row): Promise<EntityOf | undefined> => {
          if (row.pending === false) return listedFromRow(row as IndexEntity);
          // A mark of a row a settled change had deleted names nothing.
          if (row.account === undefined || row.incidentId === undefined) return undefined;
          const entity = await this.store.get<IncidentEntity>("Incidents", keyOf(row.account), INCIDENT + row.incidentId);
          const incident = entity && incidentFromEntity(entity);
          return incident && rowMatches(row as IndexKey, incident) ? { incident, ips: ipSeenFromEntity(entity) } : undefined;
        }),
      );
      rows.forEach((row, i) => current[i] && matches(current[i].incident, q) && found.push({ row, item: current[i] }));
      // (A row whose incident predates kept IPs waits for the incident's next change.)
      const repairable = rows.flatMap((row, i) => (current[i] === undefined ? [{ row }] : current[i].ips ? [{ row, found: { incident: current[i].incident, ips: current[i].ips } }] : []));
      await this.index.repair(repairable, this.now());
      const last = rows.at(-1);
      if (found.length > limit || !more || !last) break;
      from = { partitionKey: last.partitionKey!, rowKey: last.rowKey! };
    }
    return { items: await this.withIps(found.slice(0, limit).map((f) => f.item)), more: found.length > limit };
  }

  /** A page of the accounts view (accounts hit by more rules first, then by severity, then latest) after the row key `after`. */
  async accountPage(limit: number, after?: string): Promise<{ items: AccountView[]; next: string | null }> {
    await this.ensureIndexed();
    const found: { rowKey: string; view: AccountView }[] = [];
    let from = after === undefined ? undefined : { partitionKey: ACCOUNTS, rowKey: after };
    for (;;) {
      const { rows, more } = await this.index.scan(`PartitionKey eq ${odata(ACCOUNTS)}`, limit + 1 - found.length, from);
      const checked = await Promise.all(
        rows.map(async (row) => {
          if (row.pending === false) return tallyFromText(row.tally!);
          if (row.account === undefined) return undefined;
          const tally = await this.tally(row.account);
          return tally && accountRowKey(tally) === row.rowKey ? tally : undefined;
        }),
      );
      rows.forEach((row, i) => checked[i] && found.push({ rowKey: row.rowKey!, view: accountView(checked[i]) }));
      await this.index.repair(rows.map((row, i) => ({ row, found: checked[i] })), this.now());
      const last = rows.at(-1);
      if (found.length > limit || !more || !last) break;
      from = { partitionKey: ACCOUNTS, rowKey: last.rowKey! };
    }
    const page = found.slice(0, limit);
    return { items: page.map((f) => f.view), next: found.length > limit ? page.at(-1)!.rowKey : null };
  }

  /** An account's tally as its partition holds it (null: no incidents). */
  private async tally(account: string): Promise<AccountTally | null> {
    const entity = await this.store.get<TallyColumns>("Incidents", keyOf(account), SUMMARY);
    if (!entity || entity.rules === "[]") return null;
    return tallyFromEntity(entity);
  }

  /** Incident rows (with their IPs) matching a filter, all partitions. */
  private async listIncidentEntities(filter?: string): Promise<EntityOf[]> {
    const range = prefixRange(INCIDENT);
    const scope = `RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)}`;
    const entities = await this.store.list<IncidentEntity>("Incidents", filter ? `${scope} and (${filter})` : scope);
    return entities.map((e) => ({ incident: incidentFromEntity(e), ips: ipSeenFromEntity(e) }));
  }

  /** IPs as a list shows them. */
  private async withIps(items: readonly EntityOf[]): Promise<Listed[]> {
    return (await this.withIpSeen(items)).map(({ incident, ips }) => ({ incident, ips: ips.map((e) => e[0]) }));
  }

  /**
   * Stores incidents with their alerts, index rows and account tallies as placements would
   * have left them, in entity-group transactions of up to 100 rows, several at once, into
   * an empty table: for benchmarks and imports of many incidents, which placing window by
   * window would take hours to write. Each alert's incidentId names its incident, and each
   * incident's alertIds its alerts. Nothing is announced (no outbox rows).
   */
  async bulkLoad(incidents: readonly Incident[], alerts: readonly Alert[]): Promise<void> {
    const alertsOf = new Map<string, Alert[]>();
    for (const a of alerts) alertsOf.set(a.incidentId, [...(alertsOf.get(a.incidentId) ?? []), a]);
    const byAccount = new Map<string, Incident[]>();
    for (const i of incidents) byAccount.set(i.account, [...(byAccount.get(i.account) ?? []), i]);
    const transactions: TransactionAction[][] = [];
    const tallies: AccountTally[] = [];
    const listed: { incident: Incident; ips: IpSeen }[] = [];
    for (const [account, mine] of byAccount) {
      const partitionKey = keyOf(account);
      const tally = tallyOf(account, mine)!;
      tallies.push(tally);
      const actions: TransactionAction[] = [tallyAction(partitionKey, account, tally)];
      for (const incident of mine) {
        const ips = ipSeenOf(alertsOf.get(incident.id) ?? []);
        listed.push({ incident, ips });
        actions.push(["upsert", incidentToEntity(partitionKey, incident, ips), "Replace"]);
        for (const a of alertsOf.get(incident.id) ?? []) actions.push(["upsert", alertToEntity(partitionKey, a), "Replace"]);
      }
      for (let i = 0; i < actions.length; i += MAX_BATCH) transactions.push(actions.slice(i, i + MAX_BATCH));
    }
    // The incidents first, for the ETags their confirmed index rows carry.
    const client = await this.store.table("Incidents");
    const etags = new Map<string, string>();
    await forEachLimit(transactions, 8, async (batch) => {
      const response = await retryDropped(() => client.submitTransaction(batch));
      batch.forEach((a, i) => etags.set(String(a[1].rowKey), response.subResponses[i]!.etag!));
    });
    const withEtags = listed.map(({ incident, ips }) => ({ incident: { ...incident, etag: etags.get(INCIDENT + incident.id)! }, ips }));
    await forEachLimit(await this.index.load(withEtags, tallies), 8, (batch) => retryDropped(() => this.store.submit("IncidentIndex", batch)));
    await this.store.submit("IncidentIndex", [["upsert", { partitionKey: "meta", rowKey: "indexed", at: new Date().toISOString() }, "Replace"]]);
  }

  /**
   * Index rows and tallies for incidents stored before the index existed: once per
   * deployment (a marker row records it), and once per process to look for the marker.
   */
  private ensureIndexed(): Promise<void> {
    this.indexed ??= (async () => {
      if (await this.store.get("IncidentIndex", "meta", "indexed")) return;
      const byAccount = new Map<string, Incident[]>();
      for (const { incident } of await this.listIncidentEntities()) byAccount.set(incident.account, [...(byAccount.get(incident.account) ?? []), incident]);
      await forEachLimit(byAccount, CONCURRENCY, ([account]) => this.refreshTally(account, true));
      await this.store.submit("IncidentIndex", [["upsert", { partitionKey: "meta", rowKey: "indexed", at: new Date().toISOString() }, "Replace"]]);
    })().catch((error: unknown) => {
      this.indexed = undefined;
      throw error;
    });
    return this.indexed;
  }

  /**
   * Recomputes an account's tally from its incidents and stores it under the placement
   * guard (retention deleted some; the index was built), writing its index rows ahead
   * (and, with `incidents`, every incident's rows too).
   */
  private async refreshTally(account: string, incidents = false): Promise<void> {
    const partitionKey = keyOf(account);
    for (let attempt = 1; ; attempt++) {
      const guard = (await this.store.get("Incidents", partitionKey, PLACEMENT))?.etag;
      const [entities, tallyBefore] = await Promise.all([this.listIncidentEntities(`PartitionKey eq ${odata(partitionKey)}`), this.tally(account)]);
      const all = await this.withIpSeen(entities);
      const tally = tallyOf(account, all.map((e) => e.incident));
      const prepared = await this.prepare({ before: [], after: incidents ? all : [], tallyBefore, tallyAfter: tally });
      try {
        await this.store.submitGuarded("Incidents", { partitionKey, rowKey: PLACEMENT, at: new Date(this.now()).toISOString() }, guard, [[tallyAction(partitionKey, account, tally)]]);
      } catch (error) {
        const status = statusOf(error);
        if ((status !== 409 && status !== 412) || attempt >= CONFLICT_RETRIES) throw error;
        continue;
      }
      // The incidents were not rewritten: their ETags are as read, under the placement row.
      await this.index.settle(await prepared.fresh(), new Map(all.map((e) => [e.incident.id, e.incident.etag ?? ""])));
      return;
    }
  }

  /** Entities with their IPs; from their alerts where a row from before incidents kept them has none. */
  private async withIpSeen(items: readonly EntityOf[]): Promise<{ incident: Incident; ips: IpSeen }[]> {
    const missing = items.filter((i) => i.ips === undefined).map((i) => i.incident);
    const alerts = missing.length ? await this.alertsOfIncidents(missing) : new Map<string, Alert[]>();
    return items.map(({ incident, ips }) => ({ incident, ips: ips ?? ipSeenOf(alerts.get(incident.id)!) }));
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
        // Its index rows are marked first, so a reader checks them against the incident (gone).
        const prepared = await this.prepare({ before: [incidentFromEntity(entity)], after: [], tallyBefore: null, tallyAfter: null });
        await (await this.store.table("Incidents")).deleteEntity(partitionKey, row.rowKey, { etag: last });
        deleted++;
        await this.index.settle(await prepared.fresh(), new Map());
        // The account's tally counts it no more.
        await this.refreshTally(row.account || decodeKey(partitionKey));
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
    const client = await this.store.table("Incidents");
    for (let attempt = 1; ; attempt++) {
      // The account's tally counts open incidents: it is recomputed from all of them and
      // written with the change, under the placement row as read before (so a placement
      // or another analyst's change in between makes this one read again).
      const guard = (await this.store.get("Incidents", partitionKey, PLACEMENT))?.etag;
      const entities = await this.listIncidentEntities(`PartitionKey eq ${odata(partitionKey)}`);
      const mine = entities.find((e) => e.incident.id === incident.id);
      if (!mine) return { ok: false, reason: "missing" };
      const { ips } = (await this.withIpSeen([mine]))[0]!;
      const others = entities.map((e) => e.incident).filter((i) => i.id !== incident.id);
      const tally = tallyOf(incident.account, [...others, next]);
      const prepared = await this.prepare({ before: [incident], after: [{ incident: next, ips }], tallyBefore: tallyOf(incident.account, [...others, incident]), tallyAfter: tally });
      // Any change, a comment too, triages the incident: a placement that read the account
      // before it must group again rather than regroup or remove it (placeForAccount).
      const placement = { partitionKey, rowKey: PLACEMENT, at: new Date(now).toISOString() };
      const all: TransactionAction[] = [...actions, tallyAction(partitionKey, incident.account, tally), guard ? ["update", placement, "Replace", { etag: guard }] : ["create", placement]];
      try {
        const response = await client.submitTransaction(all);
        // Sub-responses come in request order: the incident's is the first.
        const newEtag = response.subResponses[0]?.etag;
        const stored = newEtag ? { ...next, etag: newEtag } : await this.getIncident(incident.id);
        if (!stored) return { ok: false, reason: "missing" };
        await this.index.settle(await prepared.fresh(), new Map([[incident.id, stored.etag ?? ""]]));
        return { ok: true, incident: stored, changes: log };
      } catch (error) {
        const status = statusOf(error);
        // Two analysts in the same millisecond: the history row exists; the ETag decides.
        if (status !== 412 && status !== 404 && status !== 409) throw error;
        const current = await this.getIncident(incident.id);
        if (!current) return { ok: false, reason: "missing" };
        // Only the placement row moved (another incident of the account changed): read it again.
        if (current.etag === etag && status !== 404 && attempt < CONFLICT_RETRIES) continue;
        return { ok: false, reason: "stale" };
      }
    }
  }
}

const HISTORY = "history:";

type EntityOf = { incident: Incident; ips: IpSeen | undefined };
type TallyColumns = { account: string; rules: string; firstSeen: string; lastSeen: string };

/** Newest first: latest alert, then id (in key order, as the index sorts). */
const newestFirst = (a: Incident, b: Incident) => compareTime(b.lastAlertTime, a.lastAlertTime) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** An account's partition key (accounts are stored lowercase, as the rules report them). */
const keyOf = (account: string) => encodeKey(account);
const isKeyable = (account: string) => {
  try {
    return keyOf(account) !== "";
  } catch {
    return false;
  }
};

/** The OData terms of a query, on incident rows and index rows alike (both carry these columns). */
function queryTerms(q: IncidentQuery): string[] {
  const terms: string[] = [];
  // Accounts are stored lowercase (the rules report them so); a UPN copied from Entra is mixed case.
  if (q.account !== undefined) terms.push(`PartitionKey eq ${odata(keyOf(q.account.toLowerCase()))}`);
  if (q.status?.length) terms.push(`(${q.status.map((s) => `status eq ${odata(s)}`).join(" or ")})`);
  if (q.severity?.length) terms.push(`(${q.severity.map((s) => `severity eq ${odata(s)}`).join(" or ")})`);
  if (q.ruleId !== undefined) terms.push(`ruleId eq ${odata(q.ruleId)}`);
  // Incidents whose alerts overlap [from, to).
  if (q.from !== undefined) terms.push(`lastAlertTime ge ${odata(sortableIso(fromMs(q.from)))}`);
  if (q.to !== undefined) terms.push(`firstAlertTime lt ${odata(sortableIso(fromMs(q.to)))}`);
  return terms;
}

const queryFilter = (q: IncidentQuery) => queryTerms(q).join(" and ") || undefined;

/** Whether an incident, as stored now, matches a query (an index row may describe an older state). */
function matches(i: Incident, q: IncidentQuery): boolean {
  return (
    (q.account === undefined || i.account === q.account.toLowerCase()) &&
    (!q.status?.length || q.status.includes(i.status)) &&
    (!q.severity?.length || q.severity.includes(i.severity)) &&
    (q.ruleId === undefined || i.ruleId === q.ruleId) &&
    (q.from === undefined || i.lastAlertTime >= fromMs(q.from)) &&
    (q.to === undefined || i.firstAlertTime < fromMs(q.to))
  );
}

/**
 * Runs an idempotent write again when the connection dropped under it (a kept-alive socket
 * the service closed while a large batch was being sent: EPIPE, ECONNRESET).
 */
async function retryDropped<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if ((code !== "EPIPE" && code !== "ECONNRESET") || attempt >= 3) throw error;
    }
  }
}

/** Incident ETags by id, from a commit's ETags by row key. */
const incidentEtags = (etags: ReadonlyMap<string, string>) => new Map([...etags].filter(([k]) => k.startsWith(INCIDENT)).map(([k, v]) => [k.slice(INCIDENT.length), v]));

/** Writes an account's tally (an empty one when it has no incident left). */
function tallyAction(partitionKey: string, account: string, tally: AccountTally | null): TransactionAction {
  return ["upsert", tally ? tallyEntity(partitionKey, tally) : { partitionKey, rowKey: SUMMARY, account, rules: "[]", firstSeen: "", lastSeen: "" }, "Replace"];
}

function ipSeenFromEntity(e: { ips?: string }): IpSeen | undefined {
  return e.ips === undefined || e.ips === "" ? undefined : (JSON.parse(e.ips) as IpSeen);
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

function incidentToEntity(partitionKey: string, i: Incident, ips: IpSeen | undefined) {
  return {
    ...(ips ? { ips: JSON.stringify(ips) } : {}),
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
