// Incidents table. An account's incidents AND its alerts live in one partition (the
// encoded account), RowKeys `incident:<id>` and `alert:<id>`: placing alerts into an
// incident is then one entity-group transaction, all or nothing, so a crash can never
// leave an alert stored without its incident or the other way round.
import type { TransactionAction } from "@azure/data-tables";
import { groupAlerts, groupingHorizon, type Alert, type Incident, type IncidentStatus } from "../engine/incidents.js";
import type { Severity } from "../rules/rule.js";
import { decodeKey, encodeKey, prefixRange } from "./keys.js";
import { forEachLimit, odata, statusOf, type TableStore } from "./tables.js";

const INCIDENT = "incident:";
const ALERT = "alert:";
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
  incidentId: string;
}

export interface Placement {
  alerts: Alert[];
  incidents: Incident[];
}

export class IncidentRepository {
  constructor(private readonly store: TableStore) {}

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
    const horizon = new Date(groupingHorizon(Math.min(...alerts.map((a) => a.time)))).toISOString();
    const range = prefixRange(INCIDENT);
    const incidentEntities = await this.store.list<IncidentEntity>(
      "Incidents",
      `PartitionKey eq ${odata(partitionKey)} and RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)} and lastAlertTime ge ${odata(horizon)}`,
    );
    // An alert counts as placed only when an incident holds it: every incident that could
    // (lastAlertTime >= its time) is loaded above, and groupAlerts skips those alerts. An
    // alert entity alone is not enough: with more than 100 actions the alerts go in earlier
    // transactions than their incident, and a crash or an ETag conflict between them would
    // otherwise leave those alerts without an incident for good.
    const existing = incidentEntities.map(incidentFromEntity);
    const grouping = groupAlerts(existing, alerts, now);
    const known = new Set(existing.map((i) => i.id));
    const actions: TransactionAction[] = grouping.alerts.map((a) => ["upsert", alertToEntity(partitionKey, a), "Replace"]);
    for (const incident of grouping.incidents) {
      const entity = incidentToEntity(partitionKey, incident);
      actions.push(known.has(incident.id) ? ["update", entity, "Merge", { etag: incident.etag }] : ["create", entity]);
    }
    // Incidents go last: when a partition needs several transactions, the incident is
    // written only once all its alerts are.
    await this.store.submit("Incidents", actions);
    return grouping;
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
    firstAlertTime: new Date(i.firstAlertTime).toISOString(),
    lastAlertTime: new Date(i.lastAlertTime).toISOString(),
    alertIds: JSON.stringify(i.alertIds),
    alertCount: i.alertIds.length,
    createdAt: new Date(i.createdAt).toISOString(),
    updatedAt: new Date(i.updatedAt).toISOString(),
    owner: i.owner ?? "",
    classification: i.classification ?? "",
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
    firstAlertTime: Date.parse(e.firstAlertTime),
    lastAlertTime: Date.parse(e.lastAlertTime),
    alertIds: JSON.parse(e.alertIds) as string[],
    createdAt: Date.parse(e.createdAt),
    updatedAt: Date.parse(e.updatedAt),
    owner: e.owner || null,
    classification: e.classification || null,
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
    time: new Date(a.time).toISOString(),
    account: a.account,
    ip: a.ip ?? "",
    title: a.title,
    details: JSON.stringify(a.details),
    entities: JSON.stringify(a.entities),
    incidentId: a.incidentId,
  };
}

export function alertFromEntity(e: AlertEntity & { rowKey?: string }): Alert {
  return {
    id: (e.rowKey ?? "").slice(ALERT.length),
    ruleId: e.ruleId,
    ruleName: e.ruleName,
    severity: e.severity as Severity,
    time: Date.parse(e.time),
    account: e.account,
    ip: e.ip || null,
    title: e.title,
    details: JSON.parse(e.details) as Alert["details"],
    entities: JSON.parse(e.entities) as Alert["entities"],
    incidentId: e.incidentId,
  };
}
