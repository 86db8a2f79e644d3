// What a rule asks of a table (a QuerySpec), and the KQL that scopes a query to it: the
// rules write their pushdown queries on this scope, and the Log Analytics source splits a
// spec into parts with it. User values reach a query only through kqlString().
import { DEFAULT_MAX_LATENESS_MS, type TimeRange, type Window } from "./time.js";
import type { TableName } from "./rows.js";

/** What a rule asks of a table; the source serves it from KQL or from replay files. */
export interface QuerySpec<T extends TableName = TableName> {
  table: T;
  /** Rows whose arrival time lies in [from, to); `from` absent = everything before `to`. */
  arrived: { from?: number; to: number };
  /** Rows whose TimeGenerated lies in [from, to). */
  time: TimeRange;
  /** Only these accounts (lowercase UserPrincipalName); absent = all. */
  accounts?: readonly string[];
}

/** The rows of a table that arrived in a window: each rule's new events. */
export function arrivedIn<T extends TableName>(table: T, window: Window): QuerySpec<T> {
  const lateness = window.maxLatenessMs ?? DEFAULT_MAX_LATENESS_MS;
  return { table, arrived: { from: window.start, to: window.end }, time: { from: window.start - lateness, to: window.end } };
}


/**
 * A KQL string literal for any value: a verbatim literal @"..." in which only `"` needs
 * doubling. Control characters cannot appear in a verbatim literal, so a value holding
 * one uses a regular literal with every such character escaped.
 */
export function kqlString(value: string): string {
  if (!/[\u0000-\u001f\u007f\u2028\u2029]/.test(value)) return `@"${value.replaceAll('"', '""')}"`;
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === '"') out += '\\"';
    else if (code < 0x20 || code === 0x7f || code === 0x2028 || code === 0x2029) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return out + '"';
}

export function kqlDatetime(ms: number): string {
  return `datetime(${new Date(ms).toISOString()})`;
}

/**
 * The table and the where-clauses that scope a query to a spec. Arrival is KQL's
 * ingestion_time(): selecting on it is what makes a late event new in exactly one window.
 */
export function scopeKql(spec: QuerySpec): string {
  const lines = [
    spec.table,
    `| where TimeGenerated >= ${kqlDatetime(spec.time.from)} and TimeGenerated < ${kqlDatetime(spec.time.to)}`,
  ];
  const arrived =
    spec.arrived.from === undefined
      ? `ingestion_time() < ${kqlDatetime(spec.arrived.to)}`
      : `ingestion_time() >= ${kqlDatetime(spec.arrived.from)} and ingestion_time() < ${kqlDatetime(spec.arrived.to)}`;
  lines.push(`| where ${arrived}`);
  if (spec.accounts) lines.push(`| where tolower(UserPrincipalName) in (${spec.accounts.map(kqlString).join(", ")})`);
  return lines.join("\n");
}
