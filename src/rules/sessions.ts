// Folding sign-ins into per-session state (src/model/sessions.ts), the forked-session rule's
// memory: for each sign-in session (the `SessionId` column, Entra's `sid` claim), where it
// was used (ASN, country) and from what (device id, operating system, browser, user-agent
// family). Pure: folding a sign-in into a state returns a new state, so a window can fold
// its rows over what the store holds without changing it.
import Bowser from "bowser";
import { dynamicGet, parseJson } from "./kql.js";
import { toString, type SignInRow } from "../model/rows.js";
import { FACETS, MAX_VALUES_PER_FACET, newest, type Facet, type SessionRef, type SessionSignIn, type SessionState } from "../model/sessions.js";
import type { DateTime } from "../model/time.js";

/**
 * The user agent's family: the browser Bowser recognises ("Microsoft Edge", "Chrome", "Safari"),
 * or else the product token before the first "/" ("python-requests",
 * "Windows-AzureAD-Authentication-Provider"). Versions are left out: an update is not a new client.
 */
export function clientFamily(userAgent: string): string {
  let family = families.get(userAgent);
  if (family === undefined) {
    const ua = userAgent.trim();
    family = ua === "" ? "" : Bowser.parse(ua).browser.name || ua.split(/[/\s]/, 1)[0]!;
    // A tenant's sign-ins come from a few thousand user agents, and parsing one costs as much as the rest of a row.
    if (families.size >= MAX_FAMILIES) families.clear();
    families.set(userAgent, family);
  }
  return family;
}

const families = new Map<string, string>();
const MAX_FAMILIES = 20_000;

/** A DeviceDetail browser without its version: "Edge 130.0.0" -> "Edge", "Rich Client 4.66.0.0" -> "Rich Client". */
const browserFamily = (browser: string) => browser.replace(/\s+[\d.]+$/, "").trim();

/** A sign-in row as the session state sees it (once per row: evaluation and the state's update both ask). */
export function sessionSignIn(row: SignInRow): SessionSignIn {
  let s = signIns.get(row);
  if (!s) signIns.set(row, (s = readSignIn(row)));
  return s;
}

const signIns = new WeakMap<SignInRow, SessionSignIn>();

function readSignIn(row: SignInRow): SessionSignIn {
  const device = parseJson(toString(row.DeviceDetail));
  return {
    time: row.TimeGenerated,
    id: row.Id,
    ip: row.IPAddress,
    asn: row.AutonomousSystemNumber,
    country: row.Location,
    deviceId: toString(dynamicGet(device, "deviceId")),
    os: toString(dynamicGet(device, "operatingSystem")),
    browser: browserFamily(toString(dynamicGet(device, "browser"))),
    client: clientFamily(row.UserAgent),
    app: row.AppDisplayName,
  };
}

/** Whether a sign-in can be remembered at all: successful, with a session and an account. Empty SessionId never matches anything. */
export const hasSession = (row: SignInRow): boolean => row.ResultType === "0" && row.SessionId !== "" && row.UserPrincipalName !== "";

/** The session a sign-in names, as its account (the state's account when it starts one). */
export const sessionRef = (row: SignInRow): SessionRef => ({ sessionId: row.SessionId, account: row.UserPrincipalName.toLowerCase() });

/** A state nothing else holds (remember() gives one), so a fold may change its maps and fields in place. */
export type OwnState = SessionState & { seen: Record<Facet, Map<string, DateTime>> };

/** The state after one more sign-in of its session (a new state when `state` is undefined; `state` is left as it is, and only the caller holds the new one). */
export function remember(state: SessionState | undefined, row: SignInRow): OwnState {
  const s = sessionSignIn(row);
  const seen = {} as Record<Facet, Map<string, DateTime>>;
  for (const facet of FACETS) seen[facet] = new Map(state?.seen[facet]);
  const copy = { sessionId: row.SessionId, account: state?.account ?? sessionRef(row).account, first: state?.first ?? s, seen, lastSeen: state?.lastSeen ?? s.time };
  return foldInto(copy, s);
}

/** One more sign-in folded into a state that nothing else holds (remember() without a copy of its six maps). */
function foldInto(state: OwnState, s: SessionSignIn): OwnState {
  for (const facet of FACETS) {
    const known = state.seen[facet];
    const value = s[FACET_FIELDS[facet]];
    // Empty ASNs, countries, OSes and clients are unknowns, not values: an unknown never makes another unknown "seen".
    if (value !== "" || facet === "device") {
      const last = known.get(value);
      if (last === undefined || s.time > last) known.set(value, s.time);
    }
    if (known.size > MAX_VALUES_PER_FACET) state.seen[facet] = newest(known, MAX_VALUES_PER_FACET);
  }
  const first = state.first;
  if (s.time < first.time || (s.time === first.time && s.id < first.id)) state.first = s;
  if (s.time > state.lastSeen) state.lastSeen = s.time;
  return state;
}

/** Where a sign-in shows each facet's value. The device is its id, "" (none) included: a session only ever used with one device id that shows none is a change. */
const FACET_FIELDS = { asn: "asn", country: "country", device: "deviceId", os: "os", browser: "browser", client: "client" } as const satisfies Record<Facet, keyof SessionSignIn>;

/**
 * A window's sign-ins folded over the states its sessions had before it (`before`, left as
 * they are): each session's state is copied once, at its first sign-in, and later ones change
 * that copy, where remember() would copy it again for each.
 */
export class SessionFold {
  private readonly own = new Map<string, OwnState>();

  constructor(private readonly before: (sessionId: string) => SessionState | undefined) {}

  /** The session's state as of the sign-ins folded so far. */
  get(sessionId: string): SessionState | undefined {
    return this.own.get(sessionId) ?? this.before(sessionId);
  }

  /** Folds one sign-in in (only one that has a session: see hasSession). */
  add(row: SignInRow): void {
    const own = this.own.get(row.SessionId);
    if (own) foldInto(own, sessionSignIn(row));
    else this.own.set(row.SessionId, remember(this.before(row.SessionId), row));
  }

  /** Folds in the rows that have a session, in their order. */
  addAll(rows: Iterable<SignInRow>): this {
    for (const row of rows) if (hasSession(row)) this.add(row);
    return this;
  }

  /** The states of the sessions folded into. */
  touched(): IterableIterator<SessionState> {
    return this.own.values();
  }
}
