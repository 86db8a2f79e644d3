// A small, independent reading of the four seed queries (and of the forked-session rule) over replay rows, used to check that the
// simulator's planted attacks alert and its benign noise does not. Not the product's rule engine:
// it evaluates every row against an hourly window ending at the next full hour of its TimeGenerated.

import { forkedSession } from "../../src/rules/forked-session.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import { intuneTokenReuse } from "../../src/rules/intune-token-reuse.js";
import { solorigateStsRefreshToken } from "../../src/rules/solorigate-sts-refresh-token.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";

export type Row = Record<string, unknown>;

export const RULES = {
  sts: stsRefreshTokenModification.meta.id,
  solorigate: solorigateStsRefreshToken.meta.id,
  intune: intuneTokenReuse.meta.id,
  pivot: interactiveToNonInteractivePivot.meta.id,
  forked: forkedSession.meta.id,
} as const;

export interface RefAlert {
  ruleId: string;
  account: string;
  ip: string | null;
  time: string;
}

const HOUR = 3_600_000;
const ALLOWED_PRINCIPALS = ["microsoft cloud app security", "adconnectsyncaccount1", "syncaccount2"];
const INTUNE_RESOURCES = ["Microsoft Intune", "Microsoft Intune API", "Device Management", "Windows 365", "Microsoft Graph"];

/** KQL `has`: a case-insensitive whole-term match (terms are runs of letters and digits). */
export function has(text: string, term: string): boolean {
  const escaped = term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^a-z0-9])${escaped}($|[^a-z0-9])`, "i").test(text);
}

const json = (v: unknown): unknown => (typeof v === "string" ? JSON.parse(v) : v);
const text = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));
const ms = (r: Row): number => Date.parse(String(r.TimeGenerated));
const str = (v: unknown): string => (v === undefined || v === null ? "" : String(v));

export function evaluate(tables: Record<string, Row[]>, fromMs: number, toMs: number): RefAlert[] {
  const alerts: RefAlert[] = [];
  const inRange = (r: Row) => ms(r) >= fromMs && ms(r) < toMs;

  for (const r of (tables.AuditLogs ?? []).filter(inRange)) {
    if (!has(str(r.OperationName), "StsRefreshTokenValidFrom")) continue;
    const target = (json(r.TargetResources) as { modifiedProperties?: { displayName?: string }[] }[])[0];
    const props = target?.modifiedProperties ?? [];
    if (text(props) === "[]" || has(text(props), "DirectorySync")) continue;
    const by = json(r.InitiatedBy) as { user?: { userPrincipalName?: string; ipAddress?: string }; app?: { displayName?: string; ipAddress?: string } };
    const initiator = by.user?.userPrincipalName || by.app?.displayName || "";
    if (ALLOWED_PRINCIPALS.includes(initiator.toLowerCase())) continue;
    for (const p of props) {
      if (str(p.displayName).toLowerCase() !== "stsrefreshtokensvalidfrom") continue;
      alerts.push({ ruleId: RULES.sts, account: initiator.toLowerCase(), ip: by.user?.ipAddress || by.app?.ipAddress || null, time: str(r.TimeGenerated) });
    }
  }

  for (const r of (tables.CloudAppEvents ?? []).filter(inRange)) {
    if (r.ActionType !== "Update StsRefreshTokenValidFrom Timestamp.") continue;
    if (has(text(r.RawEventData), "Directorysync")) continue;
    const raw = json(r.RawEventData) as { UserId?: string; ModifiedProperties?: { Name?: string }[] };
    if (raw.ModifiedProperties?.[0]?.Name !== "StsRefreshTokensValidFrom") continue;
    alerts.push({ ruleId: RULES.solorigate, account: str(raw.UserId ?? r.AccountDisplayName).toLowerCase(), ip: str(r.IPAddress) || null, time: str(r.TimeGenerated) });
  }

  const ni = tables.AADNonInteractiveUserSignInLogs ?? [];
  const niByUser = new Map<string, Row[]>();
  for (const r of ni) {
    const upn = str(r.UserPrincipalName).toLowerCase();
    const list = niByUser.get(upn);
    if (list) list.push(r);
    else niByUser.set(upn, [r]);
  }
  for (const r of ni.filter(inRange)) {
    if (str(r.ResultType) !== "0") continue;
    if (!INTUNE_RESOURCES.some((name) => has(str(r.ResourceDisplayName), name))) continue;
    if (has(text(r.AuthenticationDetails), "Multifactor")) continue;
    const run = Math.ceil(ms(r) / HOUR) * HOUR;
    const upn = str(r.UserPrincipalName).toLowerCase();
    const baseline = (niByUser.get(upn) ?? []).filter((b) => ms(b) > run - 14 * 24 * HOUR && ms(b) <= run - HOUR);
    const known = baseline.some((b) => b.IPAddress === r.IPAddress || str(b.AutonomousSystemNumber) === str(r.AutonomousSystemNumber));
    if (baseline.length && known) continue;
    alerts.push({ ruleId: RULES.intune, account: upn, ip: str(r.IPAddress), time: str(r.TimeGenerated) });
  }

  const interactive = new Map<string, Row[]>();
  for (const r of tables.SigninLogs ?? []) {
    if (str(r.ResultType) !== "0") continue;
    if (r.AuthenticationRequirement !== "singleFactorAuthentication" && r.ConditionalAccessStatus !== "notApplied") continue;
    const upn = str(r.UserPrincipalName);
    const list = interactive.get(upn);
    if (list) list.push(r);
    else interactive.set(upn, [r]);
  }
  for (const r of ni.filter(inRange)) {
    if (str(r.ResultType) !== "0") continue;
    for (const i of interactive.get(str(r.UserPrincipalName)) ?? []) {
      const gap = ms(r) - ms(i);
      if (gap < 60_000 || gap > 2 * HOUR || r.IPAddress === i.IPAddress || r.Location === i.Location) continue;
      alerts.push({ ruleId: RULES.pivot, account: str(r.UserPrincipalName).toLowerCase(), ip: str(r.IPAddress), time: str(r.TimeGenerated) });
    }
  }

  // Forked session, in event-time order: a successful sign-in of a session seen before, from an
  // ASN the session never had, with a device id (or none) and OS it never had, or a user agent it
  // never had from a device not known by id. (Whole user-agent strings: the simulator's do not vary by version.)
  const sessions = new Map<string, { asns: Set<string>; devices: Set<string>; oses: Set<string>; agents: Set<string> }>();
  const signIns = [...(tables.SigninLogs ?? []), ...ni].filter((r) => str(r.ResultType) === "0" && str(r.SessionId) !== "").sort((a, b) => ms(a) - ms(b));
  for (const r of signIns) {
    const device = json(r.DeviceDetail) as { deviceId?: string; operatingSystem?: string };
    const [asn, id, os, agent] = [str(r.AutonomousSystemNumber), str(device.deviceId), str(device.operatingSystem), str(r.UserAgent)];
    const seen = sessions.get(str(r.SessionId));
    if (seen && inRange(r) && !seen.asns.has(asn)) {
      const knownDevice = id !== "" && seen.devices.has(id);
      if (!knownDevice && (!seen.devices.has(id) || !seen.oses.has(os) || !seen.agents.has(agent)))
        alerts.push({ ruleId: RULES.forked, account: str(r.UserPrincipalName).toLowerCase(), ip: str(r.IPAddress), time: str(r.TimeGenerated) });
    }
    const state = seen ?? { asns: new Set(), devices: new Set(), oses: new Set(), agents: new Set() };
    state.asns.add(asn);
    state.devices.add(id);
    state.oses.add(os);
    state.agents.add(agent);
    sessions.set(str(r.SessionId), state);
  }
  return alerts;
}
