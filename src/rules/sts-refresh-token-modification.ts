// Interactive STS refresh token modifications (AuditLogs).
// Seed: Azure-Sentinel StsRefreshTokenModification.yaml, reproduced operator for operator.
import { datetimeDiff, dynamicGet, equalsCi, has, hasTerms, isNotEmpty, notInCi, parseJson } from "./kql.js";
import { type DateTime, isoOf, toDateTime, type Window } from "../model/time.js";
import { toString } from "../model/rows.js";
import { ARRIVAL, exactTimes } from "./kql-text.js";
import { arrivedIn, scopeKql } from "../model/query.js";
import { defineRule, groupByAccount, identity, isNewEvent, type AlertDraft, type Entity } from "./rule.js";

const isStsOperation = hasTerms(["StsRefreshTokenValidFrom"]);
const mentionsDirectorySync = hasTerms(["DirectorySync"]);

export const stsRefreshTokenModification = defineRule({
  meta: {
    id: "4696e072-aca8-4a4f-bf05-89fddc5ac3c9",
    name: "Interactive STS refresh token modifications",
    description:
      "STS refresh token changes by users or applications other than DirectorySync and the allowlisted principals. " +
      "Admins extending a compromised account's refresh tokens keep an attacker's stolen token alive without re-authentication.",
    severity: "Low",
    tactics: ["CredentialAccess"],
    relevantTechniques: ["T1550.001"],
    requiredDataConnectors: [{ connectorId: "AzureActiveDirectory", dataTypes: ["AuditLogs"] }],
    queryFrequency: "1h",
    queryPeriod: "1h",
    entityMappings: [
      { entityType: "Account", fieldMappings: [{ identifier: "Name", columnName: "UserName" }, { identifier: "UPNSuffix", columnName: "UPNSuffix" }] },
      { entityType: "IP", fieldMappings: [{ identifier: "Address", columnName: "InitiatingIpAddress" }] },
      { entityType: "CloudApplication", fieldMappings: [{ identifier: "Name", columnName: "CloudApplicationName" }] },
    ],
    customDetails: { TargetUser: "targetUserOrApp", TokenMinutesAdded: "tokenMinutesAdded", TokenMinutesRemaining: "tokenMinutesRemaining" },
    incidentConfiguration: groupByAccount,
    version: "1.0.1",
  },
  // Each audit record is decided on its own: any split of the records is exact.
  partsBy: "Id",


  queries: (w: Window) => ({ audit: arrivedIn("AuditLogs", w) }),

  kql: (_name, spec) =>
    [
      scopeKql(spec),
      `| where OperationName has 'StsRefreshTokenValidFrom'`,
      `| project TimeGenerated, ${ARRIVAL}, Id, CorrelationId, OperationName, Result, AADOperationType, InitiatedBy, TargetResources`,
      exactTimes("TimeGenerated", "_TimeReceived"),
    ].join("\n"),

  evaluate({ audit }, ctx) {
    const alerts: AlertDraft[] = [];
    for (const row of audit) {
      // | where OperationName has 'StsRefreshTokenValidFrom'
      if (!isStsOperation(row.OperationName) || !isNewEvent(ctx, row.TimeGenerated)) continue;
      const modifiedProperties = dynamicGet(row.TargetResources, 0, "modifiedProperties");
      // | where TargetResources[0].modifiedProperties != '[]'
      // | where TargetResources[0].modifiedProperties !has 'DirectorySync'
      const propsText = toString(modifiedProperties);
      if (propsText === "[]" || mentionsDirectorySync(propsText)) continue;
      // | extend InitiatingUserOrApp = iff(isnotempty(InitiatedBy.user.userPrincipalName), ..., InitiatedBy.app.displayName)
      const upn = dynamicGet(row.InitiatedBy, "user", "userPrincipalName");
      const initiator = isNotEmpty(upn) ? toString(upn) : toString(dynamicGet(row.InitiatedBy, "app", "displayName"));
      // | where InitiatingUserOrApp !in~ (AllowedUserList)
      if (!notInCi(initiator, ctx.lists.principals)) continue;
      const userIp = dynamicGet(row.InitiatedBy, "user", "ipAddress");
      const ip = isNotEmpty(userIp) ? toString(userIp) : toString(dynamicGet(row.InitiatedBy, "app", "ipAddress"));
      const target = toString(dynamicGet(row.TargetResources, 0, "userPrincipalName"));

      // | mv-expand TargetResourcesModProps | where tostring(.displayName) =~ 'StsRefreshTokensValidFrom'
      const props = Array.isArray(modifiedProperties) ? modifiedProperties : modifiedProperties == null ? [] : [modifiedProperties];
      props.forEach((prop, index) => {
        if (!equalsCi(toString(dynamicGet(prop, "displayName")), "StsRefreshTokensValidFrom")) return;
        const oldValidFrom = toDateTime(dynamicGet(parseJson(toString(dynamicGet(prop, "oldValue"))), 0));
        const newValidFrom = toDateTime(dynamicGet(parseJson(toString(dynamicGet(prop, "newValue"))), 0));
        alerts.push({
          // One alert per seed output row (an audit record's modified property): the record's ids
          // and the columns that tell its output rows apart, so an empty Id never merges two
          // changes of one operation (same CorrelationId) on different targets.
          identity: identity(row.Id, row.CorrelationId, row.TimeGenerated, row.OperationName, initiator, target, index),
          time: row.TimeGenerated,
          account: initiator.toLowerCase(),
          ip: ip || null,
          title: `STS refresh tokens of ${target || "an account"} modified by ${initiator}`,
          details: {
            targetUserOrApp: target,
            tokenMinutesAdded: datetimeDiff("minute", newValidFrom, oldValidFrom),
            tokenMinutesRemaining: datetimeDiff("minute", row.TimeGenerated, newValidFrom),
            oldStsRefreshValidFrom: isoOrNull(oldValidFrom),
            newStsRefreshValidFrom: isoOrNull(newValidFrom),
            result: row.Result,
            aadOperationType: row.AADOperationType,
            correlationId: row.CorrelationId,
          },
          entities: initiatorEntities(initiator, ip),
        });
      });
    }
    return alerts;
  },
});

/** The seed's UserName / UPNSuffix / CloudApplicationName split of the initiator. */
function initiatorEntities(initiator: string, ip: string): Entity[] {
  const entities: Entity[] = [];
  if (has(initiator, "@")) {
    const [name = "", suffix = ""] = initiator.split("@");
    entities.push({ type: "account", name, upnSuffix: suffix });
  } else {
    entities.push({ type: "account", name: initiator }, { type: "cloudApplication", name: initiator });
  }
  if (ip) entities.push({ type: "ip", address: ip });
  return entities;
}

const isoOrNull = (t: DateTime | null) => (t === null ? null : isoOf(t));
