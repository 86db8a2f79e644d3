// KQL text the rules share: the arrival column and exact datetime columns. A query's scope
// (kqlString, scopeKql) is written with its QuerySpec in src/model/query.ts.
import { scopeKql, type QuerySpec } from "../model/query.js";

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

/**
 * The non-interactive sign-ins that arrived in a window, in one text for every rule that
 * reads them (the Intune rule, with its baseline update, and the pivot): rules that run
 * together then read the hour once (src/engine/shared-reads.ts). Every column either rule
 * reads, and no filter: Intune's baseline learns from sign-ins of any result.
 */
export function nonInteractiveArrivalsKql(spec: QuerySpec): string {
  return [
    scopeKql(spec),
    `| project TimeGenerated, ${ARRIVAL}, Id, UniqueTokenIdentifier, SessionId, CorrelationId, UserPrincipalName, IPAddress, AutonomousSystemNumber, Location, LocationDetails,` +
      ` ResultType, AuthenticationRequirement, ConditionalAccessStatus, AuthenticationDetails, ResourceDisplayName, AppDisplayName, UserAgent`,
    exactTimes("TimeGenerated", "_TimeReceived"),
  ].join("\n");
}
