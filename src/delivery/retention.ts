// Retention. Table Storage has no TTL, so what has outlived its setting is deleted by the
// delivery worker's run (every minute, in Azure and in `tokenwatch serve`), at most
// TOKENWATCH_RETENTION_MAX_DELETES_PER_RUN rows per run: a larger backlog goes in later runs.
import type { Config } from "../config.js";
import { DeliveryRepository } from "./deliveries.js";
import { AllowlistRepository } from "../store/allowlists.js";
import { IncidentRepository } from "../store/incidents.js";
import type { TableStore } from "../store/tables.js";

/** Days each kind of row is kept (0: forever), and the most rows one run deletes. */
export interface RetentionPolicy {
  closedIncidentDays: number;
  deliveryDays: number;
  auditDays: number;
  maxDeletesPerRun: number;
}

export interface RetentionReport {
  /** Closed incidents' rows: the incidents, their alerts and their history. */
  incidentRows: number;
  deliveries: number;
  auditRows: number;
}

const DAY = 86_400_000;

export function retentionPolicy(config: Config): RetentionPolicy {
  return {
    closedIncidentDays: config.TOKENWATCH_RETENTION_CLOSED_INCIDENT_DAYS,
    deliveryDays: config.TOKENWATCH_RETENTION_DELIVERY_DAYS,
    auditDays: config.TOKENWATCH_RETENTION_AUDIT_DAYS,
    maxDeletesPerRun: config.TOKENWATCH_RETENTION_MAX_DELETES_PER_RUN,
  };
}

/** Deletes what is older than the policy keeps, at most policy.maxDeletesPerRun rows. */
export async function purgeExpired(store: TableStore, policy: RetentionPolicy, now: number): Promise<RetentionReport> {
  const report: RetentionReport = { incidentRows: 0, deliveries: 0, auditRows: 0 };
  let left = policy.maxDeletesPerRun;
  if (policy.deliveryDays > 0) left -= report.deliveries = await new DeliveryRepository(store).purgeSettled(now - policy.deliveryDays * DAY, left);
  if (policy.closedIncidentDays > 0 && left > 0) left -= report.incidentRows = await new IncidentRepository(store).purgeClosed(now - policy.closedIncidentDays * DAY, left);
  if (policy.auditDays > 0 && left > 0) report.auditRows = await new AllowlistRepository(store).purgeAudit(now - policy.auditDays * DAY, left);
  return report;
}
