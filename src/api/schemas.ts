// Every request body and query string the API accepts, as zod schemas (strict: an unknown
// field is a 400), plus the response shapes for the OpenAPI document. Query values arrive
// as strings, so their schemas parse text.
import { z } from "zod";
import { AlertSchema, EntitySchema, INCIDENT_STATUSES, IncidentSchema as IncidentJsonSchema } from "../model/incident.js";
import { CORRELATION_RULE_ID } from "../model/correlation.js";
import { rules } from "../rules/index.js";
import { Severity } from "../model/severity.js";
import { encodeKey } from "../model/keys.js";

/** Whether a value can be a Table Storage key once encoded (at most 1 KiB). */
export function isKeyable(value: string): boolean {
  try {
    encodeKey(value);
    return true;
  } catch {
    return false;
  }
}

/** An ISO 8601 date-time with an offset or Z, as epoch ms. */
export const isoTime = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));

/** A comma-separated list of enum values in a query string, in any case (`severity=high`). */
const csvOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z
    .string()
    .transform((s) => s.split(",").map((v) => values.find((value) => value.toLowerCase() === v.trim().toLowerCase()) ?? v.trim()))
    .pipe(z.array(z.enum(values)).min(1))
    .meta({ description: `comma-separated: ${values.join(", ")}` });

export const MAX_PAGE = 200;
const limit = z
  .string()
  .regex(/^\d{1,4}$/, "a whole number")
  .transform(Number)
  .pipe(z.number().int().min(1).max(MAX_PAGE))
  .meta({ description: `page size, 1 to ${MAX_PAGE} (default 50)` });
const continuation = z.string().min(1).max(1024).meta({ description: "the `continuation` of the previous page, as given" });

/** The rules' ids, and the pseudo-rule of correlated incidents (filtering on it lists them). */
const ruleIds: [string, ...string[]] = [CORRELATION_RULE_ID, ...rules.map((r) => r.meta.id)];

export const IncidentListQuery = z
  .strictObject({
    status: csvOf(INCIDENT_STATUSES).optional(),
    severity: csvOf(Severity.options as [Severity, ...Severity[]]).optional(),
    ruleId: z.enum(ruleIds).optional(),
    account: z.string().min(1).max(512).refine(isKeyable, "too long once encoded").optional(),
    from: isoTime.optional().meta({ description: "incidents with an alert at or after this time" }),
    to: isoTime.optional().meta({ description: "incidents with an alert before this time" }),
    limit: limit.optional(),
    continuation: continuation.optional(),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from < q.to, { message: "must be after from", path: ["to"] });

export const PageQuery = z.strictObject({ limit: limit.optional(), continuation: continuation.optional() });
export const NoQuery = z.strictObject({});

/** Sentinel's incident classifications. */
export const CLASSIFICATIONS = ["TruePositive", "BenignPositive", "FalsePositive", "Undetermined"] as const;

export const IncidentPatch = z
  .strictObject({
    status: z.enum(INCIDENT_STATUSES).optional(),
    owner: z.string().trim().min(1).max(256).nullable().optional().meta({ description: "who works on it; null to unassign" }),
    classification: z.enum(CLASSIFICATIONS).nullable().optional().meta({ description: "required to close an incident; null to clear" }),
    comment: z.string().trim().min(1).max(4000).optional().meta({ description: "appended to the history" }),
  })
  .refine((b) => b.status !== undefined || b.owner !== undefined || b.classification !== undefined || b.comment !== undefined, {
    message: "give at least one of status, owner, classification, comment",
  });

export const EntryBody = z.strictObject({
  value: z.string().min(1).max(256).meta({ description: "network: IPv4/IPv6 address or CIDR range; principals: a user or application name" }),
  reason: z.string().trim().min(1).max(1000),
  expiresAt: isoTime.nullable().optional().meta({ description: "when the entry stops applying; absent or null: never" }),
});

export const BackfillBody = z
  .strictObject({ from: isoTime, to: isoTime })
  .refine((b) => b.from < b.to, { message: "must be after from", path: ["to"] });

export const RuleEnabledBody = z.strictObject({
  enabled: z.boolean(),
  reason: z.string().trim().min(1).max(500).meta({ description: "why, kept in the rule's audit (e.g. no Defender XDR connector)" }),
});

// ---- Response shapes (documentation) ----

const time = z.iso.datetime();

/** An audit actor's fields in a response (flatActor in src/audit.ts): the display name, and the ids that identify it. */
export const actorFields = <F extends string>(field: F) =>
  ({
    [field]: z.string().meta({ description: "display name from the caller's token (for reading; not an identity)" }),
    [`${field}Id`]: z.string().nullable().meta({ description: "the caller's immutable object id (token oid); null for tokenwatch's own changes and records from before it was kept" }),
    [`${field}TenantId`]: z.string().nullable().meta({ description: "the caller's tenant (token tid)" }),
  }) as { [K in F | `${F}Id` | `${F}TenantId`]: K extends F ? z.ZodString : z.ZodNullable<z.ZodString> };
export const FieldErrorSchema = z.object({ field: z.string(), message: z.string() });
export const ProblemSchema = z
  .object({ type: z.string(), title: z.string(), status: z.number().int(), detail: z.string().optional(), instance: z.string().optional(), errors: z.array(FieldErrorSchema).optional() })
  .meta({ description: "RFC 9457 problem details" });

/** An incident as the API shows it: the one incident schema (the webhook payload carries it too), what a list needs to be read without opening each one, and its HTTP ETag. */
export const IncidentSchema = IncidentJsonSchema.extend({
  ips: z.array(z.string()).meta({ description: "the distinct IP addresses of the incident's alerts, in order of first alert" }),
  summary: z.string().meta({ description: "one line for list views: severity, rule, alert count, IPs, first and last alert time" }),
  etag: z.string(),
}).meta({ title: "TokenwatchIncident" });
const HistorySchema = z.object({ at: time, ...actorFields("actor"), field: z.string(), before: z.string().nullable(), after: z.string().nullable() });

/** Changes an incident's detail carries; the rest are paged from its history route. */
export const HISTORY_IN_DETAIL = 50;
const LinkedIncidentSchema = z.object({
  id: z.string(),
  relation: z.enum(["member", "correlated"]).meta({ description: "member: an incident this correlated incident links; correlated: a correlated incident linking this one" }),
  ruleId: z.string(),
  ruleName: z.string(),
  severity: Severity,
  status: z.enum(INCIDENT_STATUSES),
  title: z.string(),
  alertCount: z.number().int().nonnegative(),
});
export const IncidentDetailSchema = IncidentSchema.extend({
  linkedIncidents: z.array(LinkedIncidentSchema).meta({ description: "a correlated incident's members; for a rule's incident, the correlated incidents that link it" }),
  alerts: z.array(AlertSchema),
  entities: z.array(EntitySchema),
  history: z.array(HistorySchema).meta({ description: `the newest ${HISTORY_IN_DETAIL} changes, newest first` }),
  historyContinuation: z.string().nullable().meta({ description: "null when `history` is all of it; else the `continuation` of GET /incidents/{id}/history for the older changes" }),
});
export const HistoryPageSchema = z.object({ items: z.array(HistorySchema), continuation: z.string().nullable() });
export const IncidentPageSchema = z.object({ items: z.array(IncidentSchema), continuation: z.string().nullable() });

export const AccountSchema = z
  .object({
    account: z.string(),
    openIncidents: z.number().int(),
    totalIncidents: z.number().int(),
    highestSeverity: Severity,
    highestOpenSeverity: Severity.nullable(),
    rules: z.array(z.object({ id: z.string(), name: z.string() })),
    multipleRules: z.boolean(),
    correlated: z.boolean().meta({ description: "the account has a correlated incident (alerts of several rules within the correlation window or on one session); such accounts come first" }),
    firstSeen: time,
    lastSeen: time,
  })
  ;
export const AccountPageSchema = z.object({ items: z.array(AccountSchema), continuation: z.string().nullable() });

export const EntrySchema = z
  .object({
    id: z.string(),
    list: z.string(),
    value: z.string(),
    reason: z.string(),
    expiresAt: time.nullable(),
    expired: z.boolean(),
    ...actorFields("createdBy"),
    createdAt: time,
    etag: z.string(),
  })
  ;
export const ListSummarySchema = z.object({ name: z.string(), description: z.string(), entries: z.number().int(), activeEntries: z.number().int() });
export const ListSchema = z.object({ name: z.string(), description: z.string(), entries: z.array(EntrySchema) });
export const AuditPageSchema = z.object({
  items: z.array(z.object({ id: z.string(), at: time, ...actorFields("actor"), action: z.string(), before: z.unknown(), after: z.unknown() })),
  continuation: z.string().nullable(),
});

export const RuleSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    severity: Severity,
    tactics: z.array(z.string()),
    relevantTechniques: z.array(z.string()),
    queryFrequency: z.string(),
    queryPeriod: z.string(),
    tables: z.array(z.string()).meta({ description: "the Log Analytics tables the rule reads" }),
    connectors: z.array(z.string()).meta({ description: "the data connectors that send them" }),
    enabled: z.boolean(),
    disabled: z
      .object({ ...actorFields("by"), at: time.nullable(), reason: z.string() })
      .nullable()
      .meta({ description: "who switched the rule off, when and why (by `setting` for TOKENWATCH_DISABLED_RULES); null while enabled" }),
    health: z.object({
      status: z.enum(["never-run", "ok", "lagging", "failing", "disabled", "table-missing"]),
      tableMissing: z.string().nullable().meta({ description: "the table the last run found missing from the workspace" }),
      checkpoint: time.nullable(),
      lagMinutes: z.number().nullable(),
      firstWindowStart: time.nullable(),
      lastRun: z
        .object({
          at: time,
          failing: z.boolean(),
          windowsProcessed: z.number().int(),
          windowsBehind: z.number().int(),
          rowsRead: z.number().int(),
          rowsRejected: z.number().int(),
          eventsHeldBack: z.number().int().meta({ description: "events the rule could not judge yet (Intune: users without a baseline while the tenant's baseline is learning)" }),
          durationMs: z.number(),
          lastError: z.string().nullable(),
          lastErrorAt: time.nullable(),
        })
        .nullable()
        .meta({ description: "the last scheduled run (null before the first)" }),
    }),
  })
  ;
export const BackfillResultSchema = z.object({ ruleId: z.string(), from: time, to: time, windows: z.number().int(), alerts: z.number().int(), incidents: z.number().int() });

/** What GET /openapi.json returns, described as far as a client needs to know it is one. */
export const OpenApiDocumentSchema = z
  .looseObject({
    openapi: z.string().regex(/^3\.1\.\d+$/),
    info: z.looseObject({ title: z.string(), version: z.string() }),
    paths: z.record(z.string(), z.unknown()),
    webhooks: z.record(z.string(), z.unknown()),
  })
  .meta({ description: "An OpenAPI 3.1 document: this one" });

/** What GET /webhooks/event-schema returns: a JSON Schema document (the `WebhookEvent` schema of this document). */
export const JsonSchemaDocumentSchema = z
  .looseObject({ $schema: z.literal("https://json-schema.org/draft/2020-12/schema"), type: z.literal("object"), properties: z.record(z.string(), z.unknown()) })
  .meta({ description: "A JSON Schema (draft 2020-12) document" });
