// KQL text the rules share: the arrival column and exact datetime columns. A query's scope
// (kqlString, scopeKql) is written with its QuerySpec in src/model/query.ts.

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
