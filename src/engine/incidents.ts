// Alerts and incidents, and the pure grouping of one into the other.
import { createHash } from "node:crypto";
import { compareTime, isoOf, TICKS_PER_MS, type DateTime } from "../rules/kql.js";
import type { AlertDraft, Entity, Rule, Severity } from "../rules/rule.js";

export interface Alert {
  id: string;
  ruleId: string;
  ruleName: string;
  severity: Severity;
  /** The triggering event's TimeGenerated, exact (100-ns ticks). */
  time: DateTime;
  account: string;
  ip: string | null;
  title: string;
  details: AlertDraft["details"];
  entities: Entity[];
  incidentId: string;
}

export const INCIDENT_STATUSES = ["New", "Active", "Closed"] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

export interface Incident {
  id: string;
  ruleId: string;
  ruleName: string;
  account: string;
  severity: Severity;
  status: IncidentStatus;
  title: string;
  /** Event times of its first and last alert, exact. */
  firstAlertTime: DateTime;
  lastAlertTime: DateTime;
  alertIds: string[];
  createdAt: number;
  updatedAt: number;
  owner: string | null;
  classification: string | null;
  etag?: string;
}

/** Sentinel's grouping: PT5H lookback, at most 150 alerts per incident, closed ones stay closed. */
export const INCIDENT_LOOKBACK_MS = 5 * 3_600_000;
const INCIDENT_LOOKBACK: DateTime = BigInt(INCIDENT_LOOKBACK_MS) * TICKS_PER_MS;
export const MAX_ALERTS_PER_INCIDENT = 150;

const digest = (parts: readonly string[]) => createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 32);

/** Same rule, same event identity, same id: overlapping or repeated windows rewrite, never add. */
export function alertFromDraft(rule: Rule, draft: AlertDraft): Omit<Alert, "incidentId"> {
  return {
    id: digest([rule.meta.id, ...draft.identity]),
    ruleId: rule.meta.id,
    ruleName: rule.meta.name,
    severity: rule.meta.severity,
    time: draft.time,
    account: draft.account,
    ip: draft.ip,
    title: draft.title,
    details: draft.details,
    entities: draft.entities,
  };
}

export interface Grouping {
  /** Incidents created or changed, in their new state. */
  incidents: Incident[];
  /** Alerts newly placed in an incident (alerts already in one are left out). */
  alerts: Alert[];
}

/**
 * Groups one account's new alerts of one rule into incidents. An alert joins the open
 * incident of its rule and account whose first alert lies within the lookback of its own
 * event time (event time, not run time, so a replay or backfill groups as a live run did);
 * otherwise it starts a new one. A closed incident is never reopened. `existing` must hold
 * every incident of the account and rule whose alerts could include these (see
 * groupingHorizon).
 */
export function groupAlerts(existing: readonly Incident[], alerts: readonly Omit<Alert, "incidentId">[], now: number): Grouping {
  const incidents = existing.map((i) => ({ ...i, alertIds: [...i.alertIds] }));
  const already = new Set(incidents.flatMap((i) => i.alertIds));
  const changed = new Set<Incident>();
  const placed: Alert[] = [];
  const ordered = [...alerts].sort((a, b) => compareTime(a.time, b.time) || a.id.localeCompare(b.id));
  for (const alert of ordered) {
    if (already.has(alert.id)) continue;
    already.add(alert.id);
    let best: Incident | undefined;
    for (const incident of incidents) {
      if (incident.status === "Closed" || incident.ruleId !== alert.ruleId || incident.account !== alert.account) continue;
      if (incident.alertIds.length >= MAX_ALERTS_PER_INCIDENT) continue;
      const distance = abs(alert.time - incident.firstAlertTime);
      // Joining must keep every alert within the lookback of the incident's first alert:
      // a late alert earlier than the first would otherwise stretch the incident past it.
      if (max(incident.lastAlertTime, alert.time) - min(incident.firstAlertTime, alert.time) > INCIDENT_LOOKBACK) continue;
      if (!best || distance < abs(alert.time - best.firstAlertTime)) best = incident;
    }
    if (!best) {
      best = {
        id: digest(["incident", alert.ruleId, alert.account, alert.id]),
        ruleId: alert.ruleId,
        ruleName: alert.ruleName,
        account: alert.account,
        severity: alert.severity,
        status: "New",
        title: `${alert.ruleName}: ${alert.account}`,
        firstAlertTime: alert.time,
        lastAlertTime: alert.time,
        alertIds: [],
        createdAt: now,
        updatedAt: now,
        owner: null,
        classification: null,
      };
      incidents.push(best);
    }
    best.alertIds.push(alert.id);
    best.firstAlertTime = min(best.firstAlertTime, alert.time);
    best.lastAlertTime = max(best.lastAlertTime, alert.time);
    best.updatedAt = now;
    changed.add(best);
    placed.push({ ...alert, incidentId: best.id });
  }
  return { incidents: [...changed], alerts: placed };
}

/**
 * The oldest lastAlertTime an incident may have and still matter for alerts at or after
 * `earliestAlert`: it may already hold one of them, or they may join it.
 */
export function groupingHorizon(earliestAlert: DateTime): DateTime {
  return earliestAlert - INCIDENT_LOOKBACK;
}

const abs = (t: DateTime) => (t < 0n ? -t : t);
const min = (a: DateTime, b: DateTime) => (a < b ? a : b);
const max = (a: DateTime, b: DateTime) => (a > b ? a : b);
const iso = (ms: number) => new Date(ms).toISOString();

/** An incident as JSON: the one shape detect prints, the API serves and webhooks carry. */
export function incidentJson(i: Incident) {
  return {
    id: i.id,
    ruleId: i.ruleId,
    ruleName: i.ruleName,
    account: i.account,
    severity: i.severity,
    status: i.status,
    title: i.title,
    firstAlertTime: isoOf(i.firstAlertTime),
    lastAlertTime: isoOf(i.lastAlertTime),
    alertIds: i.alertIds,
    alertCount: i.alertIds.length,
    createdAt: iso(i.createdAt),
    updatedAt: iso(i.updatedAt),
    owner: i.owner,
    classification: i.classification,
  };
}

/** An alert as JSON (time in ISO 8601 UTC). */
export function alertJson(a: Alert) {
  return { id: a.id, ruleId: a.ruleId, ruleName: a.ruleName, severity: a.severity, time: isoOf(a.time), account: a.account, ip: a.ip, title: a.title, details: a.details, entities: a.entities, incidentId: a.incidentId };
}

/** The distinct entities of some alerts, in first-seen order. */
export function uniqueEntities(alerts: readonly Alert[]): Entity[] {
  const seen = new Map<string, Entity>();
  for (const a of alerts) for (const e of a.entities) if (!seen.has(JSON.stringify(e))) seen.set(JSON.stringify(e), e);
  return [...seen.values()];
}
