// An incident as tokenwatch keeps it, and the one schema of an alert and of an incident as they leave tokenwatch (JSON: times as
// RFC 3339 text). The webhook payload (src/delivery/schema.ts) carries them as they are;
// the API (src/api/schemas.ts) extends them with what its views add. `incidentJson` and
// `alertJson` below produce them.
import { z } from "zod";
import { Severity as SeveritySchema, type Severity } from "./severity.js";
import { CORRELATION_RULE_ID, type CorrelationSettings } from "./correlation.js";
import { isoOf, type DateTime } from "./time.js";
import type { Actor } from "./actor.js";

export { EVENT_TYPES, type EventType } from "./event-types.js";

export const INCIDENT_STATUSES = ["New", "Active", "Closed"] as const;
export const IncidentStatus = z.enum(INCIDENT_STATUSES);
export type IncidentStatus = z.infer<typeof IncidentStatus>;

/** An incident as tokenwatch keeps it (exact times; the ETag of its stored row when read). */
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
  /** A correlated incident's member incidents (src/engine/correlation.ts); absent on a rule's incident. */
  memberIncidentIds?: string[];
  etag?: string;
}

const isoTime = z.iso.datetime({ offset: true }).describe("RFC 3339 timestamp");

export const EntitySchema = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("account"), name: z.string(), upnSuffix: z.string().optional() }),
    z.object({ type: z.literal("ip"), address: z.string() }),
    z.object({ type: z.literal("cloudApplication"), name: z.string() }),
  ])
  .meta({ title: "TokenwatchEntity", description: "An entity in Sentinel's terms: an account, an IP address or a cloud application." });

/** An entity in Sentinel's terms, as rules raise it and alerts carry it. */
export type Entity = z.infer<typeof EntitySchema>;

export const IncidentSchema = z.object({
  id: z.string(),
  ruleId: z.string(),
  ruleName: z.string(),
  account: z.string(),
  severity: SeveritySchema,
  status: IncidentStatus,
  title: z.string(),
  firstAlertTime: isoTime,
  lastAlertTime: isoTime,
  alertIds: z.array(z.string()),
  alertCount: z.number().int().nonnegative(),
  createdAt: isoTime,
  updatedAt: isoTime,
  owner: z.string().nullable(),
  classification: z.string().nullable(),
  memberIncidentIds: z
    .array(z.string())
    .optional()
    .describe(`Only on a correlated incident (ruleId ${CORRELATION_RULE_ID}): the incidents of other rules it links; its alerts are theirs`),
});
export type IncidentJson = z.infer<typeof IncidentSchema>;

export const AlertSchema = z
  .object({
    id: z.string(),
    incidentId: z.string(),
    ruleId: z.string(),
    ruleName: z.string(),
    severity: SeveritySchema,
    time: isoTime.describe("TimeGenerated of the triggering event"),
    account: z.string(),
    ip: z.string().nullable(),
    title: z.string(),
    details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
    entities: z.array(EntitySchema),
  })
  .meta({ title: "TokenwatchAlert" });
export type AlertJson = z.infer<typeof AlertSchema>;

/** An alert as tokenwatch keeps it: a rule's AlertDraft with its id, rule and incident. */
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
  details: AlertJson["details"];
  entities: Entity[];
  /** Sign-in identifiers of the triggering rows (`SessionId:…`, `UniqueTokenIdentifier:…`): alerts of different rules sharing one correlate (src/engine/correlation.ts). */
  links?: string[];
  incidentId: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** An incident as JSON: the one shape detect prints, the API serves and webhooks carry. */
export function incidentJson(i: Incident): IncidentJson {
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
    ...(i.memberIncidentIds ? { memberIncidentIds: i.memberIncidentIds } : {}),
  };
}

/** An alert as JSON (time in ISO 8601 UTC). */
export function alertJson(a: Alert): AlertJson {
  return { id: a.id, ruleId: a.ruleId, ruleName: a.ruleName, severity: a.severity, time: isoOf(a.time), account: a.account, ip: a.ip, title: a.title, details: a.details, entities: a.entities, incidentId: a.incidentId };
}

/** The distinct entities of some alerts, in first-seen order. */
export function uniqueEntities(alerts: readonly Alert[]): Entity[] {
  const seen = new Map<string, Entity>();
  for (const a of alerts) for (const e of a.entities) if (!seen.has(JSON.stringify(e))) seen.set(JSON.stringify(e), e);
  return [...seen.values()];
}

/** Which incidents to read. */
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

/** An incident as a list shows it: with the distinct IPs of its alerts, in order of first alert. */
export interface Listed {
  incident: Incident;
  ips: string[];
}

/** What placing alerts changes: the outcome of the engine's grouping (groupAlerts in src/engine/incidents.ts). */
export interface Grouping {
  /** Incidents created or changed, in their new state. */
  incidents: Incident[];
  /** Untriaged incidents a regrouping merged into another: they no longer exist. */
  removed: Incident[];
  /** Alerts newly placed in an incident (alerts already in one are left out). */
  alerts: Alert[];
  /** Stored alerts a regrouping moved to another incident, with their new incidentId. */
  moved: Alert[];
}

export interface GroupingContext {
  /** The stored alerts of the existing incidents: an untriaged incident is regrouped only when all of its alerts are here. */
  stored?: readonly Alert[];
  /** Ids of the incidents an analyst commented on. */
  commented?: ReadonlySet<string>;
}

/**
 * The engine's planning of incidents, which the incident store applies when it places
 * alerts: grouping into incidents, its horizon, what counts as triaged, and account
 * correlation across rules. The composition root hands the engine's (src/engine/planner.ts)
 * to the store, which imports no engine code.
 */
export interface IncidentPlanner {
  groupAlerts(existing: readonly Incident[], alerts: readonly Omit<Alert, "incidentId">[], now: number, context: GroupingContext): Grouping;
  groupingHorizon(earliestAlert: DateTime): DateTime;
  isTriaged(incident: Incident, commented: ReadonlySet<string>): boolean;
  correlate(alerts: readonly Alert[], existing: readonly Incident[], settings: CorrelationSettings, now: number, removed: ReadonlySet<string>): Incident[];
}
