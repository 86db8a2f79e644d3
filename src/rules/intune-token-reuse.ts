// Intune - Possible refresh token / PRT reuse accessing Intune resource
// (AADNonInteractiveUserSignInLogs). Seed by David Alonso, operator for operator, except
// that the 14-day baseline is kept in Table Storage and updated every hour instead of
// being re-read from Log Analytics on every run.
import { ipIsInAnyRange } from "../net/ip.js";
import { dynamicGet, hasTerms, parseJson } from "./kql.js";
import { type SignInRow, toString } from "../model/rows.js";
import { INTUNE_RESOURCES, signInArrivalsKql } from "./kql-text.js";
import { arrivedIn, scopeKql } from "../model/query.js";
import { defineRule, identity, isNewEvent, groupByAccount, signInLinks, type AlertDraft, type RuleContext } from "./rule.js";
import { type Window } from "../model/time.js";

/** | where ResourceDisplayName has_any (intuneResources) */
const isIntuneResource = hasTerms(INTUNE_RESOURCES);
/** | where AuthDetails !has "Multifactor" (negated where used) */
const mentionsMfa = hasTerms(["Multifactor"]);

export const intuneTokenReuse = defineRule({
  meta: {
    id: "5a6f1c3e-2a1b-4c9e-9f01-11a2b3c4d508",
    name: "Intune - Possible refresh token / PRT reuse accessing Intune resource",
    description:
      "Non-interactive token redemption for Intune / Device Management resources from an IP or ASN not previously associated with the user, " +
      "where MFA was not freshly performed. Characteristic of stolen refresh-token / PRT replay.",
    severity: "High",
    tactics: ["CredentialAccess", "LateralMovement"],
    relevantTechniques: ["T1528", "T1550.001"],
    requiredDataConnectors: [{ connectorId: "AzureActiveDirectory", dataTypes: ["AADNonInteractiveUserSignInLogs"] }],
    queryFrequency: "1h",
    queryPeriod: "1h",
    baselinePeriod: "14d",
    entityMappings: [
      { entityType: "Account", fieldMappings: [{ identifier: "FullName", columnName: "AccountCustomEntity" }] },
      { entityType: "IP", fieldMappings: [{ identifier: "Address", columnName: "IPCustomEntity" }] },
    ],
    customDetails: { ASN: "ASN", Resource: "ResourceDisplayName", App: "AppDisplayName", Location: "Location" },
    incidentConfiguration: groupByAccount,
    version: "1.0.0",
  },
  perAccount: true,

  queries: (w: Window) => ({ signIns: arrivedIn("AADNonInteractiveUserSignInLogs", w) }),

  // Every non-interactive sign-in of the hour, whatever its result or resource: one read
  // serves the detection (evaluate narrows), the hourly baseline update (observe), the pivot and
  // the forked-session rule.
  kql: (_name, spec) => signInArrivalsKql(spec),

  // | summarize KnownIPs = make_set(IPAddress), KnownASNs = make_set(tostring(AutonomousSystemNumber))
  //   by UPN = tolower(UserPrincipalName)   over every non-interactive sign-in, whatever its result;
  // summarized per window and kept in the Baselines table (no 500/50 caps).
  baseline: {
    table: "AADNonInteractiveUserSignInLogs",
    sightingsKql: (spec) =>
      [
        scopeKql(spec),
        `| where isnotempty(UserPrincipalName)`,
        // As text, to keep the 100-ns ticks (see exactTimes).
        `| summarize lastSeen = tostring(max(TimeGenerated)) by account = tolower(UserPrincipalName), ip = IPAddress, asn = tostring(AutonomousSystemNumber)`,
      ].join("\n"),
    earliestKql: (spec) => [scopeKql(spec), `| summarize earliest = tostring(min(TimeGenerated))`].join("\n"),
    observe: ({ signIns }) =>
      signIns
        .filter((row) => row.UserPrincipalName)
        .map((row) => ({ account: row.UserPrincipalName.toLowerCase(), ip: row.IPAddress, asn: row.AutonomousSystemNumber, lastSeen: row.TimeGenerated })),
  },

  baselineAccounts: ({ signIns }, ctx) => candidates(signIns, ctx).map((row) => row.UserPrincipalName.toLowerCase()),

  // While the tenant is learning, a user without a baseline cannot be told from a user not
  // yet learned: those sign-ins are held back (and counted), never alerted on nor dropped silently.
  heldBack: ({ signIns }, ctx) =>
    ctx.baselines.established ? 0 : candidates(signIns, ctx).filter((row) => !ctx.baselines.get(row.UserPrincipalName.toLowerCase())).length,

  evaluate({ signIns }, ctx) {
    const alerts: AlertDraft[] = [];
    for (const row of candidates(signIns, ctx)) {
      const upn = row.UserPrincipalName.toLowerCase();
      const asn = row.AutonomousSystemNumber;
      // | join kind=leftouter baseline on UPN
      // | where isnull(KnownIPs) or (not(set_has_element(KnownIPs, IPAddress)) and not(set_has_element(KnownASNs, ASN)))
      const known = ctx.baselines.get(upn);
      // A user with a baseline is judged against it whether or not the tenant is still learning.
      if (!known && !ctx.baselines.established) continue;
      if (known && (known.ips.has(row.IPAddress) || known.asns.has(asn))) continue;
      const location = toString(dynamicGet(parseJson(toString(row.LocationDetails)), "countryOrRegion"));
      alerts.push({
        // The sign-in's ids and the columns the seed projects: one alert per seed output row.
        identity: identity(row.Id, row.UniqueTokenIdentifier, row.TimeGenerated, upn, row.IPAddress, asn, row.ResourceDisplayName, row.AppDisplayName, row.UserAgent, location),
        time: row.TimeGenerated,
        account: upn,
        ip: row.IPAddress || null,
        title: `${upn} reached ${row.ResourceDisplayName} without MFA from ${known ? "a new IP and ASN" : "a network never seen for this user"}`,
        details: {
          ASN: asn,
          ResourceDisplayName: row.ResourceDisplayName,
          AppDisplayName: row.AppDisplayName,
          UserAgent: row.UserAgent,
          Location: location,
          baseline: known ? "IP and ASN unseen in the baseline period" : "no baseline for this user",
        },
        entities: [{ type: "account", name: upn }, ...(row.IPAddress ? [{ type: "ip" as const, address: row.IPAddress }] : [])],
        links: signInLinks(row),
      });
    }
    return alerts;
  },
});

/** The seed's filters before the baseline join: new, successful, not allowlisted, Intune, no MFA. */
function candidates(rows: readonly SignInRow[], ctx: RuleContext): SignInRow[] {
  // The seed's conjunction, cheapest and most selective tests first; parsing the IP comes last.
  return rows.filter(
    (row) =>
      // | where ResultType == 0   (a string column holding the AADSTS code)
      row.ResultType === "0" &&
      isIntuneResource(row.ResourceDisplayName) &&
      isNewEvent(ctx, row.TimeGenerated) &&
      !mentionsMfa(row.AuthenticationDetails) &&
      // | where not(ipv4_is_in_any_range(tostring(IPAddress), AllowedRanges)): an address that does not
      // parse gives null, and not(null) drops the row, as in KQL.
      ipIsInAnyRange(row.IPAddress, ctx.lists.network) === false,
  );
}
