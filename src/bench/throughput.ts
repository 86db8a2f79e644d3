// Engine throughput, against two floors over the same lines: JSON.parse alone, and a
// minimal hand-written evaluation of the four rules' predicates (JSON.parse, no schema, no
// alert objects: only the conditions, written again here from the seeds rather than
// imported from the rules, so that the two agree by being checked, not by sharing code).
// Both count alerts; the counts must be equal or the figure is refused.
import { allowlistsAt } from "../engine/allowlists.js";
import { systemActor } from "../model/actor.js";
import { LIST_DEFAULTS } from "../model/allowlists.js";
import { ipIsInAnyRange } from "../net/ip.js";
import { rules } from "../rules/index.js";
import { parseRow, rowSchemas, toString, type AnyRow, type KnownNetworks, type TableName } from "../model/rows.js";
import { toDateTime } from "../model/time.js";
import { datetimeDiff, dynamicGet, equalsCi, has, hasAny, isNotEmpty, notInCi, parseJson } from "../rules/kql.js";
import type { Allowlists, RuleContext, Specs } from "../rules/rule.js";
import { sessionMemory } from "../engine/sessions.js";

const HOUR = 3_600_000;
type Raw = Record<string, unknown>;

/** One row as the source file has it, and the UTC hour (since the epoch) it arrived in. */
export interface SampleLine {
  table: TableName;
  line: string;
  hour: number;
}

/** The seeds' allowlists: the STS rule's AllowedUserList, empty network lists. */
export function defaultLists(): Allowlists {
  const entries = Object.entries(LIST_DEFAULTS).flatMap(([list, values]) =>
    values.map((value) => ({ id: value, list: list as "network" | "principals", value, reason: "", expiresAt: null, createdBy: systemActor("bench"), createdAt: 0 })),
  );
  return allowlistsAt(entries, 0);
}

/** Lines grouped by the hour they arrived in: the engine evaluates one window's rows at a time. */
function byHour(lines: readonly SampleLine[]): Map<number, SampleLine[]> {
  const groups = new Map<number, SampleLine[]>();
  for (const l of lines) {
    const group = groups.get(l.hour);
    if (group) group.push(l);
    else groups.set(l.hour, [l]);
  }
  return groups;
}

/** Each account's known networks, as the Intune rule's baseline holds them. */
export type Baselines = ReadonlyMap<string, KnownNetworks>;

/** The rules the hand-written floor implements: the four seeds (the forked-session rule has no floor yet). */
const SEED_RULES = rules.filter((rule) => !rule.sessions);

/** Alerts of every seed rule's evaluate() over zod-validated rows, window by window. */
export function engineAlerts(lines: readonly SampleLine[], lists: Allowlists, baselines: Baselines): number {
  let alerts = 0;
  for (const [hour, hourLines] of byHour(lines)) {
    const window = { start: hour * HOUR, end: (hour + 1) * HOUR };
    const ctx: RuleContext = { window, eventRange: { from: -Infinity, to: Infinity }, lists, baselines: { established: true, get: (account) => baselines.get(account) }, sessions: sessionMemory(new Map()) };
    const rows: Record<TableName, AnyRow[]> = { SigninLogs: [], AADNonInteractiveUserSignInLogs: [], AuditLogs: [], CloudAppEvents: [] };
    for (const { table, line } of hourLines) {
      const parsed = parseRow(rowSchemas[table], JSON.parse(line));
      if (parsed.ok) rows[table].push(parsed.row as AnyRow);
    }
    for (const rule of SEED_RULES) {
      // First-stage queries get the window's rows; follow-ups (earlier rows) are empty here.
      const inputs: Record<string, AnyRow[]> = { earlierInteractive: [], earlierNonInteractive: [] };
      for (const [name, spec] of Object.entries(rule.queries(window) as Specs)) inputs[name] = rows[spec.table];
      alerts += rule.evaluate(inputs as never, ctx).length;
    }
  }
  return alerts;
}

const INTUNE = ["Microsoft Intune", "Microsoft Intune API", "Device Management", "Windows 365", "Microsoft Graph"];
const SOLORIGATE_ACTION = "Update StsRefreshTokenValidFrom Timestamp.";
const MINUTE = 60_000;
/** A dynamic column as JSON text or as JSON. */
const dyn = (v: unknown) => (typeof v === "string" ? parseJson(v) : (v ?? null));
const str = (v: unknown) => (v === null || v === undefined ? "" : String(v));

/** The same alerts counted by hand: JSON.parse and the seeds' conditions, nothing else. */
export function floorAlerts(lines: readonly SampleLine[], lists: Allowlists, baselines: Baselines): number {
  let alerts = 0;
  for (const hourLines of byHour(lines).values()) {
    const sessions = new Map<string, Raw[]>();
    const nonInteractive: Raw[] = [];
    const solorigate = new Set<string>();
    for (const { table, line } of hourLines) {
      const row = JSON.parse(line) as Raw;
      if (table === "AADNonInteractiveUserSignInLogs") {
        if (str(row.ResultType) !== "0") continue;
        nonInteractive.push(row);
        // Intune: an Intune resource, no MFA, outside the allowed networks, from an IP and an ASN the account's baseline does not hold.
        if (hasAny(str(row.ResourceDisplayName), INTUNE) && !has(toString(row.AuthenticationDetails), "Multifactor") && ipIsInAnyRange(str(row.IPAddress), lists.network) === false) {
          const known = baselines.get(str(row.UserPrincipalName).toLowerCase());
          if (!known || (!known.ips.has(str(row.IPAddress)) && !known.asns.has(str(row.AutonomousSystemNumber)))) alerts++;
        }
      } else if (table === "SigninLogs") {
        // Pivot, interactive side: successful, single factor or CA not applied, not an allowed network.
        if (str(row.ResultType) !== "0") continue;
        if (row.AuthenticationRequirement !== "singleFactorAuthentication" && row.ConditionalAccessStatus !== "notApplied") continue;
        if (lists.network.lookup(str(row.IPAddress)) === true) continue;
        const user = str(row.UserPrincipalName).toLowerCase();
        const list = sessions.get(user);
        if (list) list.push(row);
        else sessions.set(user, [row]);
      } else if (table === "AuditLogs") {
        // STS: one alert per StsRefreshTokensValidFrom property changed by someone not allowed.
        if (!has(str(row.OperationName), "StsRefreshTokenValidFrom")) continue;
        const props = dynamicGet(dyn(row.TargetResources), 0, "modifiedProperties");
        const text = toString(props);
        if (text === "[]" || has(text, "DirectorySync")) continue;
        const by = dyn(row.InitiatedBy);
        const upn = dynamicGet(by, "user", "userPrincipalName");
        if (!notInCi(isNotEmpty(upn) ? toString(upn) : toString(dynamicGet(by, "app", "displayName")), lists.principals)) continue;
        for (const p of Array.isArray(props) ? props : props == null ? [] : [props])
          if (equalsCi(toString(dynamicGet(p, "displayName")), "StsRefreshTokensValidFrom")) alerts++;
      } else {
        // Solorigate: one alert per distinct (account, role, IP, proxy, ISP, minutes added, minutes remaining).
        if (row.ActionType !== SOLORIGATE_ACTION) continue;
        const raw = dyn(row.RawEventData);
        if (has(toString(raw), "Directorysync")) continue;
        const p = dynamicGet(raw, "ModifiedProperties", 0);
        if (dynamicGet(p, "Name") !== "StsRefreshTokensValidFrom") continue;
        const newFrom = toDateTime(dynamicGet(parseJson(toString(dynamicGet(p, "NewValue"))), 0));
        const role = toString(dynamicGet(parseJson(dynamicGet(raw, "Actor", -1)), "ID"));
        const proxy = typeof row.IsAnonymousProxy === "string" ? row.IsAnonymousProxy.toLowerCase() === "true" : Boolean(row.IsAnonymousProxy);
        solorigate.add(
          JSON.stringify([str(row.AccountObjectId), str(row.AccountDisplayName), role, str(row.IPAddress), proxy, str(row.ISP),
            datetimeDiff("minute", newFrom, toDateTime(dynamicGet(parseJson(toString(dynamicGet(p, "OldValue"))), 0))),
            datetimeDiff("minute", toDateTime(row.Timestamp), newFrom)]),
        );
      }
    }
    alerts += solorigate.size;
    // Pivot: a refresh 1 min to 2 h after a session of the same user, from another IP and country.
    for (const ni of nonInteractive) {
      const list = sessions.get(str(ni.UserPrincipalName).toLowerCase());
      if (!list || lists.network.lookup(str(ni.IPAddress)) === true) continue;
      const t = Date.parse(str(ni.TimeGenerated));
      for (const s of list) {
        if (ni.IPAddress === s.IPAddress || ni.Location === s.Location) continue;
        const gap = t - Date.parse(str(s.TimeGenerated));
        if (gap >= MINUTE && gap <= 120 * MINUTE) alerts++;
      }
    }
  }
  return alerts;
}

export interface Throughput {
  rows: number;
  rounds: number;
  /** Median seconds of one pass over the lines. */
  jsonParseSeconds: number;
  floorSeconds: number;
  engineSeconds: number;
  alerts: number;
}

/**
 * The three passes over the same lines, interleaved round by round (the order rotating),
 * after warm-up rounds; each figure is the median of its rounds.
 */
export function throughput(lines: readonly SampleLine[], baselines: Baselines, rounds = 7, warmup = 2): Throughput {
  const lists = defaultLists();
  let sink = 0;
  const passes = {
    jsonParse: () => {
      for (const { line } of lines) sink += (JSON.parse(line) as object) ? 1 : 0;
      return null;
    },
    floor: () => floorAlerts(lines, lists, baselines),
    engine: () => engineAlerts(lines, lists, baselines),
  };
  const times: Record<keyof typeof passes, number[]> = { jsonParse: [], floor: [], engine: [] };
  const names = Object.keys(passes) as (keyof typeof passes)[];
  let alerts: number | null = null;
  for (let round = 0; round < warmup + rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      const t = performance.now();
      const count = passes[name]();
      const seconds = (performance.now() - t) / 1000;
      if (count !== null) {
        if (alerts !== null && count !== alerts) throw new Error(`the hand-written floor and the engine disagree: ${alerts} vs ${count} alerts`);
        alerts = count;
      }
      if (round >= warmup) times[name].push(seconds);
    }
  }
  if (sink < 0) throw new Error("unreachable");
  return { rows: lines.length, rounds, jsonParseSeconds: median(times.jsonParse), floorSeconds: median(times.floor), engineSeconds: median(times.engine), alerts: alerts ?? 0 };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
