// KQL text the rules share: the arrival column and exact datetime columns. A query's scope
// (kqlString, scopeKql) is written with its QuerySpec in src/model/query.ts.
import { kqlString, scopeKql, type QuerySpec } from "../model/query.js";

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

/** The resources the Intune rule watches: `| where ResourceDisplayName has_any (intuneResources)`. */
export const INTUNE_RESOURCES = ["Microsoft Intune", "Microsoft Intune API", "Device Management", "Windows 365", "Microsoft Graph"] as const;

/** String columns kept only for sign-ins to the Intune rule's resources, empty for the others. */
function intuneOnly(...columns: string[]): string {
  const intune = `ResourceDisplayName has_any (${INTUNE_RESOURCES.map(kqlString).join(", ")})`;
  return `| extend ${columns.map((c) => `${c} = iff(${intune}, ${c}, "")`).join(", ")}`;
}

/**
 * The sign-ins of one table that arrived in a window, in one text for every rule that reads
 * them (Intune with its baseline update, the pivot and the forked-session rule), so that rules
 * running together read each table's hour once (src/engine/shared-reads.ts): every column any
 * of them reads, DeviceDetail as text (dynamic in SigninLogs, a string in the other table).
 * Non-interactive sign-ins of any result, since Intune's baseline learns from them all;
 * interactive ones only when successful, the only ones the pivot and the forked-session rule
 * read (each narrows further in evaluate()).
 *
 * Only the Intune rule reads LocationDetails and AuthenticationDetails, and only for sign-ins
 * to its resources (its `has_any` comes before any other use of them), so the query sends
 * them empty for every other non-interactive sign-in: the two are about half of a row's
 * bytes, and most sign-ins are to other resources.
 */
export function signInArrivalsKql(spec: QuerySpec): string {
  const nonInteractive = spec.table === "AADNonInteractiveUserSignInLogs";
  return [
    scopeKql(spec),
    ...(nonInteractive ? [] : [`| where ResultType == "0"`]),
    `| project TimeGenerated, ${ARRIVAL}, Id, UniqueTokenIdentifier, SessionId, CorrelationId, UserPrincipalName, IPAddress, AutonomousSystemNumber, Location,` +
      `${nonInteractive ? " LocationDetails," : ""} ResultType, AuthenticationRequirement, ConditionalAccessStatus,` +
      `${nonInteractive ? " AuthenticationDetails, ResourceDisplayName," : ""} AppDisplayName, UserAgent, DeviceDetail`,
    ...(nonInteractive ? [intuneOnly("AuthenticationDetails", "LocationDetails")] : []),
    exactTimes("TimeGenerated", "_TimeReceived"),
    "| extend DeviceDetail = tostring(DeviceDetail)",
  ].join("\n");
}
