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

// Each column is read by one small function (its type, and its conversion to what the rules
// compare), and a table's row by one zod schema whose single transform runs them in column
// order: zod v4 runs a per-column .transform (or custom check) through its generic pipe and
// check machinery, which cost about twice JSON.parse itself on every row; one object-level
// step reads the same columns for a fraction of that. The first column that does not read
// names the rejection, as zod's first issue did.
class Invalid {
  constructor(readonly message: string) {}
}
/** One column: the raw value (undefined when absent) as the row holds it, or why it cannot be read. */
type Column<T> = (v: unknown) => T | Invalid;
type Columns = Record<string, Column<unknown>>;
type Read<C extends Columns> = { -readonly [K in keyof C]: Exclude<ReturnType<C[K]>, Invalid> };
type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The function reading one row of these columns, compiled once per table as zod compiles its
 * objects: each column read and written by name, each reader called from its own site, the
 * row made as one object literal. (A loop over the names reads every column through a generic
 * keyed lookup and grows the row a property at a time: twice the cost.) It returns the row,
 * or the index of the first column that does not read. The code is made from the column
 * names of this file only, each written as a JSON string literal.
 */
function compileReader(names: readonly string[], readers: readonly Column<unknown>[]): (raw: Raw) => Raw | number {
  const key = (i: number) => JSON.stringify(names[i]);
  const body = [
    ...names.map((_, i) => `const v${i} = r${i}(raw[${key(i)}]); if (v${i} instanceof Invalid) return ${i};`),
    `return { ${names.map((_, i) => `${key(i)}: v${i}`).join(", ")} };`,
  ].join("\n");
  const make = new Function("Invalid", ...names.map((_, i) => `r${i}`), `return (raw) => {\n${body}\n};`) as (...args: unknown[]) => (raw: Raw) => Raw | number;
  return make(Invalid, ...readers);
}

/**
 * Each row schema's own reading of a row, which parseRow() calls without zod's safeParse: its
 * context, result objects and pipe cost as much again as reading the row's columns (a CPU
 * profile of the bench's engine pass: 17% of it). The schema runs the same function.
 */
const rowReaders = new WeakMap<z.ZodType, (raw: Raw) => ParseOutcome<unknown>>();

/** A zod schema reading a row's columns in order (unread columns dropped), then finishing the row (derived columns). */
function rowSchema<C extends Columns, R>(columns: C, finish: (row: Read<C>) => R) {
  const names = Object.keys(columns);
  const readers = names.map((name) => columns[name]!);
  const read = compileReader(names, readers);
  // A column the query does not project is absent: its reader decides what that reads as.
  const readRow = (raw: Raw): { ok: true; row: R } | { ok: false; column: string; message: string } => {
    const row = read(raw);
    if (typeof row !== "number") return { ok: true, row: finish(row as Read<C>) };
    const invalid = readers[row]!(raw[names[row]!]) as Invalid;
    return { ok: false, column: names[row]!, message: invalid.message };
  };
  const schema = z.custom<Raw>(isObject, { message: "row is not a JSON object" }).transform((raw, ctx) => {
    const out = readRow(raw);
    if (out.ok) return out.row;
    ctx.addIssue({ code: "custom", path: [out.column], message: out.message });
    return z.NEVER;
  });
  rowReaders.set(schema, (raw) => {
    const out = readRow(raw);
    return out.ok ? out : { ok: false, reason: `${out.column}: ${out.message}` };
  });
  return schema;
}

// A Log Analytics `string` column. Exports and notebooks turn some of them into numbers
// (ResultType "0" -> 0, AutonomousSystemNumber "8075" -> 8075); KQL's string is never null,
// so a missing value reads as "".
const EXPECTED_TEXT = new Invalid("expected text");
const text: Column<string> = (v) =>
  typeof v === "string" ? v : v === null || v === undefined ? "" : typeof v === "number" || typeof v === "boolean" ? String(v) : EXPECTED_TEXT;

// A `datetime` column, to exact 100-ns ticks (KQL reads a zone-less ISO text as UTC).
const EXPECTED_DATETIME = new Invalid("expected a datetime");
const isTimeText = (v: unknown): v is string | number => typeof v === "string" || typeof v === "number";
const datetime: Column<DateTime> = (v) => {
  if (!isTimeText(v)) return EXPECTED_DATETIME;
  return toDateTime(v) ?? new Invalid(`not a datetime: ${JSON.stringify(v).slice(0, 60)}`);
};
// `az monitor log-analytics query` writes a null of a typed column as Python's "None".
const isNullText = (v: unknown) => v === null || v === undefined || v === "" || v === "None";
/** A datetime that may be missing: null then, and also when its text does not parse. */
const optionalDatetime: Column<DateTime | null> = (v) => (isNullText(v) ? null : isTimeText(v) ? toDateTime(v) : EXPECTED_DATETIME);

// A `bool` column, typed: the query API answers true/false, exports write 0/1, "0"/"1",
// "false"/"true", or Python's "False"/"True"/"None". One event must read the same however it
// was exported, or `distinct` and alert identities would tell its copies apart.
const BOOL_TEXT = new Map<string, boolean>([["true", true], ["false", false], ["1", true], ["0", false]]);
const bool: Column<boolean | null> = (v) => {
  if (isNullText(v)) return null;
  if (typeof v === "boolean") return v;
  if (typeof v === "number" && Number.isFinite(v)) return v !== 0;
  const b = typeof v === "string" ? BOOL_TEXT.get(v.trim().toLowerCase()) : undefined;
  return b ?? new Invalid(`not a bool: ${JSON.stringify(v)?.slice(0, 60)}`);
};

// A `dynamic` column. Query API answers and data exports carry it as JSON, but some
// exports serialise it as JSON text ("InitiatedBy":"{\"user\":...}"): parse that text,
// and reject the row when it is not JSON, because the rule cannot read it.
const NOT_JSON = new Invalid("dynamic column is not valid JSON");
const dynamic: Column<unknown> = (v) => {
  if (typeof v !== "string") return v ?? null;
  if (isNullText(v)) return null;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return NOT_JSON;
  }
};
/** A column read for a detail only, kept as it came (absent: null); never a reason to reject the row. */
const asIs: Column<unknown> = (v) => v ?? null;

// Shared by every table: when the event happened and when it arrived. `_TimeReceived` is
// the replay name of the arrival time (ingestion_time() in KQL); absent, arrival is the
// event time. An arrival earlier than the event (clock skew) is taken as the event time,
// so that every event is new in exactly one window.
const timing = {
  TimeGenerated: datetime,
  _TimeReceived: optionalDatetime,
};
function withArrival<T extends { TimeGenerated: DateTime; _TimeReceived: DateTime | null }>(row: T): T & { arrival: DateTime } {
  const out = row as T & { arrival: DateTime };
  const received = row._TimeReceived ?? row.TimeGenerated;
  out.arrival = received > row.TimeGenerated ? received : row.TimeGenerated;
  return out;
}

const signInColumns = {
  ...timing,
  Id: text,
  UserPrincipalName: text,
  IPAddress: text,
  AutonomousSystemNumber: text,
  Location: text,
  // dynamic in SigninLogs, JSON text in AADNonInteractiveUserSignInLogs; read for a detail
  // only, so unreadable text is kept as text rather than rejecting the sign-in.
  // (A column the query does not project is absent: it reads as null, as `text` columns do.)
  LocationDetails: asIs,
  ResultType: text,
  AppDisplayName: text,
  ResourceDisplayName: text,
  AuthenticationDetails: ((v) => toString(v)) as Column<string>,
  AuthenticationRequirement: text,
  ConditionalAccessStatus: text,
  UserAgent: text,
  CorrelationId: text,
  UniqueTokenIdentifier: text,
  SessionId: text,
  // dynamic in SigninLogs, JSON text in AADNonInteractiveUserSignInLogs (deviceId,
  // operatingSystem, browser): the forked-session rule's device fingerprint.
  DeviceDetail: asIs,
};
export const signInSchema = rowSchema(signInColumns, withArrival);
export type SignInRow = z.infer<typeof signInSchema>;

const auditColumns = {
  ...timing,
  Id: text,
  CorrelationId: text,
  OperationName: text,
  Result: text,
  AADOperationType: text,
  InitiatedBy: dynamic,
  TargetResources: dynamic,
};
export const auditSchema = rowSchema(auditColumns, withArrival);
export type AuditRow = z.infer<typeof auditSchema>;

const cloudAppEventColumns = {
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
export const cloudAppEventSchema = rowSchema(cloudAppEventColumns, withArrival);
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
  SigninLogs: Object.keys(signInColumns).filter((c) => c !== "_TimeReceived"),
  AADNonInteractiveUserSignInLogs: Object.keys(signInColumns).filter((c) => c !== "_TimeReceived"),
  AuditLogs: Object.keys(auditColumns).filter((c) => c !== "_TimeReceived"),
  CloudAppEvents: Object.keys(cloudAppEventColumns).filter((c) => c !== "_TimeReceived"),
};

export type RowOf<T extends TableName> = z.infer<(typeof rowSchemas)[T]>;
export type AnyRow = RowOf<TableName>;

/** A row of a summarized sign-in query: one (account, IP, ASN) seen in a window. */
const accountText = z.string();
export const signInSightingSchema = rowSchema(
  {
    account: (v: unknown) => {
      const account = accountText.safeParse(v);
      return account.success ? account.data.toLowerCase() : new Invalid(account.error.issues[0]?.message ?? "expected text");
    },
    ip: text,
    asn: text,
    lastSeen: datetime,
  },
  (row) => row,
);
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
  if (!isObject(raw)) return { ok: false, reason: "row is not a JSON object" };
  const read = rowReaders.get(schema);
  // Every row schema is made by rowSchema(), which registers its reader.
  if (!read) throw new Error("parseRow takes a row schema of src/model/rows.ts");
  return read(raw) as ParseOutcome<z.infer<S>>;
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
