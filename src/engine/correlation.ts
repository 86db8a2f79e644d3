// Account correlation across rules, pure: an account's alerts from two or more different
// rules within the correlation window, or sharing a sign-in identifier (SessionId,
// UniqueTokenIdentifier) within the identifier lookback, make ONE correlated High incident
// for the account that links the member incidents. The store commits what this returns in
// the same ETag-guarded placement as the alerts (src/store/incidents.ts), so concurrent
// runs of two rules, replays, overlapping windows and backfills never duplicate it.
import { CORRELATION_RULE_ID, CORRELATION_RULE_NAME, isCorrelation, type CorrelationSettings } from "../model/correlation.js";
import { compareTime, TICKS_PER_MS } from "../model/time.js";
import { digest, MAX_ALERTS_PER_INCIDENT, type Alert, type Incident } from "./incidents.js";

/** Named after the account and its correlation's founding alert (its earliest evidence): the same evidence, the same id. */
const correlationId = (account: string, founder: string) => digest(["correlation", account, founder]);

/**
 * The correlated incidents of one account to create or change, given its rule alerts
 * (stored and just placed, each with its incidentId; every alert at or after
 * correlationHorizon of the new ones) and its existing correlated incidents.
 *
 * Alerts are linked when their rules differ and their event times lie within the window,
 * or when they share a link identifier within the lookback; each connected set spanning
 * two or more rules is one correlation. A correlation that shares a member incident with
 * an open correlated incident extends it (members and evidence alerts only ever grow); a
 * closed one is never reopened: evidence it does not hold founds a new one. Members that a
 * regrouping merged away (`removed`) are dropped; their alerts' new incidents join instead.
 */
export function correlate(alerts: readonly Alert[], existing: readonly Incident[], settings: CorrelationSettings, now: number, removed: ReadonlySet<string> = new Set()): Incident[] {
  const sorted = alerts.filter((a) => !isCorrelationAlert(a)).sort((a, b) => compareTime(a.time, b.time) || a.id.localeCompare(b.id));
  const parent = sorted.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const union = (i: number, j: number) => void (parent[find(i)] = find(j));
  const window = BigInt(settings.windowMs) * TICKS_PER_MS;
  const lookback = BigInt(settings.linkLookbackMs) * TICKS_PER_MS;
  for (let i = 0; i < sorted.length; i++)
    for (let j = i + 1; j < sorted.length && sorted[j]!.time - sorted[i]!.time <= window; j++) if (sorted[j]!.ruleId !== sorted[i]!.ruleId) union(i, j);
  const byLink = new Map<string, number[]>();
  sorted.forEach((a, i) => (a.links ?? []).forEach((link) => byLink.set(link, [...(byLink.get(link) ?? []), i])));
  for (const indices of byLink.values())
    for (let x = 0; x < indices.length; x++)
      for (let y = x + 1; y < indices.length; y++) {
        const [i, j] = [indices[x]!, indices[y]!];
        if (sorted[i]!.ruleId !== sorted[j]!.ruleId && sorted[j]!.time - sorted[i]!.time <= lookback) union(i, j);
      }
  const clusters = new Map<number, Alert[]>();
  sorted.forEach((a, i) => clusters.set(find(i), [...(clusters.get(find(i)) ?? []), a]));

  const current = existing.filter(isCorrelation).map((i) => ({ ...i, alertIds: [...i.alertIds], memberIncidentIds: [...(i.memberIncidentIds ?? [])] }));
  const changed = new Set<Incident>();
  for (const c of current) {
    const kept = c.memberIncidentIds.filter((id) => !removed.has(id));
    if (kept.length === c.memberIncidentIds.length) continue;
    c.memberIncidentIds = kept;
    c.updatedAt = now;
    changed.add(c);
  }
  for (const cluster of clusters.values()) {
    if (new Set(cluster.map((a) => a.ruleId)).size < 2) continue;
    const members = new Set(cluster.map((a) => a.incidentId));
    const overlapping = current.filter((c) => c.memberIncidentIds.some((id) => members.has(id)) || c.alertIds.some((id) => cluster.some((a) => a.id === id)));
    const open = overlapping.filter((c) => c.status !== "Closed").sort((a, b) => compareTime(a.firstAlertTime, b.firstAlertTime) || a.id.localeCompare(b.id))[0];
    const held = new Set(overlapping.filter((c) => c.status === "Closed").flatMap((c) => c.alertIds));
    const evidence = open ? cluster : cluster.filter((a) => !held.has(a.id));
    if (evidence.length === 0) continue;
    const target = open ?? found(evidence, cluster, now);
    if (!open) current.push(target);
    if (extend(target, evidence, now)) changed.add(target);
  }
  return [...changed];
}

/** Correlated incidents hold the evidence of other rules: never an alert of their own. */
const isCorrelationAlert = (a: Alert) => a.ruleId === CORRELATION_RULE_ID;

function found(evidence: readonly Alert[], cluster: readonly Alert[], now: number): Incident & { memberIncidentIds: string[] } {
  const first = evidence[0]!;
  const rules = [...new Set(cluster.map((a) => a.ruleName))].sort();
  return {
    id: correlationId(first.account, first.id),
    ruleId: CORRELATION_RULE_ID,
    ruleName: CORRELATION_RULE_NAME,
    account: first.account,
    severity: "High",
    status: "New",
    title: `Correlated across ${rules.length} rules: ${first.account} (${rules.join("; ")})`,
    firstAlertTime: first.time,
    lastAlertTime: first.time,
    alertIds: [],
    memberIncidentIds: [],
    createdAt: now,
    updatedAt: now,
    owner: null,
    classification: null,
  };
}

/** Adds evidence alerts (at most MAX_ALERTS_PER_INCIDENT kept) and their incidents; true when anything changed. */
function extend(target: Incident & { memberIncidentIds: string[] }, evidence: readonly Alert[], now: number): boolean {
  let changed = false;
  for (const alert of evidence) {
    if (!target.memberIncidentIds.includes(alert.incidentId)) {
      target.memberIncidentIds.push(alert.incidentId);
      changed = true;
    }
    if (!target.alertIds.includes(alert.id) && target.alertIds.length < MAX_ALERTS_PER_INCIDENT) {
      target.alertIds.push(alert.id);
      if (alert.time < target.firstAlertTime) target.firstAlertTime = alert.time;
      if (alert.time > target.lastAlertTime) target.lastAlertTime = alert.time;
      changed = true;
    }
  }
  if (changed) target.updatedAt = now;
  return changed;
}
