// Alerts and incidents, and the pure grouping of one into the other.
import { createHash } from "node:crypto";
import { compareTime, TICKS_PER_MS, type DateTime } from "../model/time.js";
import type { AlertDraft, Rule } from "../rules/rule.js";
import { foundedBy, incidentId } from "../model/incident-id.js";
import type { Alert, Grouping, GroupingContext, Incident } from "../model/incident.js";

export type { Alert, Grouping, Incident };

/** Sentinel's grouping: PT5H lookback, at most 150 alerts per incident, closed ones stay closed. */
export const INCIDENT_LOOKBACK_MS = 5 * 3_600_000;
const INCIDENT_LOOKBACK: DateTime = BigInt(INCIDENT_LOOKBACK_MS) * TICKS_PER_MS;
export const MAX_ALERTS_PER_INCIDENT = 150;

/** A stable id from its parts: alert, incident and correlated-incident ids. */
export const digest = (parts: readonly string[]) => createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 32);

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
    links: [...new Set(draft.links ?? [])].sort(),
  };
}

/** An analyst has touched it: status, owner, classification or a comment. */
export function isTriaged(incident: Incident, commented: ReadonlySet<string>): boolean {
  return incident.status !== "New" || incident.owner !== null || incident.classification !== null || commented.has(incident.id);
}


type Placeable = Omit<Alert, "incidentId"> & { incidentId?: string };
const byTime = (a: Placeable, b: Placeable) => compareTime(a.time, b.time) || a.id.localeCompare(b.id);

/**
 * Groups one account's new alerts of one rule into incidents as a chronological run
 * would: in event-time order, an alert joins the incident of its rule and account while
 * it lies within the lookback after that incident's first alert (and the incident holds
 * fewer than 150), otherwise it starts a new one. Event time, not run time, so a replay,
 * a late row or a backfill groups as a live run did:
 *
 * - Untriaged incidents (see isTriaged) are regrouped with the new alerts, so an alert
 *   before an incident's first alert becomes its first, and alerts then more than the
 *   lookback after it move to the incident they would have started. An incident keeps its
 *   id while it holds its founding alert; a group holding none gets a new id from its first
 *   alert; of two founding alerts in one group the earlier keeps its id and the other
 *   incident is removed.
 * - Triaged incidents keep their alerts and id. A new alert joins an open one (the one
 *   whose first alert is nearest) when every alert of it stays within the lookback of its
 *   first, before the untriaged ones are considered. A closed incident takes no alert.
 *
 * `existing` must hold every incident of the account and rule whose alerts could include
 * these or be regrouped with them (see groupingHorizon), `context.stored` their alerts.
 */
export function groupAlerts(existing: readonly Incident[], alerts: readonly Omit<Alert, "incidentId">[], now: number, context: GroupingContext = {}): Grouping {
  const stored = new Map((context.stored ?? []).map((a) => [a.id, a]));
  const commented = context.commented ?? new Set<string>();
  const founders = new Map<string, Incident>();
  const fixed: Incident[] = [];
  for (const incident of existing) {
    const founder = incident.alertIds.find((id) => foundedBy(incident.id, incident.ruleId, incident.account, id));
    if (!isTriaged(incident, commented) && founder !== undefined && incident.alertIds.every((id) => stored.has(id))) founders.set(founder, incident);
    else fixed.push({ ...incident, alertIds: [...incident.alertIds] });
  }
  const regrouped = [...founders.values()];
  const already = new Set(existing.flatMap((i) => i.alertIds));
  const changed = new Set<Incident>();
  const placed: Alert[] = [];
  const pool: Placeable[] = regrouped.flatMap((i) => i.alertIds.map((id) => stored.get(id)!));
  for (const alert of [...alerts].sort(byTime)) {
    if (already.has(alert.id)) continue;
    already.add(alert.id);
    let best: Incident | undefined;
    for (const incident of fixed) {
      if (incident.status === "Closed" || incident.ruleId !== alert.ruleId || incident.account !== alert.account) continue;
      if (incident.alertIds.length >= MAX_ALERTS_PER_INCIDENT) continue;
      // Joining must keep every alert within the lookback of the incident's first alert:
      // a late alert earlier than the first would otherwise stretch the incident past it.
      if (max(incident.lastAlertTime, alert.time) - min(incident.firstAlertTime, alert.time) > INCIDENT_LOOKBACK) continue;
      if (!best || abs(alert.time - incident.firstAlertTime) < abs(alert.time - best.firstAlertTime)) best = incident;
    }
    if (!best) {
      pool.push(alert);
      continue;
    }
    best.alertIds.push(alert.id);
    best.firstAlertTime = min(best.firstAlertTime, alert.time);
    best.lastAlertTime = max(best.lastAlertTime, alert.time);
    best.updatedAt = now;
    changed.add(best);
    placed.push({ ...alert, incidentId: best.id });
  }

  const kept = new Set<Incident>();
  const moved: Alert[] = [];
  for (const group of chronologicalGroups(pool)) {
    const first = group[0]!;
    const ids = group.map((a) => a.id);
    const old = group.map((a) => founders.get(a.id)).find((i) => i !== undefined);
    if (old) kept.add(old);
    if (old && ids.length === old.alertIds.length && ids.every((id) => old.alertIds.includes(id))) continue;
    const incident: Incident = old
      ? { ...old, alertIds: ids, firstAlertTime: first.time, lastAlertTime: group.at(-1)!.time, updatedAt: now }
      : {
          id: incidentId(first.ruleId, first.account, first.id),
          ruleId: first.ruleId,
          ruleName: first.ruleName,
          account: first.account,
          severity: first.severity,
          status: "New",
          title: `${first.ruleName}: ${first.account}`,
          firstAlertTime: first.time,
          lastAlertTime: group.at(-1)!.time,
          alertIds: ids,
          createdAt: now,
          updatedAt: now,
          owner: null,
          classification: null,
        };
    changed.add(incident);
    for (const { incidentId: was, ...alert } of group) {
      if (was === undefined) placed.push({ ...alert, incidentId: incident.id });
      else if (was !== incident.id) moved.push({ ...alert, incidentId: incident.id });
    }
  }
  return { incidents: [...changed], removed: regrouped.filter((i) => !kept.has(i)), alerts: placed, moved };
}

/** Event-time order, per rule and account: a new group at each alert past the lookback of the current group's first alert, or past 150. */
function chronologicalGroups(alerts: readonly Placeable[]): Placeable[][] {
  const groups: Placeable[][] = [];
  const current = new Map<string, Placeable[]>();
  for (const alert of [...alerts].sort(byTime)) {
    const key = `${alert.ruleId}\u0000${alert.account}`;
    const group = current.get(key);
    if (group && alert.time - group[0]!.time <= INCIDENT_LOOKBACK && group.length < MAX_ALERTS_PER_INCIDENT) group.push(alert);
    else {
      current.set(key, [alert]);
      groups.push(current.get(key)!);
    }
  }
  return groups;
}

/**
 * The oldest lastAlertTime an incident may have and still matter for alerts at or after
 * `earliestAlert`: it may already hold one of them, they may join it, or regrouping may
 * change it. Every later incident matters too (an earlier alert can become an untriaged
 * incident's first and move its later alerts on), so there is no upper bound. An untriaged
 * incident that ends before this is untouched: its first alert lies more than the
 * lookback before every new alert.
 */
export function groupingHorizon(earliestAlert: DateTime): DateTime {
  return earliestAlert - INCIDENT_LOOKBACK;
}

const abs = (t: DateTime) => (t < 0n ? -t : t);
const min = (a: DateTime, b: DateTime) => (a < b ? a : b);
const max = (a: DateTime, b: DateTime) => (a > b ? a : b);
