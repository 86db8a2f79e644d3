// Log rows as the rules read them: one zod schema per Log Analytics table, holding only
// the columns some rule reads. Every row from Log Analytics or a replay file passes
// through here once; a row that does not fit is rejected with a reason, never thrown.
import { z } from "zod";
import { toDateTime, type DateTime } from "./time.js";

/**
 * KQL `tostring()`: null is "", a string is itself, a bool is "true"/"false", a number its
 * shortest round-trip text, an array or property bag its compact JSON.
 * https://learn.microsoft.com/kusto/query/tostring-function
 */
export function toString(value: unknown): string {
  if (value === null || value === undefined) return "";
  switch (typeof value) {
    case "string":
      return value;
    case "boolean":
    case "number":
    case "bigint":
      return String(value);
    case "object":
      return JSON.stringify(value) ?? "";
    default:
      return String(value);
  }
}

/** The file `tokenwatch simulate` writes beside the tables: a description of the tenant, not a log. */
export const SIMULATION_MANIFEST = "manifest.json";

export const TABLES = ["SigninLogs", "AADNonInteractiveUserSignInLogs", "AuditLogs", "CloudAppEvents"] as const;
export const TableName = z.enum(TABLES);
export type TableName = z.infer<typeof TableName>;

// A Log Analytics `string` column. Exports and notebooks turn some of them into numbers
// (ResultType "0" -> 0, AutonomousSystemNumber "8075" -> 8075); KQL's string is never null,
// so a missing value reads as "". Checked per column here, turned into text in one pass by
// `asText` (a per-column union + transform costs five times as much in zod, on every row).
type Textish = string | number | boolean | null | undefined;
const text = z
  .custom<Textish>((v) => v === null || v === undefined || typeof v === "string" || typeof v === "number" || typeof v === "boolean", {
    message: "expected text",
  })
  .optional();
type TextKeys<T> = { [K in keyof T]-?: Textish extends T[K] ? K : never }[keyof T];
type AsText<T> = Omit<T, TextKeys<T>> & { [K in TextKeys<T>]-?: string };
function asText<T extends object>(row: T, columns: readonly string[]): AsText<T> {
  const out = row as Record<string, unknown>;
  for (const c of columns) {
    const v = out[c];
    if (typeof v !== "string") out[c] = v === null || v === undefined ? "" : String(v);
  }
  return row as unknown as AsText<T>;
}

// A `datetime` column, to exact 100-ns ticks (KQL reads a zone-less ISO text as UTC).
// (z.custom + transform: a union().nullish().transform() chain costs several times more per row.)
const isTimeText = (v: unknown): v is string | number => typeof v === "string" || typeof v === "number";
const datetime = z.custom<string | number>(isTimeText, { message: "expected a datetime" }).transform((v, ctx) => {
  const t = toDateTime(v);
  if (t === null) {
    ctx.addIssue({ code: "custom", message: `not a datetime: ${JSON.stringify(v).slice(0, 60)}` });
    return z.NEVER;
  }
  return t;
});
// `az monitor log-analytics query` writes a null of a typed column as Python's "None".
const isNullText = (v: unknown) => v === null || v === undefined || v === "" || v === "None";
const optionalDatetime = z
  .custom<string | number | null | undefined>((v) => v === null || v === undefined || isTimeText(v), { message: "expected a datetime" })
  .optional()
  .transform((v) => (isNullText(v) ? null : toDateTime(v)));

// A `bool` column, typed: the query API answers true/false, exports write 0/1, "0"/"1",
// "false"/"true", or Python's "False"/"True"/"None". One event must read the same however it
// was exported, or `distinct` and alert identities would tell its copies apart.
const BOOL_TEXT: Record<string, boolean> = { true: true, false: false, "1": true, "0": false };
const bool = z
  .unknown()
  .optional()
  .transform((v, ctx): boolean | null => {
    if (isNullText(v)) return null;
    if (typeof v === "boolean") return v;
    if (typeof v === "number" && Number.isFinite(v)) return v !== 0;
    const b = typeof v === "string" ? BOOL_TEXT[v.trim().toLowerCase()] : undefined;
    if (b === undefined) {
      ctx.addIssue({ code: "custom", message: `not a bool: ${JSON.stringify(v)?.slice(0, 60)}` });
      return z.NEVER;
    }
    return b;
  });

// A `dynamic` column. Query API answers and data exports carry it as JSON, but some
// exports serialise it as JSON text ("InitiatedBy":"{\"user\":...}"): parse that text,
// and reject the row when it is not JSON, because the rule cannot read it.
const dynamic = z.unknown().optional().transform((v, ctx) => {
  if (typeof v !== "string") return v ?? null;
  if (isNullText(v)) return null;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    ctx.addIssue({ code: "custom", message: "dynamic column is not valid JSON" });
    return z.NEVER;
  }
});

// Shared by every table: when the event happened and when it arrived. `_TimeReceived` is
// the replay name of the arrival time (ingestion_time() in KQL); absent, arrival is the
// event time. An arrival earlier than the event (clock skew) is taken as the event time,
// so that every event is new in exactly one window.
const timing = {
  TimeGenerated: datetime,
  _TimeReceived: optionalDatetime,
};
/** Text columns normalised and arrival derived, on zod's output object itself (no copies per row). */
function finish(textColumns: readonly string[]) {
  return <T extends { TimeGenerated: DateTime; _TimeReceived?: DateTime | null }>(row: T) => {
    const out = asText(row, textColumns) as AsText<T> & { arrival: DateTime };
    const received = row._TimeReceived ?? row.TimeGenerated;
    out.arrival = received > row.TimeGenerated ? received : row.TimeGenerated;
    return out;
  };
}
const textColumns = (shape: Record<string, z.ZodType>) => Object.keys(shape).filter((k) => shape[k] === text);

const signInShape = {
    ...timing,
    Id: text,
    UserPrincipalName: text,
    IPAddress: text,
    AutonomousSystemNumber: text,
    Location: text,
    // dynamic in SigninLogs, JSON text in AADNonInteractiveUserSignInLogs; read for a detail
    // only, so unreadable text is kept as text rather than rejecting the sign-in.
    // (A column the query does not project is absent: it reads as null, as `text` columns do.)
    LocationDetails: z.unknown().optional().transform((v) => v ?? null),
    ResultType: text,
    AppDisplayName: text,
    ResourceDisplayName: text,
    AuthenticationDetails: z.unknown().optional().transform((v) => toString(v)),
    AuthenticationRequirement: text,
    ConditionalAccessStatus: text,
    UserAgent: text,
    CorrelationId: text,
    UniqueTokenIdentifier: text,
    SessionId: text,
};
export const signInSchema = z.object(signInShape).transform(finish(textColumns(signInShape)));
export type SignInRow = z.infer<typeof signInSchema>;

const auditShape = {
    ...timing,
    Id: text,
    CorrelationId: text,
    OperationName: text,
    Result: text,
    AADOperationType: text,
    InitiatedBy: dynamic,
    TargetResources: dynamic,
};
export const auditSchema = z.object(auditShape).transform(finish(textColumns(auditShape)));
export type AuditRow = z.infer<typeof auditSchema>;

const cloudAppEventShape = {
    ...timing,
    Timestamp: optionalDatetime,
    ReportId: text,
    ActionType: text,
    AccountObjectId: text,
    AccountDisplayName: text,
    IPAddress: text,
    IsAnonymousProxy: bool,
    ISP: text,
    RawEventData: dynamic,
};
export const cloudAppEventSchema = z.object(cloudAppEventShape).transform(finish(textColumns(cloudAppEventShape)));
export type CloudAppEventRow = z.infer<typeof cloudAppEventSchema>;

export const rowSchemas = {
  SigninLogs: signInSchema,
  AADNonInteractiveUserSignInLogs: signInSchema,
  AuditLogs: auditSchema,
  CloudAppEvents: cloudAppEventSchema,
} as const;

/**
 * The columns the rules read per table (what a replay file needs), TimeGenerated first.
 * `_TimeReceived` is not a column: an export projects it from ingestion_time().
 */
export const TABLE_COLUMNS: Record<TableName, readonly string[]> = {
  SigninLogs: Object.keys(signInShape).filter((c) => c !== "_TimeReceived"),
  AADNonInteractiveUserSignInLogs: Object.keys(signInShape).filter((c) => c !== "_TimeReceived"),
  AuditLogs: Object.keys(auditShape).filter((c) => c !== "_TimeReceived"),
  CloudAppEvents: Object.keys(cloudAppEventShape).filter((c) => c !== "_TimeReceived"),
};

export type RowOf<T extends TableName> = z.infer<(typeof rowSchemas)[T]>;
export type AnyRow = RowOf<TableName>;

/** A row of a summarized sign-in query: one (account, IP, ASN) seen in a window. */
export const signInSightingSchema = z
  .object({
    account: z.string().transform((s) => s.toLowerCase()),
    ip: text,
    asn: text,
    lastSeen: datetime,
  })
  .transform((row) => asText(row, ["ip", "asn"]));
export type SignInSighting = z.infer<typeof signInSightingSchema>;

/** Adds sightings to a summary: one per (account, ip, asn), the newest kept. */
export function mergeSightings(into: Map<string, SignInSighting>, sightings: Iterable<SignInSighting>): void {
  for (const s of sightings) {
    const key = `${s.account}\u0000${s.ip}\u0000${s.asn}`;
    const seen = into.get(key);
    if (!seen || seen.lastSeen < s.lastSeen) into.set(key, s);
  }
}

export interface Rejection {
  /** Where the row came from: `file:line` for replay, `query row N` for Log Analytics. */
  origin: string;
  reason: string;
}

export type ParseOutcome<T> = { ok: true; row: T } | { ok: false; reason: string };

/** Validates one raw row; the reason names the first offending column. */
export function parseRow<S extends z.ZodType>(schema: S, raw: unknown): ParseOutcome<z.infer<S>> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return { ok: false, reason: "row is not a JSON object" };
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, row: result.data };
  const issue = result.error.issues[0];
  const column = issue?.path.join(".") || "row";
  return { ok: false, reason: `${column}: ${issue?.message ?? "invalid"}` };
}

/** A user's known IPs and ASNs over the baseline period (the Intune rule's per-user baseline). */
export interface KnownNetworks {
  ips: ReadonlySet<string>;
  asns: ReadonlySet<string>;
}

export interface Fetched<T> {
  rows: T[];
  /** Rows that failed validation: skipped, counted, reported. */
  rejected: Rejection[];
}

/**
 * The workspace has no such table: no data connector sends it (CloudAppEvents without
 * Defender XDR). Not a failure to retry every hour, but a state for the rule's health.
 */
export class TableMissing extends Error {
  constructor(readonly table: TableName) {
    super(`table ${table} does not exist in the workspace (its data connector is not connected)`);
    this.name = "TableMissing";
  }
}
