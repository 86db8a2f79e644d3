// Rendering simulated events as Log Analytics rows (one NDJSON line each), in the column sets and
// value styles of the replay examples: sign-in rows are spliced from precomputed JSON fragments
// because they are the bulk of the output; the rarer audit and cloud-app rows use JSON.stringify.

import { RESULT_TEXT, TENANT_ID, type App, type City, type Resource } from "./catalog.js";
import type { Rand } from "./prng.js";
import { DeviceKind, type Device, type Site, type User } from "./tenant.js";

export const TABLES = ["SigninLogs", "AADNonInteractiveUserSignInLogs", "AuditLogs", "CloudAppEvents"] as const;
export type Table = (typeof TABLES)[number];

const PAD2 = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, "0"));
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
let isoDay = NaN;
let isoPrefix = "";

/** `Date.prototype.toISOString` for whole milliseconds, without allocating a Date per row. */
export function iso(ms: number): string {
  const day = Math.floor(ms / 86_400_000);
  if (day !== isoDay) {
    isoDay = day;
    isoPrefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
  }
  let r = ms - day * 86_400_000;
  const h = Math.floor(r / 3_600_000);
  r -= h * 3_600_000;
  const m = Math.floor(r / 60_000);
  r -= m * 60_000;
  const s = Math.floor(r / 1000);
  return `${isoPrefix}${PAD2[h]}:${PAD2[m]}:${PAD2[s]}.${PAD3[r - s * 1000]}Z`;
}

/** Second precision without milliseconds: "2026-11-01T09:10:00Z" (token timestamps, audit values). */
export const isoSeconds = (ms: number): string => iso(ms).slice(0, 19) + "Z";

/** No row arrives this long after its event (see ingestionDelay). */
export const MAX_INGESTION_DELAY_MS = 6 * 3_600_000;

/** Ingestion delay: mostly 1-8 minutes, about 0.5% of rows 1-6 hours late. */
export function ingestionDelay(rng: Rand): number {
  if (rng.chance(0.005)) return 3_600_000 + rng.int(5 * 3_600_000);
  // skewed towards the short end, like real pipelines
  const f = rng.float();
  return 60_000 + Math.floor(f * f * 420_000) + rng.int(1000);
}

// ---------------------------------------------------------------------------------------
// Sign-ins

export enum Auth {
  /** Password, single factor. */
  Password = 0,
  /** Refresh token / PRT: first factor satisfied by a claim in the token. */
  Previous = 1,
  /** Password then a second factor, performed now. */
  Mfa = 2,
  /** Token carrying both first-factor and MFA claims. */
  MfaClaim = 3,
}

export interface SignIn {
  interactive: boolean;
  t: number;
  user: User;
  site: Site;
  device: Device;
  app: App;
  resource: Resource;
  /** "0" or an AADSTS code. */
  result: string;
  auth: Auth;
  mfaMethod: string;
  conditionalAccess: "success" | "notApplied";
  sessionId: string;
  /** Overrides for attacker tooling. */
  userAgent?: string;
  deviceDetail?: string;
}

interface Located {
  obj: string;
  text: string;
}

const locationCache = new Map<City, Located>();

function location(city: City): Located {
  let l = locationCache.get(city);
  if (!l) {
    const obj = JSON.stringify({
      city: city.city,
      state: city.state,
      countryOrRegion: city.country,
      geoCoordinates: { latitude: city.lat, longitude: city.lon },
    });
    l = { obj, text: JSON.stringify(obj) };
    locationCache.set(city, l);
  }
  return l;
}

const statusCache = new Map<string, Located>();

function status(code: string): Located {
  let s = statusCache.get(code);
  if (!s) {
    const reason = RESULT_TEXT[code] ?? "Other.";
    const obj = code === "0"
      ? `{"errorCode":0}`
      : JSON.stringify({ errorCode: Number(code), failureReason: reason });
    s = { obj, text: JSON.stringify(obj) };
    statusCache.set(code, s);
  }
  return s;
}

const UA = {
  winBrowser: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
  winApp: "Windows-AzureAD-Authentication-Provider/1.0",
  macBrowser: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  macApp: "Microsoft Office/16.0 (Macintosh; Mac OS X 14.6)",
  ios: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
  android: "Dalvik/2.1.0 (Linux; U; Android 14; SM-S918B Build/UP1A.231005.007)",
  guest: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
};

export function userAgent(device: Device, browser: boolean): string {
  switch (device.kind) {
    case DeviceKind.Windows: return browser ? UA.winBrowser : UA.winApp;
    case DeviceKind.Mac: return browser ? UA.macBrowser : UA.macApp;
    case DeviceKind.Ios: return UA.ios;
    case DeviceKind.Android: return UA.android;
    default: return UA.guest;
  }
}

const OS = ["Windows10", "MacOs", "Ios", "Android", "Windows10"] as const;
const BROWSER = ["Edge 130.0.0", "Safari 18.1", "Mobile Safari 18.1", "Chrome Mobile 130.0.6723", "Chrome 130.0.0"] as const;

/** DeviceDetail as JSON object text. */
export function deviceDetail(device: Device, browser: boolean): string {
  const b = browser || device.kind === DeviceKind.Browser ? BROWSER[device.kind] : "Rich Client 4.66.0.0";
  if (!device.id) return `{"deviceId":"","operatingSystem":"${OS[device.kind]}","browser":"${b}"}`;
  const trust = device.kind === DeviceKind.Windows ? "Azure AD joined" : "Azure AD registered";
  if (device.mobile) return `{"deviceId":"${device.id}","operatingSystem":"${OS[device.kind]}","browser":"${b}","isCompliant":true,"isManaged":true,"trustType":"${trust}"}`;
  return `{"deviceId":"${device.id}","displayName":"${device.name}","operatingSystem":"${OS[device.kind]}","browser":"${b}","isCompliant":true,"isManaged":true,"trustType":"${trust}"}`;
}

const PASSWORD_FAILURES = new Set(["50126", "50053", "50055"]);

function step(at: string, method: string, ok: boolean, detail: string, requirement: string): string {
  return `{"authenticationStepDateTime":"${at}","authenticationMethod":"${method}","succeeded":${ok},"authenticationStepResultDetail":"${detail}","authenticationStepRequirement":"${requirement}"}`;
}

function authenticationSteps(s: SignIn, at: string): string {
  if (PASSWORD_FAILURES.has(s.result)) {
    return `[${step(at, "Password", false, "Invalid username or password or Invalid on-premise username or password.", "Primary authentication")}]`;
  }
  switch (s.auth) {
    case Auth.Password:
      return `[${step(at, "Password", true, "Correct password", "Primary authentication")}]`;
    case Auth.Previous:
      return `[${step(at, "Previously satisfied", true, "First factor requirement satisfied by claim in the token", "Primary authentication")}]`;
    case Auth.Mfa:
      return `[${step(at, "Password", true, "Correct password", "Primary authentication")},${step(at, s.mfaMethod, true, "MFA successfully completed", "Multifactor authentication")}]`;
    case Auth.MfaClaim:
      return `[${step(at, "Previously satisfied", true, "First factor requirement satisfied by claim in the token", "Primary authentication")},${step(at, "Previously satisfied", true, "MFA requirement satisfied by claim in the token", "Multifactor authentication")}]`;
  }
}

/** AuthenticationDetails as a JSON string literal; the escaped text is cached per variant around the step time. */
const authCache = new Map<string, string[]>();
const AT = "@AT@";

function authenticationDetails(s: SignIn): string {
  const key = PASSWORD_FAILURES.has(s.result) ? "fail" : s.auth === Auth.Mfa ? `${s.auth}${s.mfaMethod}` : String(s.auth);
  let pieces = authCache.get(key);
  if (!pieces) {
    pieces = JSON.stringify(authenticationSteps(s, AT)).split(AT);
    authCache.set(key, pieces);
  }
  return pieces.join(isoSeconds(s.t));
}

/** JSON string literals of the few distinct user agents and result descriptions, made once. */
const literals = new Map<string, string>();

function literal(value: string): string {
  let l = literals.get(value);
  if (l === undefined) literals.set(value, (l = JSON.stringify(value)));
  return l;
}

/** One SigninLogs or AADNonInteractiveUserSignInLogs row. `rng` supplies ids and the ingestion delay. */
export function signInLine(s: SignIn, rng: Rand): string {
  const tg = iso(s.t);
  const loc = location(s.site.city);
  const st = status(s.result);
  const dev = s.deviceDetail ?? deviceDetail(s.device, s.app.browser);
  const ua = s.userAgent ?? userAgent(s.device, s.app.browser);
  const mfa = s.auth === Auth.Mfa || s.auth === Auth.MfaClaim || s.result === "50074" || s.result === "50076";
  const ni = !s.interactive;
  return (
    `{"TimeGenerated":"${tg}","CreatedDateTime":"${tg}",${s.user.fragment}` +
    `,"IPAddress":"${s.site.ip}","AutonomousSystemNumber":"${s.site.asn}","Location":"${s.site.city.country}"` +
    `,"LocationDetails":${ni ? loc.text : loc.obj}` +
    `,"ResultType":"${s.result}","ResultDescription":${literal(RESULT_TEXT[s.result] ?? "")}` +
    `,"AppDisplayName":"${s.app.name}","AppId":"${s.app.id}"` +
    `,"ResourceDisplayName":"${s.resource.name}","ResourceIdentity":"${s.resource.id}"` +
    `,"AuthenticationDetails":${authenticationDetails(s)}` +
    `,"AuthenticationRequirement":"${mfa ? "multiFactorAuthentication" : "singleFactorAuthentication"}"` +
    `,"ConditionalAccessStatus":"${s.result === "53003" ? "failure" : s.conditionalAccess}"` +
    `,"CorrelationId":"${rng.uuid()}","UniqueTokenIdentifier":"${rng.token22()}","SessionId":"${s.sessionId}","Id":"${rng.uuid()}"` +
    `,"IsInteractive":${s.interactive},"UserAgent":${literal(ua)}` +
    `,"ClientAppUsed":"${s.app.browser ? "Browser" : "Mobile Apps and Desktop clients"}"` +
    `,"DeviceDetail":${ni ? JSON.stringify(dev) : dev},"Status":${ni ? st.text : st.obj}` +
    `,"Category":"${ni ? "NonInteractiveUserSignInLogs" : "SignInLogs"}","OperationName":"Sign-in activity"` +
    `,"Type":"${ni ? "AADNonInteractiveUserSignInLogs" : "SigninLogs"}","TenantId":"${TENANT_ID}"` +
    `,"_TimeReceived":"${iso(s.t + ingestionDelay(rng))}"}`
  );
}

// ---------------------------------------------------------------------------------------
// AuditLogs

export interface ModifiedProperty {
  displayName: string;
  oldValue: string | null;
  newValue: string | null;
}

export type Initiator =
  | { user: { id: string; displayName: string | null; userPrincipalName: string; ipAddress: string; roles: string[] } }
  | { app: { appId: string | null; displayName: string; servicePrincipalId: string; servicePrincipalName: string | null } };

export interface Target {
  id: string;
  displayName: string | null;
  type: "User" | "Group" | "Device" | "ServicePrincipal" | "Application";
  userPrincipalName?: string;
  modifiedProperties: ModifiedProperty[];
}

export interface AuditEvent {
  t: number;
  operation: string;
  category: string;
  service: string;
  aadOperationType: "Add" | "Update" | "Delete" | "Other";
  initiatedBy: Initiator;
  targets: Target[];
  correlationId: string;
  result?: "success" | "failure";
  additionalDetails?: { key: string; value: string }[];
}

export function initiatorName(i: Initiator): string {
  return "user" in i ? i.user.displayName ?? i.user.userPrincipalName : i.app.displayName;
}

export function auditLine(e: AuditEvent, rng: Rand): string {
  const tg = iso(e.t);
  return JSON.stringify({
    TimeGenerated: tg,
    ActivityDateTime: tg,
    OperationName: e.operation,
    ActivityDisplayName: e.operation,
    Category: e.category,
    Result: e.result ?? "success",
    ResultType: "",
    ResultReason: "",
    AADOperationType: e.aadOperationType,
    LoggedByService: e.service,
    CorrelationId: e.correlationId,
    Id: `Directory_${rng.uuid()}`,
    InitiatedBy: e.initiatedBy,
    TargetResources: e.targets.map((t) => ({ ...t, administrativeUnits: [] })),
    AdditionalDetails: e.additionalDetails ?? [],
    Identity: initiatorName(e.initiatedBy),
    Type: "AuditLogs",
    _TimeReceived: iso(e.t + ingestionDelay(rng)),
  });
}

/** The modified properties of an "Update StsRefreshTokenValidFrom Timestamp" event. */
export function stsProperties(oldMs: number, newMs: number, extra: ModifiedProperty[] = []): ModifiedProperty[] {
  return [
    { displayName: "StsRefreshTokensValidFrom", oldValue: `["${isoSeconds(oldMs)}"]`, newValue: `["${isoSeconds(newMs)}"]` },
    ...extra,
    { displayName: "Included Updated Properties", oldValue: null, newValue: `"StsRefreshTokensValidFrom"` },
  ];
}

// ---------------------------------------------------------------------------------------
// CloudAppEvents

export interface CloudEvent {
  t: number;
  actionType: string;
  application: string;
  applicationId: number;
  accountObjectId: string;
  accountDisplayName: string;
  accountType: "Regular" | "Admin" | "Guest" | "Application";
  isAdminOperation: boolean;
  site: Site;
  isAnonymousProxy?: boolean;
  userAgent: string;
  activityType: string;
  /** RawEventData after CreationTime and Id; build it with `rawEvent`. */
  raw: Record<string, unknown>;
}

/** The common head of an Office 365 unified audit record, then the workload's own fields. */
export function rawEvent(operation: string, recordType: number, workload: string, fields: Record<string, unknown>): Record<string, unknown> {
  return { Operation: operation, OrganizationId: TENANT_ID, RecordType: recordType, ResultStatus: "Succeeded", Workload: workload, ...fields };
}

export function cloudLine(e: CloudEvent, rng: Rand): string {
  const tg = iso(e.t);
  return JSON.stringify({
    TimeGenerated: tg,
    Timestamp: tg,
    ActionType: e.actionType,
    Application: e.application,
    ApplicationId: e.applicationId,
    AccountObjectId: e.accountObjectId,
    AccountId: e.accountObjectId,
    AccountDisplayName: e.accountDisplayName,
    AccountType: e.accountType,
    IsAdminOperation: e.isAdminOperation,
    IPAddress: e.site.ip,
    IsAnonymousProxy: e.isAnonymousProxy ?? false,
    CountryCode: e.site.city.country,
    City: e.site.city.city,
    ISP: e.site.isp,
    UserAgent: e.userAgent,
    ActivityType: e.activityType,
    RawEventData: { CreationTime: tg.slice(0, 19), Id: rng.uuid(), ...e.raw },
    ReportId: rng.uuid(),
    Type: "CloudAppEvents",
    _TimeReceived: iso(e.t + ingestionDelay(rng)),
  });
}
