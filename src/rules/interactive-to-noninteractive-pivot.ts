// Interactive to Non-Interactive Token Theft Pivot (SigninLogs + AADNonInteractiveUserSignInLogs).
// Seed by David Alonso, operator for operator. The seed re-reads 3 hours every hour so that
// each pair is seen whole by some run; here each run takes the rows that arrived in its hour
// and fetches only the other side it needs, for the users concerned, so each pair is
// evaluated when its later side arrives, including a side that arrived late.
import type { SignInRow } from "../model/rows.js";
import { between } from "./kql.js";
import { type DateTime, isoOf, TICKS_PER_MS, toMs, type Window } from "../model/time.js";
import { ARRIVAL, exactTimes, signInArrivalsKql } from "./kql-text.js";
import { arrivedIn, type QuerySpec, scopeKql } from "../model/query.js";
import { defineRule, groupByAccount, identity, isNewEvent, signInLinks, type AlertDraft, type RuleContext } from "./rule.js";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const MINUTE = BigInt(MINUTE_MS) * TICKS_PER_MS;
/** | where (TimeGenerated - InteractiveTime) between (1m .. 2h): inclusive, exact to the 100-ns tick. */
const MIN_GAP = MINUTE;
const MAX_GAP = 120n * MINUTE;

const NON_INTERACTIVE = "AADNonInteractiveUserSignInLogs";
const INTERACTIVE = "SigninLogs";

export const interactiveToNonInteractivePivot = defineRule({
  meta: {
    id: "d9e5f7a8-b3c4-6d0e-1f2a-3b4c5d6e7f8a",
    name: "Interactive to Non-Interactive Token Theft Pivot",
    description:
      "A successful interactive sign-in (single factor, or conditional access not applied) followed within 2 hours by non-interactive " +
      "token use for the same user from a different IP address and country: a token stolen right after authentication.",
    severity: "High",
    tactics: ["CredentialAccess", "LateralMovement", "DefenseEvasion"],
    relevantTechniques: ["T1528", "T1539", "T1078"],
    requiredDataConnectors: [{ connectorId: "AzureActiveDirectory", dataTypes: [NON_INTERACTIVE, INTERACTIVE] }],
    queryFrequency: "1h",
    queryPeriod: "3h",
    entityMappings: [
      { entityType: "Account", fieldMappings: [{ identifier: "FullName", columnName: "UserPrincipalName" }] },
      { entityType: "IP", fieldMappings: [{ identifier: "Address", columnName: "NIIPAddress" }] },
    ],
    customDetails: { InteractiveIP: "InteractiveIP", InteractiveCountry: "InteractiveCountry", NonInteractiveCountry: "NICountry", AppDisplayName: "AppDisplayName" },
    incidentConfiguration: groupByAccount,
    version: "1.0.0",
  },
  perAccount: true,

  queries: (w: Window) => ({
    nonInteractive: arrivedIn(NON_INTERACTIVE, w),
    interactive: arrivedIn(INTERACTIVE, w),
  }),

  // The other side of each new row, among rows that arrived before this window (rows that
  // arrived in it are in the first stage already), for the users concerned only.
  followUp: (w, { nonInteractive, interactive }) => ({
    earlierInteractive: otherSide(INTERACTIVE, w, nonInteractive.filter(isSuccess), -MAX_GAP, -MIN_GAP),
    earlierNonInteractive: otherSide(NON_INTERACTIVE, w, interactive.filter(isSessionCandidate), MIN_GAP, MAX_GAP),
  }),

  kql: (name, spec) => {
    // The window's sign-ins: the same reads as the Intune and forked-session rules' (evaluate() narrows them).
    if (name === "nonInteractive" || name === "interactive") return signInArrivalsKql(spec);
    const interactiveSide = name === "earlierInteractive";
    return [
      scopeKql(spec),
      `| where ResultType == "0"`,
      ...(interactiveSide ? [`| where AuthenticationRequirement == "singleFactorAuthentication" or ConditionalAccessStatus == "notApplied"`] : []),
      `| project TimeGenerated, ${ARRIVAL}, Id, UniqueTokenIdentifier, SessionId, CorrelationId, UserPrincipalName, IPAddress, Location, ResultType,` +
        ` AuthenticationRequirement, ConditionalAccessStatus, AppDisplayName`,
      exactTimes("TimeGenerated", "_TimeReceived"),
    ].join("\n");
  },

  evaluate({ nonInteractive, interactive, earlierInteractive, earlierNonInteractive }, ctx) {
    const sessionsByUser = new Map<string, SignInRow[]>();
    for (const row of [...interactive, ...earlierInteractive]) {
      if (!isInteractiveSession(row, ctx)) continue;
      const user = row.UserPrincipalName.toLowerCase();
      const list = sessionsByUser.get(user);
      if (list) list.push(row);
      else sessionsByUser.set(user, [row]);
    }
    const newSessions = new Set(interactive);
    const alerts = new Map<string, AlertDraft>();
    const pair = (ni: SignInRow, onlyNewSessions: boolean) => {
      if (!isSuccess(ni)) return;
      const user = ni.UserPrincipalName.toLowerCase();
      const sessions = sessionsByUser.get(user);
      // Most refreshes have no candidate session: look that up before parsing the IP.
      if (!sessions || !isNewEvent(ctx, ni.TimeGenerated) || !passesNetworkFilters(ni, ctx)) return;
      for (const session of sessions) {
        if (onlyNewSessions && !newSessions.has(session)) continue;
        // | join kind=inner InteractiveSessions on UserPrincipalName
        // | where IPAddress != InteractiveIP and Location != InteractiveCountry
        //     and (TimeGenerated - InteractiveTime) between (1m .. 2h)
        if (ni.IPAddress === session.IPAddress || ni.Location === session.Location) continue;
        if (!between(ni.TimeGenerated - session.TimeGenerated, MIN_GAP, MAX_GAP)) continue;
        const alert = pivotAlert(user, ni, session);
        alerts.set(alert.identity.join("|"), alert);
      }
    };
    for (const ni of nonInteractive) pair(ni, false);
    // Rows seen by an earlier run pair only with sessions that arrived since.
    for (const ni of earlierNonInteractive) pair(ni, true);
    return [...alerts.values()];
  },
});

/**
 * The users of the rows that could pair, each with its own time span (its rows' span shifted by
 * the join's bounds), so that one user's late row never widens another user's span. Users whose
 * spans begin and end in the same hours share a query, over the union of their spans: at most
 * an hour wider at each end than a user's own, and a handful of queries in a steady hour.
 */
function otherSide<T extends typeof INTERACTIVE | typeof NON_INTERACTIVE>(
  table: T,
  w: Window,
  rows: readonly SignInRow[],
  fromOffset: DateTime,
  toOffset: DateTime,
): QuerySpec<T>[] {
  const spans = new Map<string, { min: DateTime; max: DateTime }>();
  for (const row of rows) {
    const account = row.UserPrincipalName.toLowerCase();
    const span = spans.get(account);
    if (!span) spans.set(account, { min: row.TimeGenerated, max: row.TimeGenerated });
    else if (row.TimeGenerated < span.min) span.min = row.TimeGenerated;
    else if (row.TimeGenerated > span.max) span.max = row.TimeGenerated;
  }
  const groups = new Map<string, QuerySpec<T> & { accounts: string[] }>();
  for (const [account, { min, max }] of spans) {
    // Whole milliseconds that cover the exact span: evaluate() applies the exact bounds.
    const time = { from: toMs(min + fromOffset), to: toMs(max + toOffset) + 1 };
    const key = `${Math.floor(time.from / HOUR_MS)}:${Math.ceil(time.to / HOUR_MS)}`;
    const group = groups.get(key);
    if (!group) groups.set(key, { table, arrived: { to: w.start }, time, accounts: [account] });
    else {
      group.accounts.push(account);
      group.time = { from: Math.min(group.time.from, time.from), to: Math.max(group.time.to, time.to) };
    }
  }
  return [...groups.values()].map((group) => ({ ...group, accounts: group.accounts.sort(), ...(w.shard ? { shard: w.shard } : {}) })).sort((a, b) => a.time.from - b.time.from || a.time.to - b.time.to);
}

/** | where ResultType == 0 */
const isSuccess = (row: SignInRow) => row.ResultType === "0";

/** The interactive side's own conditions: successful, and single factor or CA not applied. */
const isSessionCandidate = (row: SignInRow) =>
  isSuccess(row) && (row.AuthenticationRequirement === "singleFactorAuthentication" || row.ConditionalAccessStatus === "notApplied");

/** | where not(IPAddress in (KnownSafeIPs)) | evaluate ipv4_lookup(KnownSafeNetworks, ...) | where isempty(network) */
function passesNetworkFilters(row: SignInRow, ctx: RuleContext): boolean {
  // ipv4_lookup with return_unmatched keeps an address it cannot parse, unlike ipv4_is_in_any_range.
  return ctx.lists.network.lookup(row.IPAddress) !== true;
}

function isInteractiveSession(row: SignInRow, ctx: RuleContext): boolean {
  return isSessionCandidate(row) && passesNetworkFilters(row, ctx);
}

function pivotAlert(user: string, ni: SignInRow, session: SignInRow): AlertDraft {
  const minutes = Math.round(Number(ni.TimeGenerated - session.TimeGenerated) / Number(MINUTE));
  return {
    // One alert per seed output row, i.e. per (non-interactive, interactive) pair of rows: each
    // side is named by its ids and by the columns the seed projects, so rows without an Id stay apart.
    identity: [...signInIdentity(ni), ...signInIdentity(session)],
    time: ni.TimeGenerated,
    account: user,
    ip: ni.IPAddress || null,
    // alertDisplayNameFormat: "Token Pivot - {{UserPrincipalName}} NI token from {{NIIPAddress}} after interactive auth"
    title: `Token Pivot - ${user} NI token from ${ni.IPAddress} after interactive auth`,
    details: {
      InteractiveIP: session.IPAddress,
      InteractiveCountry: session.Location,
      NonInteractiveCountry: ni.Location,
      AppDisplayName: ni.AppDisplayName,
      InteractiveTime: isoOf(session.TimeGenerated),
      TimeSinceInteractiveMinutes: minutes,
      CorrelationId: ni.CorrelationId,
      UniqueTokenIdentifier: ni.UniqueTokenIdentifier,
    },
    entities: [{ type: "account", name: user }, ...(ni.IPAddress ? [{ type: "ip" as const, address: ni.IPAddress }] : [])],
    links: [...signInLinks(ni), ...signInLinks(session)],
  };
}

/** A sign-in row's identity: its ids, and the columns the seed projects from it. */
const signInIdentity = (row: SignInRow) =>
  identity(row.Id, row.UniqueTokenIdentifier, row.TimeGenerated, row.UserPrincipalName.toLowerCase(), row.IPAddress, row.Location, row.AppDisplayName, row.CorrelationId);
