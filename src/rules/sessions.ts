// Per-session state, the forked-session rule's memory: for each sign-in session (the
// `SessionId` column, Entra's `sid` claim), where it was used (ASN, country) and from what
// (device id, operating system, browser, user-agent family), each value with when it was
// last seen, and the session's first sign-in. Pure: folding a sign-in into a state returns
// a new state, so a window can fold its rows over what the store holds without changing it.
import Bowser from "bowser";
import { z } from "zod";
import { dynamicGet, parseJson, sortableIso, toDateTime, toString, type DateTime } from "./kql.js";
import type { SignInRow } from "../sources/rows.js";

/** The facets a session remembers, each a set of values with their last-seen time. */
export const FACETS = ["asn", "country", "device", "os", "browser", "client"] as const;
export type Facet = (typeof FACETS)[number];

/** What one sign-in shows of where and from what it came: the side-by-side view of an alert. */
export interface SessionSignIn {
  time: DateTime;
  id: string;
  ip: string;
  asn: string;
  country: string;
  /** DeviceDetail.deviceId; "" for a device that is not registered (or a client that does not say). */
  deviceId: string;
  os: string;
  /** DeviceDetail.browser without its version ("Edge", "Rich Client"). */
  browser: string;
  /** The user agent's family (see clientFamily). */
  client: string;
  app: string;
}

export interface SessionState {
  sessionId: string;
  account: string;
  /** The earliest sign-in seen in the session. */
  first: SessionSignIn;
  /** Per facet, each value seen and when last (exact ticks). */
  seen: Record<Facet, ReadonlyMap<string, DateTime>>;
  /** The latest sighting of any value: the session is forgotten once this is older than its lifetime. */
  lastSeen: DateTime;
}

/** How long a session can live, and so how long its state is kept, unless configured (TOKENWATCH_SESSION_LIFETIME_DAYS). */
export const DEFAULT_SESSION_LIFETIME_MS = 14 * 86_400_000;

/** At most this many values per facet are kept, the most recently seen: one entity stays small whatever a session does. */
export const MAX_VALUES_PER_FACET = 32;

/**
 * The user agent's family: the browser Bowser recognises ("Microsoft Edge", "Chrome", "Safari"),
 * or else the product token before the first "/" ("python-requests",
 * "Windows-AzureAD-Authentication-Provider"). Versions are left out: an update is not a new client.
 */
export function clientFamily(userAgent: string): string {
  const ua = userAgent.trim();
  if (ua === "") return "";
  const name = Bowser.parse(ua).browser.name;
  if (name) return name;
  return ua.split(/[/\s]/, 1)[0]!;
}

/** A DeviceDetail browser without its version: "Edge 130.0.0" -> "Edge", "Rich Client 4.66.0.0" -> "Rich Client". */
const browserFamily = (browser: string) => browser.replace(/\s+[\d.]+$/, "").trim();

/** A sign-in row as the session state sees it. */
export function sessionSignIn(row: SignInRow): SessionSignIn {
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

/** The facet values a sign-in shows. The device is its id, "" (none) included: a session only ever used with one device id that shows none is a change. */
function facetValues(s: SessionSignIn): Record<Facet, string> {
  return { asn: s.asn, country: s.country, device: s.deviceId, os: s.os, browser: s.browser, client: s.client };
}

/** Whether a sign-in can be remembered at all: successful, with a session and an account. Empty SessionId never matches anything. */
export const hasSession = (row: SignInRow): boolean => row.ResultType === "0" && row.SessionId !== "" && row.UserPrincipalName !== "";

/** The state after one more sign-in of its session (a new state when `state` is undefined). */
export function remember(state: SessionState | undefined, row: SignInRow): SessionState {
  const s = sessionSignIn(row);
  const values = facetValues(s);
  const seen = {} as Record<Facet, ReadonlyMap<string, DateTime>>;
  for (const facet of FACETS) {
    const known = new Map(state?.seen[facet]);
    const value = values[facet];
    // Empty ASNs, countries, OSes and clients are unknowns, not values: an unknown never makes another unknown "seen".
    if (value !== "" || facet === "device") {
      const last = known.get(value);
      if (last === undefined || s.time > last) known.set(value, s.time);
    }
    seen[facet] = known.size > MAX_VALUES_PER_FACET ? newest(known, MAX_VALUES_PER_FACET) : known;
  }
  const earlier = state && (state.first.time < s.time || (state.first.time === s.time && state.first.id <= s.id));
  return {
    sessionId: row.SessionId,
    account: state?.account ?? row.UserPrincipalName.toLowerCase(),
    first: earlier ? state.first : s,
    seen,
    lastSeen: state && state.lastSeen > s.time ? state.lastSeen : s.time,
  };
}

/** Folds rows into states by session id (only the rows that have a session). */
export function rememberAll(states: Map<string, SessionState>, rows: Iterable<SignInRow>): Set<string> {
  const touched = new Set<string>();
  for (const row of rows) {
    if (!hasSession(row)) continue;
    states.set(row.SessionId, remember(states.get(row.SessionId), row));
    touched.add(row.SessionId);
  }
  return touched;
}

/** The state without the values last seen at or before `since`; undefined when nothing is left (the session expired). */
export function forget(state: SessionState, since: DateTime): SessionState | undefined {
  if (state.lastSeen <= since) return undefined;
  const seen = {} as Record<Facet, ReadonlyMap<string, DateTime>>;
  for (const facet of FACETS) seen[facet] = new Map([...state.seen[facet]].filter(([, t]) => t > since));
  return { ...state, seen };
}

function newest(values: Map<string, DateTime>, n: number): Map<string, DateTime> {
  return new Map([...values].sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : 0)).slice(0, n));
}

// ---------------------------------------------------------------------------------------
// The stored form: JSON text with times as sortable ISO (seven fraction digits), validated on read.

const ticks = z.string().transform((v, ctx) => {
  const t = toDateTime(v);
  if (t === null) {
    ctx.addIssue({ code: "custom", message: `not a datetime: ${v.slice(0, 40)}` });
    return z.NEVER;
  }
  return t;
});
const storedSignIn = z.object({
  time: ticks,
  id: z.string(),
  ip: z.string(),
  asn: z.string(),
  country: z.string(),
  deviceId: z.string(),
  os: z.string(),
  browser: z.string(),
  client: z.string(),
  app: z.string(),
});
const storedValues = z.array(z.tuple([z.string(), ticks])).transform((pairs) => new Map(pairs) as ReadonlyMap<string, DateTime>);
/** A session's state as one Table Storage property holds it (JSON text). */
export const StoredSession = z.object({
  account: z.string(),
  first: storedSignIn,
  seen: z.object(Object.fromEntries(FACETS.map((f) => [f, storedValues])) as Record<Facet, typeof storedValues>),
});

/** The JSON text of a state's account, first sign-in and values (the session id is the key, lastSeen its own column). */
export function storedSessionText(state: SessionState): string {
  return JSON.stringify({
    account: state.account,
    first: { ...state.first, time: sortableIso(state.first.time) },
    seen: Object.fromEntries(FACETS.map((f) => [f, [...state.seen[f]].map(([v, t]) => [v, sortableIso(t)])])),
  });
}

/** A state read back from its stored text; lastSeen is the newest of its values. */
export function sessionFromStored(sessionId: string, text: string): SessionState {
  const parsed = StoredSession.parse(JSON.parse(text));
  let lastSeen = parsed.first.time;
  for (const f of FACETS) for (const t of parsed.seen[f].values()) if (t > lastSeen) lastSeen = t;
  return { sessionId, account: parsed.account, first: parsed.first, seen: parsed.seen, lastSeen };
}
