// Rule-test builders: one realistic row per table (copied from the replay scenarios in
// ../shared/scenarios, times moved into the test window), a function that applies a case's
// overrides and parses the result through the table's zod schema exactly as a replay or
// Log Analytics row is parsed, and a RuleContext made of plain in-memory values.
import { systemActor } from "../../src/model/actor.js";
import { allowlistsAt } from "../../src/engine/allowlists.js";
import { LIST_DEFAULTS, LIST_NAMES, type AllowlistEntry, type ListName } from "../../src/model/allowlists.js";
import { type DateTime, isoOf, type TimeRange, toDateTime, type Window } from "../../src/model/time.js";
import type { AlertDraft, BaselineView, Rule, RuleContext } from "../../src/rules/rule.js";
import { parseRow, rowSchemas, type RowOf, type TableName } from "../../src/model/rows.js";
import type { SessionState } from "../../src/model/sessions.js";
import { sessionMemory } from "../../src/engine/sessions.js";

export const at = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad test time ${iso}`);
  return ms;
};

/** An exact event time (100-ns ticks) from ISO text with up to seven fraction digits. */
export const tick = (iso: string): DateTime => {
  const t = toDateTime(iso);
  if (t === null) throw new Error(`bad test time ${iso}`);
  return t;
};

/** The scheduled run every case evaluates in, unless it says otherwise. */
export const WINDOW: Window = { start: at("2026-11-01T10:00:00Z"), end: at("2026-11-01T11:00:00Z") };
/** The replay's --from/--to: events with TimeGenerated here are new, anything else is history. */
export const EVENT_RANGE: TimeRange = { from: at("2026-11-01T00:00:00Z"), to: at("2026-11-02T00:00:00Z") };

/** The [from, to) bounds every rule honours for triggering events: name, TimeGenerated, alerts expected. */
export const NARROW_RANGE: TimeRange = { from: at("2026-11-01T10:00:00Z"), to: at("2026-11-01T11:00:00Z") };
export const RANGE_EDGE_CASES: readonly (readonly [string, string, number])[] = [
  ["before from", "2026-11-01T09:59:59.999Z", 0],
  ["at from", "2026-11-01T10:00:00.000Z", 1],
  ["just before to", "2026-11-01T10:59:59.999Z", 1],
  ["at to", "2026-11-01T11:00:00.000Z", 0],
];

type Raw = Record<string, unknown>;

/** Realistic rows, one per table, as Log Analytics column names and types deliver them. */
export const BASE: Record<TableName, Raw> = {
  // sts-auditlogs-basic: an application extends bob's refresh tokens (09:15 -> 10:15).
  AuditLogs: {
    TimeGenerated: "2026-11-01T10:15:00.000Z",
    ActivityDateTime: "2026-11-01T10:15:00.000Z",
    OperationName: "Update StsRefreshTokenValidFrom Timestamp",
    ActivityDisplayName: "Update StsRefreshTokenValidFrom Timestamp",
    Category: "UserManagement",
    Result: "success",
    ResultType: "",
    ResultReason: "",
    AADOperationType: "Update",
    LoggedByService: "Core Directory",
    CorrelationId: "0b570823-5c31-c6ed-79d9-3b5896996cd9",
    Id: "Directory_92453af8-008a-0fa2-7877-ed0879002a0a",
    InitiatedBy: {
      app: {
        appId: "645fb06b-9bef-7a37-43eb-96440593e59c",
        displayName: "Evil App",
        servicePrincipalId: "a09fb1af-f043-8a41-92b3-c375a2e750e7",
        servicePrincipalName: "Evil App",
      },
    },
    TargetResources: [
      {
        id: "b29209a9-5c1f-5923-ff95-db65796bdfe2",
        displayName: "bob",
        type: "User",
        userPrincipalName: "bob@contoso.com",
        modifiedProperties: [
          { displayName: "StsRefreshTokensValidFrom", oldValue: '["2026-10-01T00:00:00Z"]', newValue: '["2026-11-01T10:10:00Z"]' },
          { displayName: "Included Updated Properties", oldValue: null, newValue: '"StsRefreshTokensValidFrom"' },
        ],
        administrativeUnits: [],
      },
    ],
    AdditionalDetails: [],
    Identity: "Evil App",
    Type: "AuditLogs",
  },

  // solorigate-cloudappevents-basic: the same change as the unified audit log reports it (08:05 -> 10:05).
  CloudAppEvents: {
    TimeGenerated: "2026-11-01T10:05:00.000Z",
    Timestamp: "2026-11-01T10:05:00.000Z",
    ActionType: "Update StsRefreshTokenValidFrom Timestamp.",
    Application: "Microsoft 365",
    ApplicationId: 11161,
    AccountObjectId: "efc5d310-a1cd-39f2-360a-ea574bb510c3",
    AccountId: "efc5d310-a1cd-39f2-360a-ea574bb510c3",
    AccountDisplayName: "Evil App",
    AccountType: "Application",
    IsAdminOperation: false,
    IPAddress: "203.0.113.77",
    IsAnonymousProxy: false,
    CountryCode: "US",
    City: "",
    ISP: "Contoso ISP",
    UserAgent: "",
    ActivityType: "Edit",
    RawEventData: {
      CreationTime: "2026-11-01T10:05:00",
      Id: "e0b4bf81-91e1-2d04-0639-1121e8a352a8",
      Operation: "Update StsRefreshTokenValidFrom Timestamp",
      OrganizationId: "8c3a7f0e-0000-4000-8000-000000000001",
      RecordType: 8,
      ResultStatus: "Success",
      UserKey: "e51d1a35-5259-978e-fa1b-cd1d88a159cb",
      UserType: 4,
      Workload: "AzureActiveDirectory",
      ObjectId: "victim@contoso.com",
      UserId: "Evil App",
      AzureActiveDirectoryEventType: 1,
      ModifiedProperties: [{ Name: "StsRefreshTokensValidFrom", NewValue: '["2026-11-01T09:55:00Z"]', OldValue: '["2026-10-01T00:00:00Z"]' }],
      Actor: [
        { ID: "Evil App", Type: 1 },
        { ID: "a09fb1af-f043-8a41-92b3-c375a2e750e7", Type: 2 },
      ],
      Target: [
        { ID: "User_96d4976b-516a-16ac-19d1-48f3b744eee1", Type: 2 },
        { ID: "victim@contoso.com", Type: 5 },
      ],
    },
    ReportId: "b5c38406-718c-d8ef-03a7-32b7e77a5711",
    Type: "CloudAppEvents",
  },

  // pivot-basic: dan signs in interactively, single factor (09:10 -> 10:10) ...
  SigninLogs: {
    TimeGenerated: "2026-11-01T10:10:00.000Z",
    CreatedDateTime: "2026-11-01T10:10:00.000Z",
    UserPrincipalName: "dan@contoso.com",
    UserId: "b2f12cd5-e497-e44d-7895-ebd4425b57d7",
    UserDisplayName: "dan",
    IPAddress: "198.18.1.10",
    AutonomousSystemNumber: "8075",
    Location: "US",
    LocationDetails: { city: "Seattle", state: "Washington", countryOrRegion: "US", geoCoordinates: { latitude: 0, longitude: 0 } },
    ResultType: "0",
    ResultDescription: "",
    AppDisplayName: "Microsoft Authentication Broker",
    AppId: "8568460f-346a-394b-9f2b-c5cd6fdbaa87",
    ResourceDisplayName: "Microsoft Graph",
    ResourceIdentity: "7b9c7833-e9e2-ce84-afcb-38750bf7f8f4",
    AuthenticationDetails:
      '[{"authenticationStepDateTime": "2026-11-01T00:00:00Z", "authenticationMethod": "Password", "succeeded": true, "authenticationStepRequirement": "Primary authentication", "authenticationStepResultDetail": "Correct password"}]',
    AuthenticationRequirement: "singleFactorAuthentication",
    ConditionalAccessStatus: "notApplied",
    CorrelationId: "c734fb00-e7b1-1f6b-99b0-edc42e032456",
    UniqueTokenIdentifier: "62d82836-eff2-244c-441",
    SessionId: "54b4f7f9-dae2-145f-61c4-8b2c2092041c",
    Id: "187190c4-cb86-931c-ebc1-4dc3d38a8670",
    IsInteractive: true,
    UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
    ClientAppUsed: "Mobile Apps and Desktop clients",
    Category: "SignInLogs",
    OperationName: "Sign-in activity",
    Type: "SigninLogs",
    TenantId: "8c3a7f0e-0000-4000-8000-000000000001",
  },

  // ... and 30 minutes later his session refreshes a Microsoft Graph token from Germany (09:40 -> 10:40).
  AADNonInteractiveUserSignInLogs: {
    TimeGenerated: "2026-11-01T10:40:00.000Z",
    CreatedDateTime: "2026-11-01T10:40:00.000Z",
    UserPrincipalName: "dan@contoso.com",
    UserId: "b2f12cd5-e497-e44d-7895-ebd4425b57d7",
    UserDisplayName: "dan",
    IPAddress: "203.0.113.90",
    AutonomousSystemNumber: "64501",
    Location: "DE",
    LocationDetails: '{"city": "Berlin", "state": "Berlin", "countryOrRegion": "DE", "geoCoordinates": {"latitude": 0, "longitude": 0}}',
    ResultType: "0",
    ResultDescription: "",
    AppDisplayName: "Microsoft Authentication Broker",
    AppId: "8568460f-346a-394b-9f2b-c5cd6fdbaa87",
    ResourceDisplayName: "Microsoft Graph",
    ResourceIdentity: "7b9c7833-e9e2-ce84-afcb-38750bf7f8f4",
    AuthenticationDetails:
      '[{"authenticationStepDateTime": "2026-11-01T00:00:00Z", "authenticationMethod": "Password", "succeeded": true, "authenticationStepRequirement": "Primary authentication", "authenticationStepResultDetail": "Correct password"}]',
    AuthenticationRequirement: "singleFactorAuthentication",
    ConditionalAccessStatus: "notApplied",
    CorrelationId: "8b218d10-9586-cbe3-7246-b66d81a0f365",
    UniqueTokenIdentifier: "ee5ed326-dad1-19b1-056",
    SessionId: "54b4f7f9-dae2-145f-61c4-8b2c2092041c",
    Id: "b4130a81-9140-d8e3-8c2c-5fefa968b497",
    IsInteractive: false,
    UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
    ClientAppUsed: "Mobile Apps and Desktop clients",
    Category: "NonInteractiveUserSignInLogs",
    OperationName: "Sign-in activity",
    Type: "AADNonInteractiveUserSignInLogs",
    TenantId: "8c3a7f0e-0000-4000-8000-000000000001",
  },
};

/**
 * A case's changes to a base row. A key is a column, or a path into a dynamic column with
 * dots ("InitiatedBy.app.displayName", "TargetResources.0.modifiedProperties"; a numeric
 * step indexes an array). `undefined` removes the column or property.
 */
export type Overrides = Record<string, unknown>;

/** The base row of a table with the overrides applied, as raw (unparsed) JSON values. */
export function raw(table: TableName, overrides: Overrides = {}): Raw {
  const out = structuredClone(BASE[table]);
  for (const [path, value] of Object.entries(overrides)) setPath(out, path.split("."), structuredClone(value));
  return out;
}

function setPath(target: Raw, steps: string[], value: unknown): void {
  let node: unknown = target;
  for (const step of steps.slice(0, -1)) {
    const next = (node as Record<string, unknown>)[step];
    if (typeof next !== "object" || next === null) throw new Error(`override path ${steps.join(".")}: no object at ${step}`);
    node = next;
  }
  const last = steps[steps.length - 1]!;
  const holder = node as Record<string, unknown>;
  if (value === undefined) {
    if (Array.isArray(holder)) holder.splice(Number(last), 1);
    else delete holder[last];
  } else holder[last] = value;
}

/** A raw row parsed through its table's schema, as the source would hand it to a rule. */
export function parse<T extends TableName>(table: T, rawRow: Raw): RowOf<T> {
  const outcome = parseRow(rowSchemas[table], rawRow);
  if (!outcome.ok) throw new Error(`test row rejected by the ${table} schema: ${outcome.reason}`);
  return outcome.row as RowOf<T>;
}

/** The base row of a table plus a case's overrides, parsed. */
export function row<T extends TableName>(table: T, overrides: Overrides = {}): RowOf<T> {
  return parse(table, raw(table, overrides));
}

/** The same raw row with the named dynamic columns serialised as JSON text, as some exports deliver them. */
export function asJsonText(rawRow: Raw, ...columns: string[]): Raw {
  const out = { ...rawRow };
  for (const column of columns) out[column] = JSON.stringify(out[column]);
  return out;
}

// ---------------------------------------------------------------------------------------
// RuleContext

/** An allowlist entry as the store keeps it. */
export function entry(list: ListName, value: string, expiresAt: number | null = null): AllowlistEntry {
  return { id: `${list}:${value}`, list, value, reason: "test", expiresAt, createdBy: systemActor("test"), createdAt: at("2026-10-01T00:00:00Z") };
}

export interface ContextOptions {
  window?: Window;
  eventRange?: TimeRange;
  /**
   * List values, as `--allowlist` gives them: a list named here replaces its defaults, a list
   * not named keeps them. Ignored when `entries` is given.
   */
  lists?: Partial<Record<ListName, readonly string[]>>;
  /** Stored allowlist entries (with expiry), read as of the window's end like the engine does. */
  entries?: readonly AllowlistEntry[];
  /** Known networks per lowercase account; an account not here has no (or only stale) baseline. */
  baseline?: Record<string, { ips?: readonly string[]; asns?: readonly string[] }>;
  /** Whether the tenant's baseline is established (default true). */
  established?: boolean;
  /** What sessions were seen with before the window (forked session); a session not here is unknown. */
  sessions?: readonly SessionState[];
}

export function context(options: ContextOptions = {}): RuleContext {
  const window = options.window ?? WINDOW;
  const entries =
    options.entries ??
    LIST_NAMES.flatMap((list) => (options.lists?.[list] ?? LIST_DEFAULTS[list]).map((value) => entry(list, value)));
  const known = new Map(
    Object.entries(options.baseline ?? {}).map(([account, k]) => [account, { ips: new Set(k.ips ?? []), asns: new Set(k.asns ?? []) }]),
  );
  const baselines: BaselineView = { established: options.established ?? true, get: (account) => known.get(account) };
  const sessions = new Map((options.sessions ?? []).map((state) => [state.sessionId, state]));
  return { window, eventRange: options.eventRange ?? EVENT_RANGE, lists: allowlistsAt(entries, window.end), baselines, sessions: sessionMemory(sessions) };
}

/** Runs a rule's evaluate() on named inputs (every input the rule reads must be given). */
export function evaluate(rule: Rule, inputs: Record<string, readonly RowOf<TableName>[]>, ctx: RuleContext = context()): AlertDraft[] {
  return rule.evaluate(inputs as Parameters<Rule["evaluate"]>[0], ctx);
}

/** The fields a case asserts on most: who, from where, when. */
export function summary(alert: AlertDraft): { account: string; ip: string | null; time: string } {
  return { account: alert.account, ip: alert.ip, time: isoOf(alert.time) };
}
