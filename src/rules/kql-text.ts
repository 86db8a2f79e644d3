// Building KQL text. User values reach a query only through kqlString(); the scope of a
// query (time, arrival, accounts) is written the same way for every rule.
import type { QuerySpec } from "./rule.js";

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
  // shardOf() in rule.ts evaluates the same expression.
  if (spec.shard) lines.push(`| where (hash_xxhash64(tolower(UserPrincipalName)) % ${spec.shard.count} + ${spec.shard.count}) % ${spec.shard.count} == ${spec.shard.index}`);
  return lines.join("\n");
}

/** The arrival column every rule projects, under the replay name. */
export const ARRIVAL = "_TimeReceived = ingestion_time()";

/**
 * Datetime columns as text. The query API writes datetimes with their 100-ns ticks, but
 * LogsQueryClient turns datetime columns into Date objects, which keep milliseconds only;
 * tostring() keeps all seven fraction digits ("2026-11-01T10:00:00.1234567Z"), and the row
 * schemas read them exactly.
 */
export function exactTimes(...columns: string[]): string {
  return `| extend ${columns.map((c) => `${c} = tostring(${c})`).join(", ")}`;
}
