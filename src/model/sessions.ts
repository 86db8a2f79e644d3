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

/** The state without the values last seen at or before `since` (the state itself when none is); undefined when nothing is left (the session expired). */
export function forget(state: SessionState, since: DateTime): SessionState | undefined {
  if (state.lastSeen <= since) return undefined;
  // Most states a window reads lose nothing: no copy of their six maps.
  if (!FACETS.some((facet) => anyAtOrBefore(state.seen[facet], since))) return state;
  const seen = {} as Record<Facet, ReadonlyMap<string, DateTime>>;
  for (const facet of FACETS) seen[facet] = new Map([...state.seen[facet]].filter(([, t]) => t > since));
  return { ...state, seen };
}

function anyAtOrBefore(values: ReadonlyMap<string, DateTime>, since: DateTime): boolean {
  for (const t of values.values()) if (t <= since) return true;
  return false;
}

/** The `n` most recently seen values. */
export function newest(values: Map<string, DateTime>, n: number): Map<string, DateTime> {
  return new Map([...values].sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : 0)).slice(0, n));
}

// ---------------------------------------------------------------------------------------
// The stored form: JSON text, validated on read. Times are whole ticks before `at`, the
// session's newest sighting (sortable ISO, seven fraction digits): a number per value rather
// than a datetime text to format and parse, the hourly cost of tens of thousands of sessions.
// The first release stored each time as its sortable ISO text; such a state still reads.

const ticksText = z.string().transform((v, ctx) => {
  const t = toDateTime(v);
  if (t === null) {
    ctx.addIssue({ code: "custom", message: `not a datetime: ${v.slice(0, 40)}` });
    return z.NEVER;
  }
  return t;
});
/** Ticks before `at` (a safe integer: 28 years of ticks). */
const ticksBefore = z.int().nonnegative();
const signInFields = {
  id: z.string(),
  ip: z.string(),
  asn: z.string(),
  country: z.string(),
  deviceId: z.string(),
  os: z.string(),
  browser: z.string(),
  client: z.string(),
  app: z.string(),
};
const facetsOf = <T extends z.ZodType>(values: T) => z.object(Object.fromEntries(FACETS.map((f) => [f, values])) as Record<Facet, T>);

/** The stored form: times as whole ticks before `at`. */
export const CurrentStored = z.object({ account: z.string(), at: ticksText, first: z.object({ ...signInFields, time: ticksBefore }), seen: facetsOf(z.array(z.tuple([z.string(), ticksBefore]))) });
type CurrentStored = z.infer<typeof CurrentStored>;

/** A session's state as one Table Storage property holds it (JSON text): times relative to `at`, or (first release) as text. */
const StoredSession = z.union([CurrentStored, z.object({ account: z.string(), first: z.object({ ...signInFields, time: ticksText }), seen: facetsOf(z.array(z.tuple([z.string(), ticksText]))) })]);

const SIGN_IN_TEXTS = Object.keys(signInFields) as (keyof typeof signInFields)[];
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isTicksBefore = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * What CurrentStored.parse() gives for a value it accepts, checked without zod, or null: a
 * window reads thousands of states, and in a fresh process zod's parse of one costs several
 * times the JSON.parse. Anything this does not take (the first release's form, a value that
 * is wrong) goes through StoredSession, which says what is wrong.
 */
export function currentForm(json: unknown): CurrentStored | null {
  if (!isObject(json) || typeof json.account !== "string" || typeof json.at !== "string" || !isObject(json.first) || !isObject(json.seen)) return null;
  const at = toDateTime(json.at);
  const { first, seen } = json;
  if (at === null || !isTicksBefore(first.time)) return null;
  const sameFirst = { time: first.time } as CurrentStored["first"];
  for (const field of SIGN_IN_TEXTS) {
    const value = first[field];
    if (typeof value !== "string") return null;
    sameFirst[field] = value;
  }
  const sameSeen = {} as CurrentStored["seen"];
  for (const facet of FACETS) {
    const pairs = seen[facet];
    if (!Array.isArray(pairs)) return null;
    for (const pair of pairs) if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || !isTicksBefore(pair[1])) return null;
    sameSeen[facet] = pairs as [string, number][];
  }
  return { account: json.account, at, first: sameFirst, seen: sameSeen };
}

/** The JSON text of a state's account, first sign-in and values (the session id is the key, lastSeen also its own column). */
export function storedSessionText(state: SessionState): string {
  const at = state.lastSeen;
  return JSON.stringify({
    account: state.account,
    at: sortableIso(at),
    first: { ...state.first, time: Number(at - state.first.time) },
    seen: Object.fromEntries(FACETS.map((f) => [f, [...state.seen[f]].map(([v, t]) => [v, Number(at - t)])])),
  });
}

/** A state read back from its stored text; lastSeen is the newest of its values. */
export function sessionFromStored(sessionId: string, text: string): SessionState {
  const json: unknown = JSON.parse(text);
  const parsed = currentForm(json) ?? StoredSession.parse(json);
  // Both forms as [value, time] pairs: relative ones resolved against `at`.
  const pairs = {} as Record<Facet, (readonly [string, DateTime])[]>;
  let first: SessionSignIn;
  if ("at" in parsed) {
    const { at } = parsed;
    first = { ...parsed.first, time: at - BigInt(parsed.first.time) };
    for (const f of FACETS) pairs[f] = parsed.seen[f].map(([v, before]) => [v, at - BigInt(before)] as const);
  } else {
    first = parsed.first;
    for (const f of FACETS) pairs[f] = parsed.seen[f];
  }
  const seen = {} as Record<Facet, ReadonlyMap<string, DateTime>>;
  let lastSeen = first.time;
  for (const f of FACETS) {
    seen[f] = new Map(pairs[f]);
    for (const [, t] of pairs[f]) if (t > lastSeen) lastSeen = t;
  }
  return { sessionId, account: parsed.account, first, seen, lastSeen };
}
