// Helpers to write replay logs (one NDJSON file per table) into a temp dir, and small row
// builders in the shape Log Analytics exports them. Only the columns the rules read are
// filled in; everything else is left out, as a narrowing query's `project` would.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type Row = Record<string, unknown>;

const dirs: string[] = [];

/** A fresh empty temp dir (removed by cleanupTempDirs). */
export async function tempDir(prefix = "tokenwatch-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Removes every dir tempDir made in this process. */
export async function cleanupTempDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** NDJSON text: one JSON object per line; a string is written verbatim (a malformed line). */
export function ndjson(rows: readonly (Row | string)[]): string {
  return rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n") + (rows.length ? "\n" : "");
}

/**
 * Writes `{ "<Table>.ndjson": rows, ... }` (file names as given; a key without an
 * extension gets `.ndjson`) into `dir`, or into a new temp dir. Returns the dir.
 */
export async function writeLogs(files: Record<string, readonly (Row | string)[]>, dir?: string): Promise<string> {
  const target = dir ?? (await tempDir());
  for (const [name, rows] of Object.entries(files)) {
    const file = /\.(ndjson|jsonl)$/.test(name) ? name : `${name}.ndjson`;
    await writeFile(join(target, file), ndjson(rows));
  }
  return target;
}

export const iso = (ms: number) => new Date(ms).toISOString();
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const at = (text: string) => Date.parse(text);

let seq = 0;
const nextId = (kind: string) => `${kind}-${(++seq).toString().padStart(6, "0")}`;

export interface SignInOptions {
  time: string | number;
  upn: string;
  ip: string;
  asn?: string | number;
  country?: string;
  resource?: string;
  app?: string;
  resultType?: string | number;
  requirement?: string;
  caStatus?: string;
  mfa?: boolean;
  /** Arrival (ingestion) time, when it differs from TimeGenerated. */
  received?: string | number;
  id?: string;
}

function signIn(o: SignInOptions, interactive: boolean): Row {
  const time = typeof o.time === "number" ? iso(o.time) : o.time;
  const country = o.country ?? "US";
  const method = o.mfa ? "Multifactor authentication" : "Password";
  const row: Row = {
    TimeGenerated: time,
    Id: o.id ?? nextId(interactive ? "si" : "ni"),
    UserPrincipalName: o.upn,
    IPAddress: o.ip,
    AutonomousSystemNumber: o.asn ?? "8075",
    Location: country,
    LocationDetails: interactive ? { countryOrRegion: country } : JSON.stringify({ countryOrRegion: country }),
    ResultType: o.resultType ?? "0",
    AppDisplayName: o.app ?? "Microsoft Authentication Broker",
    ResourceDisplayName: o.resource ?? "Microsoft Graph",
    AuthenticationDetails: JSON.stringify([{ authenticationMethod: method, succeeded: true }]),
    AuthenticationRequirement: o.requirement ?? (o.mfa ? "multiFactorAuthentication" : "singleFactorAuthentication"),
    ConditionalAccessStatus: o.caStatus ?? "notApplied",
    CorrelationId: nextId("corr"),
    UniqueTokenIdentifier: nextId("uti"),
    SessionId: nextId("sess"),
  };
  if (o.received !== undefined) row._TimeReceived = typeof o.received === "number" ? iso(o.received) : o.received;
  return row;
}

/** A SigninLogs (interactive) row. */
export const interactiveSignIn = (o: SignInOptions) => signIn(o, true);
/** An AADNonInteractiveUserSignInLogs row. */
export const nonInteractiveSignIn = (o: SignInOptions) => signIn(o, false);

export interface StsAuditOptions {
  time: string | number;
  /** The initiating user's UPN (InitiatedBy.user), or... */
  user?: string;
  /** ...the initiating app's display name (InitiatedBy.app). */
  app?: string;
  ip?: string;
  target?: string;
  received?: string | number;
  id?: string;
  /** Write InitiatedBy / TargetResources as JSON text, as some exports do. */
  asText?: boolean;
}

/** An AuditLogs row: an STS refresh token valid-from update. */
export function stsAudit(o: StsAuditOptions): Row {
  const time = typeof o.time === "number" ? iso(o.time) : o.time;
  const newValidFrom = iso(Date.parse(time) - 5 * 60_000);
  const initiatedBy = o.user
    ? { user: { userPrincipalName: o.user, ipAddress: o.ip ?? "" } }
    : { app: { displayName: o.app ?? "Evil App", servicePrincipalName: o.app ?? "Evil App" } };
  const targetResources = [
    {
      type: "User",
      userPrincipalName: o.target ?? "victim@contoso.com",
      modifiedProperties: [
        { displayName: "StsRefreshTokensValidFrom", oldValue: JSON.stringify(["2026-10-01T00:00:00Z"]), newValue: JSON.stringify([newValidFrom]) },
      ],
    },
  ];
  const row: Row = {
    TimeGenerated: time,
    Id: o.id ?? nextId("Directory"),
    CorrelationId: nextId("corr"),
    OperationName: "Update StsRefreshTokenValidFrom Timestamp",
    Result: "success",
    AADOperationType: "Update",
    InitiatedBy: o.asText ? JSON.stringify(initiatedBy) : initiatedBy,
    TargetResources: o.asText ? JSON.stringify(targetResources) : targetResources,
  };
  if (o.received !== undefined) row._TimeReceived = typeof o.received === "number" ? iso(o.received) : o.received;
  return row;
}
