import { beforeAll, describe, expect, it } from "vitest";

import { loadKusto, validateKql } from "../support/kusto.js";
import { LOG_ANALYTICS_SCHEMAS } from "../../src/bench/kusto-schemas.js";

// Seed queries, copied verbatim from /work/shared/seeds and /work/shared/reference/rules (only the
// changes noted below), so this suite does not depend on files outside the repository.

/** UpdateStsRefreshToken[Solorigate] (seeds/002), CloudAppEvents. */
const SOLORIGATE_CLOUDAPPEVENTS = `CloudAppEvents 
| where ActionType == "Update StsRefreshTokenValidFrom Timestamp."
| where RawEventData !has "Directorysync"
| extend displayName = RawEventData.ModifiedProperties[0].Name  
| where displayName == "StsRefreshTokensValidFrom"
| extend oldValue = RawEventData.ModifiedProperties[0].OldValue
| extend newValue = RawEventData.ModifiedProperties[0].NewValue
| extend oldStsRefreshValidFrom = todatetime(parse_json(tostring(oldValue))[0])
| extend newStsRefreshValidFrom = todatetime(parse_json(tostring(newValue))[0])
| extend tokenMinutesAdded = datetime_diff('minute',newStsRefreshValidFrom,oldStsRefreshValidFrom)
| extend tokenMinutesRemaining = datetime_diff('minute',Timestamp,newStsRefreshValidFrom)
| extend Role = parse_json(RawEventData.Actor[-1]).ID
| distinct AccountObjectId, AccountDisplayName, tostring(Role), IPAddress, IsAnonymousProxy, ISP, tokenMinutesAdded, tokenMinutesRemaining
`;

/**
 * Intune refresh-token / PRT reuse (seeds/003), AADNonInteractiveUserSignInLogs. The watchlist
 * call `_GetWatchlist('NetworkAllowlist')` (a Sentinel function this database does not define) is
 * replaced by an empty `datatable(SearchKey:string)[]` with the same SearchKey column.
 */
const INTUNE_WATCHLIST_STUB = "let NetworkAllowlist = datatable(SearchKey:string)[];";
const intuneQuery = (networkAllowlistLine: string): string => `${networkAllowlistLine}
let AllowedRanges = toscalar(NetworkAllowlist | summarize make_list(IPRange));
let intuneResources = dynamic([
    "Microsoft Intune","Microsoft Intune API","Device Management",
    "Windows 365","Microsoft Graph"
]);
let baseline =
    AADNonInteractiveUserSignInLogs
    | where TimeGenerated between (ago(14d) .. ago(1h))
    | summarize KnownIPs = make_set(IPAddress, 500), KnownASNs = make_set(tostring(AutonomousSystemNumber), 50)
              by UPN = tolower(UserPrincipalName);
AADNonInteractiveUserSignInLogs
| where TimeGenerated > ago(1h)
| where ResultType == 0
| where not(ipv4_is_in_any_range(tostring(IPAddress), AllowedRanges))
| where ResourceDisplayName has_any (intuneResources)
| extend UPN = tolower(UserPrincipalName), ASN = tostring(AutonomousSystemNumber)
| extend AuthDetails = tostring(AuthenticationDetails)
| where AuthDetails !has "Multifactor"  // token used without fresh MFA
| join kind=leftouter baseline on UPN
| where isnull(KnownIPs) or (not(set_has_element(KnownIPs, IPAddress)) and not(set_has_element(KnownASNs, ASN)))
| project TimeGenerated, UPN, IPAddress, ASN, ResourceDisplayName, AppDisplayName,
          UserAgent, Location=tostring(parse_json(tostring(LocationDetails)).countryOrRegion)
| extend AccountCustomEntity = UPN, IPCustomEntity = IPAddress
`;
/** The original line, with only the watchlist source swapped, so `IPRange` still exists. */
const INTUNE = intuneQuery(
  "let NetworkAllowlist = datatable(SearchKey:string)[] | project IPRange = tostring(SearchKey);",
);

/** Interactive to Non-Interactive Token Theft Pivot (seeds/004), with the ipv4_lookup plugin. */
const PIVOT = `// ── IP Exclusion Lists ─────────────────────────────────────────────────────
// Add corporate VPN egress IPs or other known-safe IPs to KnownSafeIPs.
// Add CIDR ranges (VPN subnets, on-prem NAT, Azure VPN Gateway) to KnownSafeNetworks.
// Watchlist alternative:
// let KnownSafeIPs = (_GetWatchlist('VPNExcludedIPs') | project SearchKey);
let KnownSafeIPs = dynamic([
// "203.0.113.50", // Example VPN egress IP 1
// "198.51.100.12", // Example VPN egress IP 2
// "20.x.x.x" // Example Azure VPN Gateway public IP
]);
// CIDR ranges – ipv4_lookup filters both interactive and NI IPs
// Azure datacenter IP ranges: https://aka.ms/azureipranges (add to a Watchlist for large sets)
let KnownSafeNetworks = datatable(network: string) [
// "10.0.0.0/8", // RFC1918 – private / on-prem
// "172.16.0.0/12", // RFC1918 – private / on-prem
// "192.168.0.0/16", // RFC1918 – private / on-prem
// "YOUR_VPN_CIDR/24", // Replace with corporate VPN egress subnet
"0.0.0.0/32" // Placeholder – keeps datatable valid when list is empty
];
// ──────────────────────────────────────────────────────────────────────────
let InteractiveSessions =
SigninLogs
| where TimeGenerated > ago(3h)
| where ResultType == 0
| where AuthenticationRequirement == "singleFactorAuthentication"
or ConditionalAccessStatus == "notApplied"
| where not(IPAddress in (KnownSafeIPs))
| evaluate ipv4_lookup(KnownSafeNetworks, IPAddress, network, return_unmatched = true)
| where isempty(network)
| project-away network
| project
UserPrincipalName,
InteractiveTime = TimeGenerated,
InteractiveIP = IPAddress,
InteractiveCountry = Location,
AppDisplayName,
CorrelationId;
AADNonInteractiveUserSignInLogs
| where TimeGenerated > ago(3h)
| where ResultType == 0
| where not(IPAddress in (KnownSafeIPs))
| evaluate ipv4_lookup(KnownSafeNetworks, IPAddress, network, return_unmatched = true)
| where isempty(network)
| project-away network
| join kind=inner InteractiveSessions on UserPrincipalName
| where IPAddress != InteractiveIP
and Location != InteractiveCountry
and (TimeGenerated - InteractiveTime) between (1m .. 2h)
| project
NISignInTime = TimeGenerated,
InteractiveTime,
UserPrincipalName,
AppDisplayName,
NIIPAddress = IPAddress,
NICountry = Location,
InteractiveIP,
InteractiveCountry,
CorrelationId,
UniqueTokenIdentifier,
TimeSinceInteractive = (TimeGenerated - InteractiveTime)
| order by UserPrincipalName asc, InteractiveTime asc
`;

/** Interactive STS refresh token modifications (reference/rules/StsRefreshTokenModification.yaml). */
const STS_AUDITLOGS = `// Include your additions to the allow list below as needed
let AllowedUserList = dynamic(["Microsoft Cloud App Security","ADConnectSyncAccount1","SyncAccount2"]);
AuditLogs
| where OperationName has 'StsRefreshTokenValidFrom'
| where TargetResources[0].modifiedProperties != '[]'
| where TargetResources[0].modifiedProperties !has 'DirectorySync'
| extend TargetResourcesModProps = TargetResources[0].modifiedProperties
| mv-expand TargetResourcesModProps
| where tostring(TargetResourcesModProps.displayName) =~ 'StsRefreshTokensValidFrom'
| extend InitiatingUserOrApp = iff(isnotempty(InitiatedBy.user.userPrincipalName),tostring(InitiatedBy.user.userPrincipalName), tostring(InitiatedBy.app.displayName))
| where InitiatingUserOrApp !in~ (AllowedUserList)
| extend targetUserOrApp = TargetResources[0].userPrincipalName
| extend eventName = tostring(TargetResourcesModProps.displayName)
| extend oldStsRefreshValidFrom = todatetime(parse_json(tostring(TargetResourcesModProps.oldValue))[0])
| extend newStsRefreshValidFrom = todatetime(parse_json(tostring(TargetResourcesModProps.newValue))[0])
| extend tokenMinutesAdded = datetime_diff('minute',newStsRefreshValidFrom,oldStsRefreshValidFrom)
| extend tokenMinutesRemaining = datetime_diff('minute',TimeGenerated,newStsRefreshValidFrom)
| project-reorder Result, AADOperationType
| extend InitiatingIpAddress = iff(isnotempty(InitiatedBy.user.ipAddress), tostring(InitiatedBy.user.ipAddress), tostring(InitiatedBy.app.ipAddress))
| extend UserName = iff(InitiatingUserOrApp has '@', tostring(split(InitiatingUserOrApp, '@')[0]), '')
| extend UPNSuffix = iff(InitiatingUserOrApp has '@', tostring(split(InitiatingUserOrApp, '@')[1]), '')
| extend CloudApplicationName = iff(InitiatingUserOrApp !has '@', tostring(InitiatingUserOrApp), '')
| extend Account_0_Name = UserName
| extend Account_0_UPNSuffix = UPNSuffix
| extend IP_0_Address = InitiatingIpAddress
| extend CloudApplication_0_Name = CloudApplicationName
`;

/** Replaces exactly one occurrence of `from`, so a mutation cannot silently be a no-op. */
function mutate(query: string, from: string, to: string): string {
  const parts = query.split(from);
  if (parts.length !== 2) throw new Error(`expected exactly one '${from}' in the query`);
  return parts.join(to);
}

beforeAll(() => {
  loadKusto();
});

describe("validateKql: seed queries analyse cleanly against the Log Analytics schemas", () => {
  it.each([
    ["Solorigate CloudAppEvents", SOLORIGATE_CLOUDAPPEVENTS],
    ["Intune PRT reuse (watchlist replaced by a datatable)", INTUNE],
    ["interactive to non-interactive pivot, with ipv4_lookup", PIVOT],
    ["STS refresh token modification on AuditLogs", STS_AUDITLOGS],
  ])("%s", (_name, query) => {
    expect(validateKql(query)).toEqual([]);
  });

  // The same queries with one column renamed must fail: the clean results above are not vacuous.
  it.each([
    ["CloudAppEvents ISP spelled Isp (the Defender doc spelling)", SOLORIGATE_CLOUDAPPEVENTS, "IsAnonymousProxy, ISP,", "IsAnonymousProxy, Isp,", "Isp"],
    ["CloudAppEvents Timestamp misspelled", SOLORIGATE_CLOUDAPPEVENTS, "'minute',Timestamp,", "'minute',TimeStamp,", "TimeStamp"],
    ["AADNonInteractive ASN misspelled", INTUNE, "ASN = tostring(AutonomousSystemNumber)", "ASN = tostring(AutonomousSystemNum)", "AutonomousSystemNum"],
    ["SigninLogs CorrelationId misspelled", PIVOT, "AppDisplayName,\nCorrelationId;", "AppDisplayName,\nCorrelationID;", "CorrelationID"],
    ["SigninLogs AuthenticationRequirement misspelled", PIVOT, "| where AuthenticationRequirement ==", "| where AuthRequirement ==", "AuthRequirement"],
    ["ipv4_lookup key column misspelled", PIVOT, '"notApplied"\n| where not(IPAddress in (KnownSafeIPs))\n| evaluate ipv4_lookup(KnownSafeNetworks, IPAddress,', '"notApplied"\n| where not(IPAddress in (KnownSafeIPs))\n| evaluate ipv4_lookup(KnownSafeNetworks, IPAdress,', "IPAdress"],
    ["AuditLogs AADOperationType misspelled", STS_AUDITLOGS, "Result, AADOperationType", "Result, AadOperationType", "AadOperationType"],
  ])("%s is reported", (_name, query, from, to, badName) => {
    const errors = validateKql(mutate(query, from, to));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join("\n")).toContain(`'${badName}'`);
  });

  it("the Intune query with the whole watchlist line replaced loses IPRange, and says so", () => {
    const errors = validateKql(intuneQuery(INTUNE_WATCHLIST_STUB));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("'IPRange'");
  });
});

describe("validateKql: errors", () => {
  it("reports a misspelled column, naming it", () => {
    const errors = validateKql('AuditLogs | where OperationNam has "x"');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^KS142 at 1:19 'OperationNam': /);
    expect(errors[0]).toContain("The name 'OperationNam' does not refer to any known column");
    expect(validateKql('AuditLogs | where OperationName has "x"')).toEqual([]);
  });

  it("reports an unknown table", () => {
    const errors = validateKql("AuditLog | take 10");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("'AuditLog' does not refer to any known table");
    expect(validateKql("AuditLogs | take 10")).toEqual([]);
  });

  it("reports syntax errors", () => {
    const unclosed = validateKql('AuditLogs | where (OperationName has "x"');
    expect(unclosed).toEqual([expect.stringMatching(/^KS005 .*Expected: \)/)]);

    const badOperator = validateKql('AuditLogs | wher OperationName has "x"');
    expect(badOperator[0]).toMatch(/^KS176 at 1:13 'wher': Query operator expected/);
  });

  it("reports type errors the analyser finds", () => {
    expect(validateKql('AuditLogs | where TimeGenerated > "yesterday"')).toEqual([
      expect.stringContaining("The operator '>' is not defined for the operand types datetime and string"),
    ]);
    expect(validateKql("AuditLogs | summarize sum(OperationName)")).toHaveLength(1);
    expect(validateKql("AuditLogs | summarize sum(DurationMs)")).toEqual([]);
  });

  it("knows which sign-in columns are string and which are dynamic", () => {
    // LocationDetails is JSON text in AADNonInteractiveUserSignInLogs: member access needs parse_json.
    const direct = "| extend Country = tostring(LocationDetails.countryOrRegion)";
    const parsed = "| extend Country = tostring(parse_json(LocationDetails).countryOrRegion)";
    expect(validateKql(`AADNonInteractiveUserSignInLogs ${direct}`)).toEqual([
      expect.stringContaining("'countryOrRegion'"),
    ]);
    expect(validateKql(`AADNonInteractiveUserSignInLogs ${parsed}`)).toEqual([]);
    expect(validateKql(`SigninLogs ${direct}`)).toEqual([]);
  });

  it("reports an unknown function", () => {
    expect(validateKql("AuditLogs | extend x = tolowr(OperationName)")).toEqual([
      expect.stringContaining("'tolowr' does not refer to any known function"),
    ]);
  });
});

describe("validateKql: constructs the detection queries use analyse cleanly", () => {
  it("ingestion_time() in where and project, against a datetime literal", () => {
    const query = `AADNonInteractiveUserSignInLogs
| where ingestion_time() >= datetime(2026-11-01T00:00:00Z)
| project TimeGenerated, _ArrivalTime = ingestion_time()`;
    expect(validateKql(query)).toEqual([]);
    // and the projection is really analysed: a column the projection dropped is unknown after it
    expect(validateKql(`${query}\n| where isnotempty(UserPrincipalName)`)).toEqual([
      expect.stringContaining("'UserPrincipalName'"),
    ]);
  });

  it("ago, datetime, has_any, dynamic, tolower, in~, hash, parse_json, make_set, arg_max, summarize by", () => {
    const query = `let Watched = dynamic(["Update StsRefreshTokenValidFrom Timestamp", "Update user"]);
AuditLogs
| where TimeGenerated > ago(1d) and ActivityDateTime < datetime(2026-11-01)
| where OperationName has_any (Watched)
| where tolower(Result) in~ ("success", "failure")
| extend Initiator = tostring(parse_json(tostring(InitiatedBy)).user.userPrincipalName)
| summarize Operations = make_set(OperationName, 100), arg_max(TimeGenerated, CorrelationId)
    by Initiator, Bucket = hash(Initiator, 16)
| project Initiator, Bucket, Operations, TimeGenerated, CorrelationId
| extend Count = array_length(Operations)`;
    expect(validateKql(query)).toEqual([]);
  });

  it("covers CloudAppEvents' own types", () => {
    const query = `CloudAppEvents
| where Timestamp > ago(1h) and TimeGenerated > ago(1h)
| where ApplicationId in (11161, 20893) and IsAnonymousProxy == true
| extend Actor = tostring(RawEventData.Actor[0].ID)
| project Timestamp, AccountObjectId, IPAddress, ISP, CountryCode, Actor`;
    expect(validateKql(query)).toEqual([]);
  });
});

describe("schemas", () => {
  it("record the types the reference insists on", () => {
    const s = LOG_ANALYTICS_SCHEMAS;
    for (const table of ["SigninLogs", "AADNonInteractiveUserSignInLogs", "AuditLogs"] as const) {
      expect(s[table].ResultType).toBe("string");
    }
    for (const table of Object.values(s)) {
      expect(table).toMatchObject({ TenantId: "string", SourceSystem: "string", Type: "string" });
      expect(table.TimeGenerated).toBe("datetime");
    }
    expect(s.SigninLogs.AutonomousSystemNumber).toBe("string");
    expect(s.AADNonInteractiveUserSignInLogs.AutonomousSystemNumber).toBe("string");
    for (const col of ["LocationDetails", "DeviceDetail", "Status", "ConditionalAccessPolicies", "MfaDetail"]) {
      expect(s.SigninLogs[col]).toBe("dynamic");
      expect(s.AADNonInteractiveUserSignInLogs[col]).toBe("string");
    }
    expect(s.AADNonInteractiveUserSignInLogs.ResourceId).toBeUndefined();
    expect(s.AuditLogs).toMatchObject({ InitiatedBy: "dynamic", TargetResources: "dynamic", AdditionalDetails: "dynamic" });
    expect(s.CloudAppEvents).toMatchObject({
      Timestamp: "datetime",
      RawEventData: "dynamic",
      IsAnonymousProxy: "bool",
      ISP: "string",
      ApplicationId: "int",
    });
    expect(s.CloudAppEvents.Isp).toBeUndefined();
  });
});
