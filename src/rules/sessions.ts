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

/** The facet values a sign-in shows. The device is its id, "" (none) included: a session only ever used with one device id that shows none is a change. */
function facetValues(s: SessionSignIn): Record<Facet, string> {
  return { asn: s.asn, country: s.country, device: s.deviceId, os: s.os, browser: s.browser, client: s.client };
}

/** Whether a sign-in can be remembered at all: successful, with a session and an account. Empty SessionId never matches anything. */
export const hasSession = (row: SignInRow): boolean => row.ResultType === "0" && row.SessionId !== "" && row.UserPrincipalName !== "";

/** The session a sign-in names, as its account (the state's account when it starts one). */
export const sessionRef = (row: SignInRow): SessionRef => ({ sessionId: row.SessionId, account: row.UserPrincipalName.toLowerCase() });

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
    account: state?.account ?? sessionRef(row).account,
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

