// A sign-in session's state (the forked-session rule's memory, src/rules/sessions.ts folds
// sign-ins into it): where and from what the session was used, each value with its last
// sighting, and its first sign-in; what expires of it; and its stored form (JSON text in one
// Table Storage property, validated on read).
import { z } from "zod";
import { sortableIso, toDateTime, type DateTime } from "./time.js";

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

/** A session as a window's rows name it: its id, and the account (lowercased UPN) using it. */
export interface SessionRef {
  sessionId: string;
  account: string;
}

/** A session's identity in a store: a session id is its account's (Entra issues the `sid` claim per user). */
export const sessionKey = (session: SessionRef): string => `${session.account}\u0000${session.sessionId}`;

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

/** The state without the values last seen at or before `since`; undefined when nothing is left (the session expired). */
export function forget(state: SessionState, since: DateTime): SessionState | undefined {
  if (state.lastSeen <= since) return undefined;
  const seen = {} as Record<Facet, ReadonlyMap<string, DateTime>>;
  for (const facet of FACETS) seen[facet] = new Map([...state.seen[facet]].filter(([, t]) => t > since));
  return { ...state, seen };
}

/** The `n` most recently seen values. */
export function newest(values: Map<string, DateTime>, n: number): Map<string, DateTime> {
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
