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
// The stored form: JSON text, validated on read. A window writes back every session it
// names (thousands an hour per slice) and reads most of them again the next hour, so the
// form is an array without keys (CompactStored): `at`, the session's newest sighting
// (sortable ISO, seven fraction digits), then every time as whole ticks before it, a number
// per value rather than a datetime text to format and parse; no account, which the entity's
// RowKey holds. Two earlier forms still read, each an object naming its account: the first
// release's, every time as sortable ISO text, and the second's, times as ticks before `at`.

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
const SIGN_IN_TEXTS = ["id", "ip", "asn", "country", "deviceId", "os", "browser", "client", "app"] as const satisfies readonly (keyof SessionSignIn)[];
const signInFields = Object.fromEntries(SIGN_IN_TEXTS.map((f) => [f, z.string()])) as Record<(typeof SIGN_IN_TEXTS)[number], z.ZodString>;
const facetsOf = <T extends z.ZodType>(values: T) => z.object(Object.fromEntries(FACETS.map((f) => [f, values])) as Record<Facet, T>);

/** A facet's values and their ticks before `at`, alternating: [value, ticks, value, ticks, ...]. */
const flatPairs = z
  .array(z.union([z.string(), ticksBefore]))
  .refine((a) => a.length % 2 === 0 && a.every((v, i) => typeof v === (i % 2 === 0 ? "string" : "number")), "values and their times must alternate");

/** One of the first sign-in's texts. */
const signInText = z.string();
/**
 * The stored form: [at, the first sign-in's ticks before at, its nine texts in SIGN_IN_TEXTS'
 * order, then each facet's values in FACETS' order]. `at` stays text here (checked, not
 * converted), so a value the schema takes is its own output: what compactForm() relies on.
 */
export const CompactStored = z.tuple([
  z.string().refine((v) => toDateTime(v) !== null, "not a datetime"),
  ticksBefore,
  signInText, signInText, signInText, signInText, signInText, signInText, signInText, signInText, signInText,
  flatPairs, flatPairs, flatPairs, flatPairs, flatPairs, flatPairs,
]);
type CompactStored = z.infer<typeof CompactStored>;

/** The earlier forms, each an object naming its account: the second's times relative to `at`, the first release's as text. */
const EarlierStored = z.union([
  z.object({ account: z.string(), at: ticksText, first: z.object({ ...signInFields, time: ticksBefore }), seen: facetsOf(z.array(z.tuple([z.string(), ticksBefore]))) }),
  z.object({ account: z.string(), first: z.object({ ...signInFields, time: ticksText }), seen: facetsOf(z.array(z.tuple([z.string(), ticksText]))) }),
]);

const FIRST_TEXT = 2;
const FIRST_FACET = FIRST_TEXT + SIGN_IN_TEXTS.length;
const COMPACT_LENGTH = FIRST_FACET + FACETS.length;
const isTicksBefore = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * The value itself when CompactStored takes it, checked without zod, else null: a window reads
 * thousands of states, and in a fresh process zod's parse of one costs several times the
 * JSON.parse. Anything this does not take (an earlier form, a value that is wrong) goes to the
 * schemas, which say what is wrong.
 */
export function compactForm(json: unknown): CompactStored | null {
  if (!Array.isArray(json) || json.length !== COMPACT_LENGTH || typeof json[0] !== "string" || !isTicksBefore(json[1]) || toDateTime(json[0]) === null) return null;
  for (let i = FIRST_TEXT; i < FIRST_FACET; i++) if (typeof json[i] !== "string") return null;
  for (let i = FIRST_FACET; i < COMPACT_LENGTH; i++) {
    const pairs: unknown = json[i];
    if (!Array.isArray(pairs)) return null;
    for (let j = 0; j < pairs.length; j += 2) if (typeof pairs[j] !== "string" || !isTicksBefore(pairs[j + 1])) return null;
  }
  return json as CompactStored;
}

/** The JSON text of a state's first sign-in and values (the session id and account are its RowKey, lastSeen also its own column). */
export function storedSessionText(state: SessionState): string {
  const at = state.lastSeen;
  const { first } = state;
  const stored: unknown[] = [sortableIso(at), Number(at - first.time), ...SIGN_IN_TEXTS.map((f) => first[f])];
  for (const facet of FACETS) {
    const pairs: (string | number)[] = [];
    for (const [value, t] of state.seen[facet]) pairs.push(value, Number(at - t));
    stored.push(pairs);
  }
  return JSON.stringify(stored);
}

/**
 * A state read back from its stored text, as `session`'s, or undefined when it is another
 * account's: an earlier form names its account, the compact form does not, so it is taken as
 * the account's only from a key that names the account (`keyNamesAccount`). lastSeen is the
 * newest of its values.
 */
export function sessionFromStored(session: SessionRef, text: string, keyNamesAccount = true): SessionState | undefined {
  const json: unknown = JSON.parse(text);
  const compact = compactForm(json) ?? (Array.isArray(json) ? CompactStored.parse(json) : null);
  const seen = {} as Record<Facet, ReadonlyMap<string, DateTime>>;
  let first: SessionSignIn;
  if (compact) {
    if (!keyNamesAccount) return undefined;
    const at = toDateTime(compact[0])!;
    first = { time: at - BigInt(compact[1]) } as SessionSignIn;
    for (let i = 0; i < SIGN_IN_TEXTS.length; i++) first[SIGN_IN_TEXTS[i]!] = compact[FIRST_TEXT + i] as string;
    for (let i = 0; i < FACETS.length; i++) {
      const pairs = compact[FIRST_FACET + i] as (string | number)[];
      const values = new Map<string, DateTime>();
      for (let j = 0; j < pairs.length; j += 2) values.set(pairs[j] as string, at - BigInt(pairs[j + 1]!));
      seen[FACETS[i]!] = values;
    }
  } else {
    const earlier = EarlierStored.parse(json);
    if (earlier.account !== session.account) return undefined;
    // Both earlier forms as [value, time] pairs: relative ones resolved against `at`.
    const at = "at" in earlier ? earlier.at : undefined;
    const time = (t: DateTime | number) => (typeof t === "number" ? at! - BigInt(t) : t);
    first = { ...earlier.first, time: time(earlier.first.time) };
    for (const facet of FACETS) seen[facet] = new Map(earlier.seen[facet].map(([v, t]: [string, DateTime | number]) => [v, time(t)]));
  }
  let lastSeen = first.time;
  for (const facet of FACETS) for (const t of seen[facet].values()) if (t > lastSeen) lastSeen = t;
  return { sessionId: session.sessionId, account: session.account, first, seen, lastSeen };
}
