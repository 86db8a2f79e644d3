// An incident as tokenwatch keeps it, and the one schema of an alert and of an incident as they leave tokenwatch (JSON: times as
// RFC 3339 text). The webhook payload (src/delivery/schema.ts) carries them as they are;
// the API (src/api/schemas.ts) extends them with what its views add. `incidentJson` and
// `alertJson` (src/engine/incidents.ts) produce them.
import { z } from "zod";
import { Severity as SeveritySchema, type Severity } from "./severity.js";
import { CORRELATION_RULE_ID } from "./correlation.js";
import type { DateTime } from "./time.js";

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
