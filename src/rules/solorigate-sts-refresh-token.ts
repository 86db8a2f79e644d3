// UpdateStsRefreshToken[Solorigate] (CloudAppEvents).
// Seed: Azure-Sentinel Hunting Queries/Microsoft 365 Defender/Defense evasion, operator for operator.
import { datetimeDiff, dynamicGet, hasTerms, isNotEmpty, parseJson } from "./kql.js";
import { toDateTime, type Window } from "../model/time.js";
import { toString } from "../model/rows.js";
import { ARRIVAL, exactTimes } from "./kql-text.js";
import { arrivedIn, kqlString, scopeKql } from "../model/query.js";
import { defineRule, groupByAccount, identity, isNewEvent, type AlertDraft } from "./rule.js";

/** Compared exactly, trailing period included: the CloudAppEvents / unified audit log name. */
const ACTION_TYPE = "Update StsRefreshTokenValidFrom Timestamp.";
const mentionsDirectorySync = hasTerms(["Directorysync"]);

export const solorigateStsRefreshToken = defineRule({
  meta: {
    id: "634dfbd6-0a42-40da-854e-2161cf137f14",
    name: "UpdateStsRefreshToken[Solorigate]",
    description:
      "Active Directory STS refresh token modifications by service principals and applications other than DirectorySync. " +
      "Usually an administrator troubleshooting sign-ins; also how an attacker extends a stolen token. Check the new validity period for high values.",
    severity: "Medium",
    tactics: ["DefenseEvasion"],
    relevantTechniques: ["T1550.001"],
    requiredDataConnectors: [{ connectorId: "MicrosoftThreatProtection", dataTypes: ["CloudAppEvents"] }],
    queryFrequency: "1h",
    queryPeriod: "1h",
    entityMappings: [
      { entityType: "Account", fieldMappings: [{ identifier: "FullName", columnName: "AccountDisplayName" }, { identifier: "AadUserId", columnName: "AccountObjectId" }] },
      { entityType: "IP", fieldMappings: [{ identifier: "Address", columnName: "IPAddress" }] },
    ],
    customDetails: { Role: "Role", ISP: "ISP", IsAnonymousProxy: "IsAnonymousProxy", TokenMinutesAdded: "tokenMinutesAdded", TokenMinutesRemaining: "tokenMinutesRemaining" },
    incidentConfiguration: groupByAccount,
    version: "1.0.0",
  },
  // The seed's `distinct` tuple begins with AccountObjectId: a split by it keeps each tuple's events together.
  partsBy: "AccountObjectId",


  queries: (w: Window) => ({ events: arrivedIn("CloudAppEvents", w) }),

  kql: (_name, spec) =>
    [
      scopeKql(spec),
      `| where ActionType == ${kqlString(ACTION_TYPE)}`,
      `| project TimeGenerated, ${ARRIVAL}, Timestamp, ReportId, ActionType, AccountObjectId, AccountDisplayName, IPAddress, IsAnonymousProxy, ISP, RawEventData`,
      exactTimes("TimeGenerated", "_TimeReceived", "Timestamp"),
    ].join("\n"),

  evaluate({ events }, ctx) {
    // | distinct AccountObjectId, AccountDisplayName, tostring(Role), IPAddress, IsAnonymousProxy, ISP,
    //            tokenMinutesAdded, tokenMinutesRemaining  -> one alert per tuple, at its first event.
    const byTuple = new Map<string, AlertDraft>();
    for (const row of events) {
      if (row.ActionType !== ACTION_TYPE || !isNewEvent(ctx, row.TimeGenerated)) continue;
      // | where RawEventData !has "Directorysync"
      if (mentionsDirectorySync(toString(row.RawEventData))) continue;
      // | where RawEventData.ModifiedProperties[0].Name == "StsRefreshTokensValidFrom"
      const property = dynamicGet(row.RawEventData, "ModifiedProperties", 0);
      if (dynamicGet(property, "Name") !== "StsRefreshTokensValidFrom") continue;
      const oldValidFrom = toDateTime(dynamicGet(parseJson(toString(dynamicGet(property, "OldValue"))), 0));
      const newValidFrom = toDateTime(dynamicGet(parseJson(toString(dynamicGet(property, "NewValue"))), 0));
      const tokenMinutesAdded = datetimeDiff("minute", newValidFrom, oldValidFrom);
      const tokenMinutesRemaining = datetimeDiff("minute", row.Timestamp, newValidFrom);
      // | extend Role = parse_json(RawEventData.Actor[-1]).ID
      const role = toString(dynamicGet(parseJson(dynamicGet(row.RawEventData, "Actor", -1)), "ID"));
      // Compared as values of their column types (IsAnonymousProxy a bool, the minutes longs):
      // 0, false and "False" are one value, and null is only equal to null.
      const tuple = [row.AccountObjectId, row.AccountDisplayName, role, row.IPAddress, row.IsAnonymousProxy, row.ISP, tokenMinutesAdded, tokenMinutesRemaining];
      const key = JSON.stringify(tuple);
      const seen = byTuple.get(key);
      // The earliest event stands for the tuple (the lowest ReportId on a tie), whatever the row order.
      if (seen && (seen.time < row.TimeGenerated || (seen.time === row.TimeGenerated && String(seen.details.reportId) <= row.ReportId))) continue;

      const userId = dynamicGet(row.RawEventData, "UserId");
      const account = (isNotEmpty(userId) ? toString(userId) : row.AccountDisplayName).toLowerCase();
      const target = toString(dynamicGet(row.RawEventData, "ObjectId"));
      byTuple.set(key, {
        // The tuple is distinct within one run only: a later run's same tuple is a new alert,
        // so the identity also names the event this run's alert stands for.
        identity: identity(...tuple, row.ReportId, row.TimeGenerated),
        time: row.TimeGenerated,
        account,
        ip: row.IPAddress || null,
        title: `STS refresh tokens of ${target || "an account"} modified by ${row.AccountDisplayName || account}`,
        details: {
          accountObjectId: row.AccountObjectId,
          accountDisplayName: row.AccountDisplayName,
          role,
          isAnonymousProxy: row.IsAnonymousProxy,
          isp: row.ISP,
          target,
          tokenMinutesAdded,
          tokenMinutesRemaining,
          reportId: row.ReportId,
        },
        entities: [{ type: "account", name: account }, ...(row.IPAddress ? [{ type: "ip" as const, address: row.IPAddress }] : [])],
      });
    }
    return [...byTuple.values()];
  },
});
