// Forked session (SigninLogs + AADNonInteractiveUserSignInLogs). A stolen refresh token or
// PRT keeps the victim's session (`SessionId`, the `sid` claim), so the same session turning
// up from a network AND a device or client it was never used from is token replay. A phone
// moving from Wi-Fi to its carrier changes the network only, and does not alert.
//
// Per session the rule remembers (src/rules/sessions.ts, kept in Table Storage for
// TOKENWATCH_SESSION_LIFETIME_DAYS after its last use) the ASNs, countries, device ids,
// operating systems, browsers and user-agent families it was seen with, and its first
// sign-in. A successful sign-in alerts when its session is known and
//   its ASN is new, AND (its device is new, or its client is new)
// where
//   - device new: it shows a device id (or none) the session never showed, or an operating
//     system the session never showed; a device id the session has seen is the same device,
//     whatever app it uses (one session is shared by the apps of a device);
//   - client new: a user-agent family the session never showed, from a device not known by id;
//   - empty values (no ASN, no OS, no user agent) are unknown, never new.
// A new country is reported with the fork, but does not make one on its own: the same
// client refreshing the same session from another country is the pivot rule's pattern, and
// a traveller's (README, Design).
// Rows of one window are judged in TimeGenerated order, each against the stored state plus
// the window's earlier rows, so the first sign-in of a forked session alerts once.
import { exactTimes, signInArrivalsKql } from "./kql-text.js";
import { defineRule, groupByAccount, identity, isNewEvent, type AlertDraft, type RuleContext } from "./rule.js";
import { hasSession, sessionRef, sessionSignIn } from "./sessions.js";
import type { SignInRow } from "../model/rows.js";
import { arrivedIn, scopeKql, type QuerySpec } from "../model/query.js";
import { isoOf, type Window } from "../model/time.js";
import type { SessionSignIn, SessionState } from "../model/sessions.js";

const INTERACTIVE = "SigninLogs";
const NON_INTERACTIVE = "AADNonInteractiveUserSignInLogs";

/** The columns the rule reads. */
const COLUMNS = "Id, UniqueTokenIdentifier, SessionId, UserPrincipalName, IPAddress, AutonomousSystemNumber, Location, ResultType, AppDisplayName, UserAgent, DeviceDetail";

/** Successful sign-ins that carry a session: the only ones the rule judges or remembers (its bootstrap's filter; hasSession in code). */
const SESSION_FILTER = `| where ResultType == "0" and isnotempty(SessionId) and isnotempty(UserPrincipalName)`;

/**
 * When a new ASN makes a fork. The rule: with a new device or client. The other two are kept to
 * measure what the condition saves (BENCHMARKS.md): a new ASN alone, and with a new country
 * counting like a new device (see the README's Design section for why the rule does not).
 */
export type ForkCondition = "asn" | "asn+device-or-client" | "asn+device-client-or-country";

/** What a sign-in shows that its session never showed, or null when it is no fork. */
export function forkOf(state: SessionState, s: SessionSignIn, condition: ForkCondition = "asn+device-or-client"): string[] | null {
  const seen = state.seen;
  if (s.asn === "" || seen.asn.has(s.asn)) return null;
  const knownDevice = s.deviceId !== "" && seen.device.has(s.deviceId);
  const deviceOrClient: string[] = [];
  if (!knownDevice && !seen.device.has(s.deviceId)) deviceOrClient.push(s.deviceId ? `device ${s.deviceId}` : "no device id");
  if (!knownDevice && s.os !== "" && !seen.os.has(s.os)) deviceOrClient.push(`operating system ${s.os}`);
  if (!knownDevice && s.client !== "" && !seen.client.has(s.client)) deviceOrClient.push(`client ${s.client}`);
  const country = s.country !== "" && !seen.country.has(s.country) ? [`country ${s.country}`] : [];
  const news = [`ASN ${s.asn}`, ...deviceOrClient, ...country];
  const fork = condition === "asn" || deviceOrClient.length > 0 || (condition === "asn+device-client-or-country" && country.length > 0);
  return fork ? news : null;
}

export function defineForkedSession(condition: ForkCondition) {
  return defineRule({
    meta: {
      id: "7f3c2a91-5d4e-4b8a-9c61-0e2f4a6b8d17",
      name: "Forked session - session reused from a new network and a new device or client",
      description:
        "A successful sign-in uses an existing session (SessionId) from an autonomous system the session was never used from, and from a device " +
        "or client it was never used from: a refresh token or PRT replayed by someone else (session forking). A device moving between Wi-Fi " +
        "and its mobile carrier, or between office, home and VPN, changes only the network and does not alert.",
      severity: "High",
      tactics: ["CredentialAccess", "DefenseEvasion", "LateralMovement"],
      relevantTechniques: ["T1550.001", "T1528"],
      requiredDataConnectors: [{ connectorId: "AzureActiveDirectory", dataTypes: [INTERACTIVE, NON_INTERACTIVE] }],
      queryFrequency: "1h",
      queryPeriod: "1h",
      entityMappings: [
        { entityType: "Account", fieldMappings: [{ identifier: "FullName", columnName: "UserPrincipalName" }] },
        { entityType: "IP", fieldMappings: [{ identifier: "Address", columnName: "IPAddress" }] },
      ],
      customDetails: { SessionId: "SessionId", New: "New", FirstIP: "FirstIP", FirstASN: "FirstASN", NewASN: "NewASN", NewClient: "NewClient" },
      incidentConfiguration: groupByAccount,
      version: "1.0.0",
    },

    // A session is one account's: its sign-ins, and so its state, fall in that account's shard.
    perAccount: true,

    queries: (w: Window) => ({ interactive: arrivedIn(INTERACTIVE, w), nonInteractive: arrivedIn(NON_INTERACTIVE, w) }),

    // The window's sign-ins: the same reads as the Intune rule's and the pivot's (evaluate() keeps those with a session).
    kql: (_name, spec) => signInArrivalsKql(spec),

    sessions: {
      tables: [INTERACTIVE, NON_INTERACTIVE],
      // The bootstrap over the history before the first window: per session and distinct (network,
      // device, client), its first sign-in and its last sighting, two rows that fold into exactly the
      // state all of its rows would.
      historyKql: (spec: QuerySpec) =>
        [
          scopeKql(spec),
          SESSION_FILTER,
          `| summarize arg_min(TimeGenerated, Id, UniqueTokenIdentifier, IPAddress, AppDisplayName, ResultType), LastSeen = max(TimeGenerated)` +
            ` by SessionId, UserPrincipalName, AutonomousSystemNumber, Location, DeviceDetail = tostring(DeviceDetail), UserAgent`,
          `| mv-expand Sighting = pack_array(TimeGenerated, LastSeen) to typeof(datetime)`,
          `| project-away TimeGenerated, LastSeen`,
          `| project-rename TimeGenerated = Sighting`,
          `| project TimeGenerated, ${COLUMNS}`,
          exactTimes("TimeGenerated"),
        ].join("\n"),
      refs: ({ interactive, nonInteractive }) => [...interactive, ...nonInteractive].filter(hasSession).map(sessionRef),
    },

    evaluate({ interactive, nonInteractive }, ctx) {
      const rows = [...interactive, ...nonInteractive].filter(hasSession).sort(byTimeThenId);
      const states = ctx.sessions;
      const alerts: AlertDraft[] = [];
      for (const row of rows) {
        const before = states.get(row.SessionId);
        // The alert takes what it shows of `before` now: the fold changes it with this row.
        if (before && isNewEvent(ctx, row.TimeGenerated) && !allowlisted(row, ctx)) {
          const s = sessionSignIn(row);
          const news = forkOf(before, s, condition);
          if (news) alerts.push(forkAlert(row, s, before, news));
        }
        states.add(row);
      }
      return alerts;
    },
  });
}

export const forkedSession = defineForkedSession("asn+device-or-client");

const byTimeThenId = (a: SignInRow, b: SignInRow) => (a.TimeGenerated < b.TimeGenerated ? -1 : a.TimeGenerated > b.TimeGenerated ? 1 : a.Id < b.Id ? -1 : a.Id > b.Id ? 1 : 0);

/** The `network` allowlist: an address in it never alerts (one that does not parse is not in it). */
const allowlisted = (row: SignInRow, ctx: RuleContext) => ctx.lists.network.lookup(row.IPAddress) === true;

const seenList = (values: ReadonlyMap<string, unknown>) => [...values.keys()].map((v) => v || "(none)").sort().join(", ");

function forkAlert(row: SignInRow, s: SessionSignIn, before: SessionState, news: string[]): AlertDraft {
  const account = row.UserPrincipalName.toLowerCase();
  const first = before.first;
  const side = (prefix: "First" | "New", x: SessionSignIn) => ({
    [`${prefix}Time`]: isoOf(x.time),
    [`${prefix}IP`]: x.ip,
    [`${prefix}ASN`]: x.asn,
    [`${prefix}Country`]: x.country,
    [`${prefix}DeviceId`]: x.deviceId,
    [`${prefix}OS`]: x.os,
    [`${prefix}Browser`]: x.browser,
    [`${prefix}Client`]: x.client,
    [`${prefix}App`]: x.app,
  });
  return {
    // One alert per sign-in: its ids and the values it is judged on.
    identity: identity(row.Id, row.UniqueTokenIdentifier, row.TimeGenerated, account, row.SessionId, row.IPAddress, s.asn, s.country, s.deviceId, s.os, s.client),
    time: row.TimeGenerated,
    account,
    ip: row.IPAddress || null,
    title: `Forked session - ${account} session used from AS${s.asn} (${s.country || "unknown country"}) with ${s.client || "an unknown client"}, new: ${news.join(", ")}`,
    details: {
      SessionId: row.SessionId,
      UniqueTokenIdentifier: row.UniqueTokenIdentifier,
      New: news.join("; "),
      ...side("First", first),
      ...side("New", s),
      SeenASNs: seenList(before.seen.asn),
      SeenCountries: seenList(before.seen.country),
      SeenDeviceIds: seenList(before.seen.device),
      SeenClients: seenList(before.seen.client),
    },
    entities: [{ type: "account", name: account }, ...(row.IPAddress ? [{ type: "ip" as const, address: row.IPAddress }] : [])],
  };
}
