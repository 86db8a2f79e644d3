/**
 * Column schemas of the Log Analytics tables the detection queries read, with their Kusto types.
 *
 * Source: /work/shared/reference/log-analytics-schemas.md (Azure Monitor table reference 2026,
 * Sentinel KQL-validation CustomTables schemas, Defender XDR CloudAppEvents doc). Every column that
 * reference lists for a table is here, plus the standard Log Analytics `TenantId`, `SourceSystem`
 * and `Type` string columns. Column names are case-sensitive in KQL (e.g. CloudAppEvents has `ISP`,
 * not `Isp`), so spell them exactly as Log Analytics does.
 *
 * Used by test/support/kusto.ts and by the local query API (src/bench/query-api.ts) to analyse KQL text; a renamed or misspelled column in a detection
 * query then fails the KQL validator tests.
 */

export type KustoType =
  | "string"
  | "datetime"
  | "dynamic"
  | "bool"
  | "int"
  | "long"
  | "real"
  | "decimal"
  | "guid"
  | "timespan";

export type TableName =
  | "SigninLogs"
  | "AADNonInteractiveUserSignInLogs"
  | "AuditLogs"
  | "CloudAppEvents";

/** Standard columns Log Analytics adds to these tables. */
const standardColumns = {
  TenantId: "string",
  SourceSystem: "string",
  Type: "string",
} as const satisfies Record<string, KustoType>;

/** Columns named identically (with the same type) in both sign-in tables. */
const signInCommonColumns = {
  TimeGenerated: "datetime",
  CreatedDateTime: "datetime",
  UserPrincipalName: "string",
  UserId: "string",
  UserDisplayName: "string",
  Identity: "string",
  IPAddress: "string",
  // string in every doc version and in the Sentinel CI schema (Graph has it as Int32).
  AutonomousSystemNumber: "string",
  // 2-letter country code.
  Location: "string",
  // The AADSTS code as text: "0" is success.
  ResultType: "string",
  ResultDescription: "string",
  ResultSignature: "string",
  AppDisplayName: "string",
  AppId: "string",
  ResourceDisplayName: "string",
  ResourceIdentity: "string",
  // JSON array text in both tables.
  AuthenticationDetails: "string",
  AuthenticationRequirement: "string",
  AuthenticationProtocol: "string",
  AuthenticationProcessingDetails: "string",
  AuthenticationRequirementPolicies: "string",
  AuthenticationMethodsUsed: "string",
  NetworkLocationDetails: "string",
  RiskEventTypes: "string",
  RiskEventTypes_V2: "string",
  AppliedEventListeners: "dynamic",
  ConditionalAccessStatus: "string",
  CorrelationId: "string",
  UniqueTokenIdentifier: "string",
  SessionId: "string",
  IncomingTokenType: "string",
  // Recent columns the reference calls optional; types as in the Sentinel CI schema.
  ClientSessionId: "string",
  OriginalTransferMethod: "string",
  ClientCredentialType: "string",
  IsThroughGlobalSecureAccess: "bool",
  UserAgent: "string",
  ClientAppUsed: "string",
  IsInteractive: "bool",
  IsRisky: "bool",
  RiskLevelDuringSignIn: "string",
  RiskState: "string",
  UserType: "string",
  OriginalRequestId: "string",
  Id: "string",
  TokenIssuerType: "string",
  HomeTenantId: "string",
  ResourceTenantId: "string",
  Category: "string",
  OperationName: "string",
} as const satisfies Record<string, KustoType>;

export const LOG_ANALYTICS_SCHEMAS: Record<TableName, Record<string, KustoType>> = {
  SigninLogs: {
    ...standardColumns,
    ...signInCommonColumns,
    ResourceId: "string",
    // dynamic here, string in AADNonInteractiveUserSignInLogs.
    LocationDetails: "dynamic",
    DeviceDetail: "dynamic",
    Status: "dynamic",
    ConditionalAccessPolicies: "dynamic",
    MfaDetail: "dynamic",
    TokenProtectionStatusDetails: "dynamic",
    Agent: "dynamic",
  },

  AADNonInteractiveUserSignInLogs: {
    ...standardColumns,
    ...signInCommonColumns,
    // No ResourceId (nor ServicePrincipalName, Resource, ResourceProvider) in this table.
    // JSON text, not dynamic: needs parse_json before member access.
    LocationDetails: "string",
    DeviceDetail: "string",
    Status: "string",
    ConditionalAccessPolicies: "string",
    MfaDetail: "string",
    TokenProtectionStatusDetails: "string",
    Agent: "string",
    ProcessingTimeInMs: "string",
    // e.g. '["nonInteractiveUser"]'
    SignInEventTypes: "string",
  },

  AuditLogs: {
    ...standardColumns,
    TimeGenerated: "datetime",
    ActivityDateTime: "datetime",
    OperationName: "string",
    ActivityDisplayName: "string",
    Category: "string",
    Result: "string",
    ResultType: "string",
    ResultReason: "string",
    ResultDescription: "string",
    ResultSignature: "string",
    InitiatedBy: "dynamic",
    TargetResources: "dynamic",
    AdditionalDetails: "dynamic",
    AADOperationType: "string",
    CorrelationId: "string",
    Id: "string",
    LoggedByService: "string",
    Identity: "string",
    AADTenantId: "string",
    Level: "string",
    Location: "string",
    DurationMs: "long",
  },

  CloudAppEvents: {
    ...standardColumns,
    // Both exist in the Sentinel / Log Analytics table.
    TimeGenerated: "datetime",
    Timestamp: "datetime",
    ActionType: "string",
    Application: "string",
    ApplicationId: "int",
    AppInstanceId: "int",
    AccountObjectId: "string",
    AccountId: "string",
    AccountDisplayName: "string",
    AccountType: "string",
    IsAdminOperation: "bool",
    DeviceType: "string",
    OSPlatform: "string",
    IPAddress: "string",
    IsAnonymousProxy: "bool",
    CountryCode: "string",
    City: "string",
    ISP: "string",
    UserAgent: "string",
    ActivityType: "string",
    ActivityObjects: "dynamic",
    ObjectName: "string",
    ObjectType: "string",
    ObjectId: "string",
    ReportId: "string",
    IsExternalUser: "bool",
    IsImpersonated: "bool",
    IPTags: "dynamic",
    IPCategory: "string",
    UserAgentTags: "dynamic",
    RawEventData: "dynamic",
    AdditionalFields: "dynamic",
    LastSeenForUser: "dynamic",
    UncommonForUser: "dynamic",
    AuditSource: "string",
    SessionData: "dynamic",
    OAuthAppId: "string",
  },
};
