// Planted attacks: one row pattern per rule, each recorded with the alert the rule should raise.

import { interactiveToNonInteractivePivot } from "../rules/interactive-to-noninteractive-pivot.js";
import { intuneTokenReuse } from "../rules/intune-token-reuse.js";
import { solorigateStsRefreshToken } from "../rules/solorigate-sts-refresh-token.js";
import { stsRefreshTokenModification } from "../rules/sts-refresh-token-modification.js";
import { APPS, CITIES, HOSTING, PROXY, RESOURCES, type City, type Network } from "./catalog.js";
import { Rand, hash32 } from "./prng.js";
import type { Buckets, Item } from "./activity.js";
import { STS_OPERATION, appInitiator, stsAuditEvents } from "./noise.js";
import { Auth, iso, isoSeconds, rawEvent, type Initiator, type SignIn, type Table } from "./rows.js";
import { MS_DAY, MS_HOUR, dayState, localDayOf, networkSite, travelsBetween, type Site, type User } from "./tenant.js";

/** The rules each planted attack is meant to trip, by their ids in the rule files. */
export const RULE_IDS = {
  sts: stsRefreshTokenModification.meta.id,
  solorigate: solorigateStsRefreshToken.meta.id,
  intune: intuneTokenReuse.meta.id,
  pivot: interactiveToNonInteractivePivot.meta.id,
} as const;

export interface PlantedAttack {
  ruleId: string;
  /** The alert's account entity, lowercase. */
  account: string;
  /** The alert's IP entity. */
  ip: string | null;
  /** TimeGenerated of the triggering row (ISO). */
  time: string;
  description: string;
}

const S_ATTACK = 0x4154;
const MS_MIN = 60_000;

const ROGUE_APPS = [
  "Token Keeper", "MailSync Connector", "Graph Automation Tool", "Legacy Backup Agent",
  "O365 Reporting Helper", "SharePoint Migration Assistant", "Outlook Add-in Service", "Calendar Bridge",
];

const ATTACKER_DEVICE = `{"deviceId":"","operatingSystem":"Windows10","browser":"Rich Client 4.61.0.0"}`;
const ATTACKER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

export class AttackPlan {
  readonly planted: PlantedAttack[] = [];
  private readonly byHour = new Map<number, { table: Table; item: Item }[]>();
  /** Per pivot victim, windows in which their own interactive sign-ins are left out. */
  private readonly quiet = new Map<number, [number, number][]>();

  /** No attacks. */
  static none(): AttackPlan {
    return new AttackPlan();
  }

  /** Interactive sign-ins of `user` at `t` that would pair with a planted pivot (and raise a second alert). */
  readonly suppressInteractive = (user: number, t: number): boolean => {
    const windows = this.quiet.get(user);
    return windows !== undefined && windows.some(([lo, hi]) => t >= lo && t <= hi);
  };

  hour(hour: number, out: Buckets): void {
    for (const { table, item } of this.byHour.get(hour) ?? []) out[table].push(item);
  }

  add(table: Table, item: Item): void {
    const h = Math.floor(item.t / MS_HOUR);
    const list = this.byHour.get(h);
    if (list) list.push({ table, item });
    else this.byHour.set(h, [{ table, item }]);
  }

  quietWindow(user: number, lo: number, hi: number): void {
    const list = this.quiet.get(user);
    if (list) list.push([lo, hi]);
    else this.quiet.set(user, [[lo, hi]]);
  }
}

/**
 * Plants, inside [fromMs, toMs), about one attack per 2,000 users per rule per day (at least one each).
 */
export function planAttacks(seed: number, users: readonly User[], fromMs: number, toMs: number): AttackPlan {
  const plan = new AttackPlan();
  const rng = new Rand(hash32(seed, S_ATTACK));
  const aux = new Rand(0);
  const members = users.filter((u) => !u.guest);
  const pool = members.length ? members : users;
  // accounts able to change other users' tokens: the admins, when the tenant has any
  const admins = pool.filter((u) => u.admin);
  const actors = admins.length ? admins : pool;
  const count = Math.max(1, Math.round((users.length * (toMs - fromMs)) / MS_DAY / 2000));
  const usedIps = new Set<string>();
  const victims = new Set<number>();

  const attackerSite = (net: Network, city: City): Site => {
    for (;;) {
      const site = networkSite(rng, net, city);
      if (!usedIps.has(site.ip)) {
        usedIps.add(site.ip);
        return site;
      }
    }
  };
  const hostingSite = (notCountry?: string): Site => {
    const options = HOSTING.filter((h) => CITIES[h.city]!.country !== notCountry);
    const h = rng.pick(options);
    return attackerSite(h, CITIES[h.city]!);
  };
  const between = (lo: number, hi: number): number => (hi > lo ? lo + rng.int(hi - lo) : lo);
  /** A time in [lo, hi), preferably inside the user's local office hours. */
  const workTime = (user: User, lo: number, hi: number): number => {
    let t = lo;
    for (let k = 0; k < 12; k++) {
      t = between(lo, hi);
      const local = (((t + user.city.tz * MS_MIN) % MS_DAY) + MS_DAY) % MS_DAY;
      if (local >= 9 * MS_HOUR && local < 17 * MS_HOUR) break;
    }
    return t;
  };
  /** A victim not yet attacked whose own sign-ins stay in one country around [lo, hi]. */
  const victim = (pickTime: (u: User) => [number, number], margin: [number, number]): { user: User; times: [number, number] } => {
    let fallback: { user: User; times: [number, number] } | null = null;
    for (let k = 0; k < 400; k++) {
      const user = rng.pick(pool);
      const times = pickTime(user);
      if (travelsBetween(seed, user, times[0] - margin[0], times[1] + margin[1], aux)) continue;
      if (!victims.has(user.index) || k >= 200) {
        victims.add(user.index);
        return { user, times };
      }
      fallback ??= { user, times };
    }
    if (!fallback) throw new Error("no attack victim without travel found");
    return fallback;
  };
  const signIn = (s: SignIn, table: Table): void => plan.add(table, { t: s.t, seed: rng.u32(), signIn: s });

  // Intune: a refresh token replayed against Intune from a proxy in the victim's own country
  // (so the pivot rule, which needs a country change, stays quiet), without MFA.
  for (let k = 0; k < count; k++) {
    const { user, times: [t] } = victim((u) => {
      const t = workTime(u, fromMs, toMs);
      return [t, t];
    }, [2 * MS_HOUR + 5 * MS_MIN, 5 * MS_MIN]);
    const site = attackerSite(PROXY, user.city);
    signIn({
      interactive: false, t, user, site, device: user.laptop, app: APPS.companyPortal, resource: RESOURCES.intune,
      result: "0", auth: Auth.Previous, mfaMethod: "", conditionalAccess: "success", sessionId: rng.uuid(),
      userAgent: ATTACKER_UA, deviceDetail: ATTACKER_DEVICE,
    }, "AADNonInteractiveUserSignInLogs");
    plan.planted.push({
      ruleId: RULE_IDS.intune, account: user.upn.toLowerCase(), ip: site.ip, time: iso(t),
      description: `Refresh token of ${user.upn} redeemed for Microsoft Intune without MFA from ${site.ip} (AS${site.asn} ${site.isp}), an IP and ASN the user never used`,
    });
  }

  // Pivot: a single-factor interactive sign-in from the victim's usual network, then the same
  // session's token refreshed 5-100 minutes later from a hosting network in another country.
  for (let k = 0; k < count; k++) {
    const { user, times: [t0, tNi] } = victim((u) => {
      const t0 = workTime(u, fromMs, Math.max(fromMs, toMs - 101 * MS_MIN));
      return [t0, Math.min(toMs - 1, t0 + rng.range(5 * MS_MIN, 100 * MS_MIN))];
    }, [2 * MS_HOUR + 5 * MS_MIN, 2 * MS_HOUR + 5 * MS_MIN]);
    const sessionId = rng.uuid();
    const atOffice = user.corp.length > 0 && dayState(seed, user, localDayOf(user, t0), aux).office;
    const usual = atOffice ? user.corp[0]! : user.home;
    signIn({
      interactive: true, t: t0, user, site: usual, device: user.laptop, app: APPS.officeHome, resource: RESOURCES.officeHome,
      result: "0", auth: Auth.Password, mfaMethod: "", conditionalAccess: "notApplied", sessionId,
    }, "SigninLogs");
    const site = hostingSite(user.city.country);
    signIn({
      interactive: false, t: tNi, user, site, device: user.laptop, app: APPS.office, resource: RESOURCES.exchange,
      result: "0", auth: Auth.Previous, mfaMethod: "", conditionalAccess: "success", sessionId,
      userAgent: ATTACKER_UA, deviceDetail: ATTACKER_DEVICE,
    }, "AADNonInteractiveUserSignInLogs");
    plan.quietWindow(user.index, tNi - 2 * MS_HOUR - 2 * MS_MIN, tNi + 2 * MS_MIN);
    plan.planted.push({
      ruleId: RULE_IDS.pivot, account: user.upn.toLowerCase(), ip: site.ip, time: iso(tNi),
      description: `Single-factor sign-in of ${user.upn} from ${usual.ip} (${usual.city.country}) followed after ${Math.round((tNi - t0) / MS_MIN)} min by a token refresh of the same session from ${site.ip} (${site.city.country}, ${site.isp})`,
    });
  }

  // STS (AuditLogs): a rogue application or a compromised account pushes a victim's
  // StsRefreshTokensValidFrom forward, keeping stolen refresh tokens alive.
  for (let k = 0; k < count; k++) {
    const t = between(fromMs, toMs);
    const target = rng.pick(pool);
    let account: string;
    let ip: string | null = null;
    let initiatedBy: Initiator;
    if (k % 2 === 0) {
      const name = ROGUE_APPS[(k / 2) % ROGUE_APPS.length]! + (k >= 2 * ROGUE_APPS.length ? ` ${Math.floor(k / (2 * ROGUE_APPS.length)) + 1}` : "");
      initiatedBy = appInitiator({ appId: rng.uuid(), displayName: name, servicePrincipalId: rng.uuid() });
      account = name.toLowerCase();
    } else {
      const actor = rng.pick(actors);
      ip = hostingSite().ip;
      initiatedBy = { user: { id: actor.id, displayName: null, userPrincipalName: actor.upn, ipAddress: ip, roles: [] } };
      account = actor.upn.toLowerCase();
    }
    const oldMs = t - rng.range(20, 60) * MS_DAY;
    const newMs = t - rng.range(1, 10) * MS_MIN;
    for (const audit of stsAuditEvents(rng, t, initiatedBy, target, oldMs, newMs)) {
      if (audit.t >= fromMs) plan.add("AuditLogs", { t: audit.t, seed: rng.u32(), audit });
    }
    plan.planted.push({
      ruleId: RULE_IDS.sts, account, ip, time: iso(t),
      description: `${account} extended the refresh tokens of ${target.upn} (StsRefreshTokensValidFrom ${isoSeconds(oldMs)} -> ${isoSeconds(newMs)})`,
    });
  }

  // Solorigate (CloudAppEvents): the same technique as seen by Defender for Cloud Apps.
  for (let k = 0; k < count; k++) {
    const t = between(fromMs, toMs);
    const target = rng.pick(pool);
    const site = hostingSite();
    const oldMs = t - rng.range(20, 60) * MS_DAY;
    const newMs = t - rng.range(1, 10) * MS_MIN;
    let userId: string;
    let objectId: string;
    let displayName: string;
    let app = false;
    if (k % 2 === 0) {
      const actor = rng.pick(actors);
      userId = actor.upn;
      objectId = actor.id;
      displayName = actor.displayName;
    } else {
      app = true;
      userId = ROGUE_APPS[ROGUE_APPS.length - 1 - (((k - 1) / 2) % ROGUE_APPS.length)]!;
      objectId = rng.uuid();
      displayName = userId;
    }
    plan.add("CloudAppEvents", { t, seed: rng.u32(), cloud: {
      t,
      actionType: `${STS_OPERATION}.`,
      application: "Microsoft 365",
      applicationId: 11161,
      accountObjectId: objectId,
      accountDisplayName: displayName,
      accountType: app ? "Application" : "Admin",
      isAdminOperation: !app,
      site,
      isAnonymousProxy: k % 3 === 2,
      userAgent: app ? "" : ATTACKER_UA,
      activityType: "Edit",
      raw: rawEvent(STS_OPERATION, 8, "AzureActiveDirectory", {
        UserKey: objectId, UserType: app ? 4 : 2, ObjectId: target.upn, UserId: userId, ClientIP: site.ip, AzureActiveDirectoryEventType: 1,
        ModifiedProperties: [{ Name: "StsRefreshTokensValidFrom", NewValue: `["${isoSeconds(newMs)}"]`, OldValue: `["${isoSeconds(oldMs)}"]` }],
        Actor: app ? [{ ID: userId, Type: 1 }, { ID: objectId, Type: 2 }] : [{ ID: objectId, Type: 2 }, { ID: userId, Type: 5 }],
        Target: [{ ID: `User_${target.id}`, Type: 2 }, { ID: target.upn, Type: 5 }],
      }),
    } });
    plan.planted.push({
      ruleId: RULE_IDS.solorigate, account: userId.toLowerCase(), ip: site.ip, time: iso(t),
      description: `${userId} extended the refresh tokens of ${target.upn} from ${site.ip} (${site.city.country}, ${site.isp})`,
    });
  }

  plan.planted.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0));
  return plan;
}
