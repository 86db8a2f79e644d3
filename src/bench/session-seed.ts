// The forked-session rule's steady state for the tenant bench: the Sessions table as the
// hourly runs before the measured hour would have left it, for the sessions the hour can
// read. Without it every session of the hour would be new to the rule: no state to read or
// parse, small states to write, and a measured hour cheaper than a real one.
//
// The walk shows every sign-in once, 50 million at L; rendering and folding each would take
// longer than the walk. A state depends only on the session's first sign-in and, per value,
// its latest sighting (the bootstrap query relies on the same), so the walk keeps, per
// session, its first sign-in and the latest sign-in of each distinct (ASN, country, device,
// user agent); the states are folded from those alone, by the rule's own code over the rows
// the local query API serves, only for the sessions the hour reads, scans or purges.
import { sessionKey, type SessionState } from "../model/sessions.js";
import { parseRow, signInSchema, type SignInRow } from "../model/rows.js";
import { hasSession, remember, sessionRef } from "../rules/sessions.js";
import { deviceDetail, userAgent, type SignIn } from "../sim/rows.js";
import type { Item } from "../sim/activity.js";

type SignInItem = Extract<Item, { signIn: SignIn }>;

interface Sightings {
  account: string;
  first: SignInItem;
  /** The latest sign-in per distinct set of the values a state keeps. */
  latest: SignInItem[];
  lastT: number;
}

/**
 * Whether two sign-ins show the same values to a state: ASN, country, device (DeviceDetail) and
 * user agent, compared by the generator's own objects, so a walk of 50 million sign-ins builds
 * no strings. (Equal values in distinct objects only keep one more sign-in.)
 */
const sameValues = (a: SignIn, b: SignIn) =>
  a.site.asn === b.site.asn && a.site.city.country === b.site.city.country && a.device === b.device && a.app.browser === b.app.browser && a.userAgent === b.userAgent && a.deviceDetail === b.deviceDetail;

export class SessionSeed {
  /** By session id (the generator reuses each id's string), or by store key for an id another account also uses. */
  private readonly sessions = new Map<string, Sightings>();
  private readonly accounts = new Map<string, string>();

  /** Only sign-ins at or after `fromMs` can still be in a state (the lifetime and the purge's reach before the hour). */
  constructor(private readonly fromMs: number) {}

  /** How many sessions the walk showed. */
  get size(): number {
    return this.sessions.size;
  }

  /** The store key of the session a sign-in names, or undefined when the rule does not remember it. */
  keyOf(item: SignInItem): string | undefined {
    const s = item.signIn;
    return s.result === "0" && s.sessionId && s.user.upn ? sessionKey({ account: this.account(s.user.upn), sessionId: s.sessionId }) : undefined;
  }

  private account(upn: string): string {
    let account = this.accounts.get(upn);
    if (account === undefined) this.accounts.set(upn, (account = upn.toLowerCase()));
    return account;
  }

  /** A sign-in that arrived before the measured hour. */
  add(item: SignInItem): void {
    const s = item.signIn;
    if (item.t < this.fromMs || s.result !== "0" || !s.sessionId || !s.user.upn) return;
    const account = this.account(s.user.upn);
    let id = s.sessionId;
    let seen = this.sessions.get(id);
    if (seen && seen.account !== account) seen = this.sessions.get((id = sessionKey({ account, sessionId: id })));
    if (!seen) {
      this.sessions.set(id, { account, first: item, latest: [item], lastT: item.t });
      return;
    }
    if (item.t < seen.first.t) seen.first = item;
    if (item.t > seen.lastT) seen.lastT = item.t;
    const i = seen.latest.findIndex((other) => sameValues(other.signIn, s));
    if (i < 0) seen.latest.push(item);
    else if (seen.latest[i]!.t <= item.t) seen.latest[i] = item;
  }

  /** The states of the sessions `keep` picks (by store key and latest sighting in ms), folded from the served rows. */
  states(render: (item: Item) => string, keep: (key: string, lastT: number) => boolean): SessionState[] {
    const out: SessionState[] = [];
    for (const seen of this.sessions.values()) {
      const key = sessionKey({ account: seen.account, sessionId: seen.first.signIn.sessionId });
      if (!keep(key, seen.lastT)) continue;
      let state: SessionState | undefined;
      for (const item of new Set([seen.first, ...seen.latest.sort((a, b) => a.t - b.t)])) {
        const parsed = parseRow(signInSchema, JSON.parse(render(item)));
        if (!parsed.ok) throw new Error(`the bench tenant rendered a sign-in its own schema rejects: ${parsed.reason}`);
        const row: SignInRow = parsed.row;
        if (hasSession(row) && sessionKey(sessionRef(row)) === key) state = remember(state, row);
      }
      if (state) out.push(state);
    }
    return out;
  }
}
