// Benign per-user activity, one hour at a time: interactive sign-ins, token refreshes and cloud-app
// events following each user's workday in their own time zone.
//
// Invariants that keep benign rows from satisfying a rule:
// - within one local day every sign-in comes from one country (home networks, or the travel network
//   on a travel day), and travel days are active only in local hours [3, 21) so that three quiet hours
//   separate them from the home days around them (the pivot rule looks 2 hours back);
// - token refreshes from a network outside the user's usual ones (travel) carry MFA claims, so the
//   Intune rule's "no fresh MFA" condition never holds for them; and a refresh to a resource the
//   Intune rule watches from a usual network that the user's recent history does not yet show (short
//   history, first office day in a while) carries MFA claims too, see `Networks`.

import {
  APPS, DESKTOP_REFRESHES, DESKTOP_SIGNINS, INTERACTIVE_FAILURES, INTUNE_RULE_RESOURCES, MFA_METHODS, MOBILE_REFRESHES,
  MOBILE_SIGNINS, NONINTERACTIVE_FAILURES, OVERNIGHT_REFRESHES, RESOURCES, type Access,
} from "./catalog.js";
import { Rand, cumulative, hash32 } from "./prng.js";
import { Auth, rawEvent, userAgent, type AuditEvent, type CloudEvent, type SignIn } from "./rows.js";
import { DayKind, MS_DAY, MS_HOUR, dayState, type DayState, type Device, type Site, type User } from "./tenant.js";

/** An event waiting in an hour's bucket; `seed` drives the ids and the delay drawn when it is rendered. */
export type Item =
  | { t: number; seed: number; signIn: SignIn }
  | { t: number; seed: number; cloud: CloudEvent }
  | { t: number; seed: number; audit: AuditEvent };

export interface Buckets {
  SigninLogs: Item[];
  AADNonInteractiveUserSignInLogs: Item[];
  AuditLogs: Item[];
  CloudAppEvents: Item[];
}

export const emptyBuckets = (): Buckets => ({ SigninLogs: [], AADNonInteractiveUserSignInLogs: [], AuditLogs: [], CloudAppEvents: [] });

interface Choices {
  items: readonly Access[];
  cum: number[];
}

const choices = (items: readonly Access[]): Choices => ({ items, cum: cumulative(items.map((a) => a.weight)) });
const forStaff = (items: readonly Access[]) => ({
  engineer: choices(items),
  other: choices(items.filter((a) => !a.engineer)),
});

const DESKTOP_NI = forStaff(DESKTOP_REFRESHES);
const MOBILE_NI = forStaff(MOBILE_REFRESHES);
const NIGHT_NI = forStaff(OVERNIGHT_REFRESHES);
const DESKTOP_INT = forStaff(DESKTOP_SIGNINS);
const MOBILE_INT = forStaff(MOBILE_SIGNINS);
const GUEST_NI = choices([
  { app: APPS.teams, resource: RESOURCES.teams, weight: 10 },
  { app: APPS.teams, resource: RESOURCES.graph, weight: 5 },
  { app: APPS.teams, resource: RESOURCES.sharePoint, weight: 4 },
  { app: APPS.owa, resource: RESOURCES.exchange, weight: 1 },
]);
const GUEST_INT = choices([
  { app: APPS.teams, resource: RESOURCES.teams, weight: 6 },
  { app: APPS.officeHome, resource: RESOURCES.officeHome, weight: 3 },
]);

const INT_FAIL = { codes: INTERACTIVE_FAILURES.map(([c]) => c), cum: cumulative(INTERACTIVE_FAILURES.map(([, w]) => w)) };
const NI_FAIL = { codes: NONINTERACTIVE_FAILURES.map(([c]) => c), cum: cumulative(NONINTERACTIVE_FAILURES.map(([, w]) => w)) };
const MFA = { methods: MFA_METHODS.map(([m]) => m), cum: cumulative(MFA_METHODS.map(([, w]) => w)) };

const FAILURE_RATE = 0.03;

interface CloudAction {
  action: string;
  application: string;
  applicationId: number;
  activityType: string;
  workload: string;
  recordType: number;
  weight: number;
}

const CLOUD_ACTIONS: readonly CloudAction[] = [
  { action: "MailItemsAccessed", application: "Microsoft Exchange Online", applicationId: 20893, activityType: "Read", workload: "Exchange", recordType: 50, weight: 30 },
  { action: "Send", application: "Microsoft Exchange Online", applicationId: 20893, activityType: "Send", workload: "Exchange", recordType: 2, weight: 10 },
  { action: "MoveToDeletedItems", application: "Microsoft Exchange Online", applicationId: 20893, activityType: "Delete", workload: "Exchange", recordType: 2, weight: 4 },
  { action: "FileAccessed", application: "Microsoft SharePoint Online", applicationId: 20892, activityType: "Read", workload: "SharePoint", recordType: 6, weight: 20 },
  { action: "FileModified", application: "Microsoft SharePoint Online", applicationId: 20892, activityType: "Edit", workload: "SharePoint", recordType: 6, weight: 8 },
  { action: "FilePreviewed", application: "Microsoft SharePoint Online", applicationId: 20892, activityType: "Read", workload: "SharePoint", recordType: 6, weight: 6 },
  { action: "FileDownloaded", application: "Microsoft OneDrive for Business", applicationId: 15600, activityType: "Download", workload: "OneDrive", recordType: 6, weight: 5 },
  { action: "FileUploaded", application: "Microsoft OneDrive for Business", applicationId: 15600, activityType: "Upload", workload: "OneDrive", recordType: 6, weight: 4 },
  { action: "MessageSent", application: "Microsoft Teams", applicationId: 11394, activityType: "Create", workload: "MicrosoftTeams", recordType: 25, weight: 10 },
  { action: "TeamsSessionStarted", application: "Microsoft Teams", applicationId: 11394, activityType: "Basic", workload: "MicrosoftTeams", recordType: 25, weight: 5 },
  { action: "UserLoggedIn", application: "Microsoft 365", applicationId: 11161, activityType: "Login", workload: "AzureActiveDirectory", recordType: 15, weight: 8 },
];
const CLOUD_CUM = cumulative(CLOUD_ACTIONS.map((a) => a.weight));
const FILES = ["Q3 forecast.xlsx", "Team meeting notes.docx", "Roadmap FY27.pptx", "Budget 2027.xlsx", "Onboarding checklist.docx", "Contract draft v3.docx", "Customer list.csv", "Architecture.vsdx"];

const enum Mode { Work, Off, Night, Travel }

const S_HOUR = 0x484f;
const S_SESSION = 0x5345;

/**
 * How many local days a device's sign-in session lasts (a PRT or a browser's SSO session is
 * renewed while it is used): so one session roams between home, office, carrier and hotel
 * networks, and is shared by the device's apps. Staggered per user, so not every session
 * starts on the same day.
 */
export const SESSION_DAYS = 7;

/** The laptop's and the phone's session ids of a user on a local day. */
export function sessionIds(seed: number, userIndex: number, localDay: number, rng: Rand): { laptop: string; phone: string } {
  const period = Math.floor((localDay + userIndex) / SESSION_DAYS);
  rng.reseed(hash32(seed, S_SESSION, userIndex, period));
  return { laptop: rng.uuid(), phone: rng.uuid() };
}

interface UserDay {
  /** The user's position in the workforce's list. */
  slot: number;
  state: DayState;
  laptopSession: string;
  phoneSession: string;
}

/** True when a benign interactive sign-in of this user at t must be left out (a planted pivot's window). */
export type Suppression = (user: number, t: number) => boolean;

/**
 * For each user and usual network (home, corporate egress, mobile carrier), the last three distinct
 * UTC days with a non-interactive sign-in from it. A network counts as known at time t when it was
 * used on a day that ended at least 8 hours before t (so the row is in the rule's baseline even if
 * it arrived hours late) and no more than 12 days before t's day (well inside the 14-day baseline).
 */
class Networks {
  private readonly days: Int32Array;

  constructor(users: number) {
    this.days = new Int32Array(users * 9).fill(-1_000_000);
  }

  /** The state as it is now, and back to such a state: the only history that hours carry forward. */
  snapshot(): Int32Array {
    return this.days.slice();
  }

  restore(state: Int32Array): void {
    this.days.set(state);
  }

  static index(user: User, site: Site): number {
    if (site === user.home) return 0;
    if (site === user.mobileSite) return 2;
    return user.corp.includes(site) ? 1 : -1;
  }

  use(user: number, network: number, t: number): void {
    const d = this.days;
    const at = (user * 3 + network) * 3;
    const day = Math.floor(t / MS_DAY);
    if (d[at] === day) return;
    d[at + 2] = d[at + 1]!;
    d[at + 1] = d[at]!;
    d[at] = day;
  }

  known(user: number, network: number, t: number): boolean {
    const d = this.days;
    const at = (user * 3 + network) * 3;
    const latest = Math.floor((t - 8 * MS_HOUR) / MS_DAY) - 1;
    const earliest = Math.floor(t / MS_DAY) - 12;
    for (let k = 0; k < 3; k++) {
      const day = d[at + k]!;
      if (day <= latest) return day >= earliest;
    }
    return false;
  }
}

const INTUNE_WATCHED = new Set(INTUNE_RULE_RESOURCES);

export class Workforce {
  private readonly days: (UserDay | undefined)[];
  private readonly networks: Networks;
  private readonly rng = new Rand(0);
  private readonly aux = new Rand(0);

  constructor(
    private readonly seed: number,
    private readonly users: readonly User[],
    private readonly startMs: number,
    private readonly endMs: number,
    private readonly suppressInteractive: Suppression,
  ) {
    // Per-user state is kept by position in `users` (a shard's users are some of the tenant's indexes).
    this.days = new Array(users.length);
    this.networks = new Networks(users.length);
  }

  /** What hour `h + 1` needs from the hours up to `h`; `restore` it to generate from there again. */
  snapshot(): Int32Array {
    return this.networks.snapshot();
  }

  restore(state: Int32Array): void {
    this.networks.restore(state);
  }

  private userDay(user: User, slot: number, day: number): UserDay {
    const cached = this.days[slot];
    if (cached && cached.state.day === day) return cached;
    const state = dayState(this.seed, user, day, this.aux);
    const ids = sessionIds(this.seed, user.index, day, this.aux);
    const fresh = { slot, state, laptopSession: ids.laptop, phoneSession: ids.phone };
    this.days[slot] = fresh;
    return fresh;
  }

  /** Adds every user's events of UTC hour `hour` (hours since the epoch) to `out`. */
  hour(hour: number, out: Buckets): void {
    const hourStart = hour * MS_HOUR;
    for (let slot = 0; slot < this.users.length; slot++) {
      const user = this.users[slot]!;
      const localMs = hourStart + user.city.tz * 60_000;
      const day = Math.floor(localMs / MS_DAY);
      const localHour = Math.floor((localMs - day * MS_DAY) / MS_HOUR);
      const ud = this.userDay(user, slot, day);
      const kind = ud.state.kind;
      const ws = user.workStart;
      const we = ws + user.workHours;
      let mode: Mode;
      let ni: number;
      let int = 0;
      let cloud = 0;
      if (kind === DayKind.Travel) {
        if (localHour < 3 || localHour >= 21) continue;
        mode = Mode.Travel;
        ni = 1.5;
        int = localHour === 8 ? 1 : 0.25;
        cloud = 0.2;
      } else if ((kind === DayKind.Work || kind === DayKind.WeekendWork) && localHour >= ws && localHour < we) {
        const f = kind === DayKind.Work ? 1 : 0.5;
        mode = Mode.Work;
        ni = 2.25 * f;
        int = (localHour === ws ? 1 : 0.25) * f;
        cloud = 0.3 * f;
      } else if (localHour >= 7 && localHour < 23 && kind !== DayKind.Leave) {
        mode = Mode.Off;
        ni = kind === DayKind.Weekend ? 0.7 : 0.5;
        int = 0.03;
        cloud = 0.02;
      } else {
        mode = Mode.Night;
        ni = user.alwaysOn ? 0.4 : 0.05;
      }
      const rng = this.rng.reseed(hash32(this.seed, S_HOUR, user.index, hour));
      const nNi = rng.poisson(ni * user.activity);
      const nInt = rng.poisson(int * user.activity);
      const nCloud = rng.poisson(cloud * user.activity);
      for (let k = 0; k < nNi; k++) this.signIn(false, user, ud, mode, hourStart + rng.int(MS_HOUR), out);
      for (let k = 0; k < nInt; k++) this.signIn(true, user, ud, mode, hourStart + rng.int(MS_HOUR), out);
      for (let k = 0; k < nCloud; k++) this.cloud(user, ud, mode, hourStart + rng.int(MS_HOUR), out);
    }
  }

  private device(user: User, mode: Mode): Device {
    const rng = this.rng;
    if (!user.phone) return user.laptop;
    switch (mode) {
      case Mode.Work: return rng.chance(0.8) ? user.laptop : user.phone;
      case Mode.Travel: return rng.chance(0.6) ? user.laptop : user.phone;
      case Mode.Off: return rng.chance(0.7) ? user.phone : user.laptop;
      case Mode.Night: return user.alwaysOn ? user.laptop : user.phone;
    }
  }

  private site(user: User, ud: UserDay, mode: Mode, device: Device): Site {
    const rng = this.rng;
    if (mode === Mode.Travel) return ud.state.travel!;
    if (mode === Mode.Work && ud.state.office && user.corp.length) return user.corp[rng.int(user.corp.length)]!;
    if (device.mobile && user.mobileSite && rng.chance(0.5)) return user.mobileSite;
    return user.home;
  }

  private signIn(interactive: boolean, user: User, ud: UserDay, mode: Mode, t: number, out: Buckets): void {
    const rng = this.rng;
    const device = this.device(user, mode);
    const site = this.site(user, ud, mode, device);
    const staff = user.engineer ? "engineer" : "other";
    const list = user.guest
      ? interactive ? GUEST_INT : GUEST_NI
      : interactive
        ? (device.mobile ? MOBILE_INT : DESKTOP_INT)[staff]
        : mode === Mode.Night && !device.mobile ? NIGHT_NI[staff] : (device.mobile ? MOBILE_NI : DESKTOP_NI)[staff];
    const access = list.items[rng.weighted(list.cum)]!;
    const failed = rng.chance(FAILURE_RATE);
    const fail = interactive ? INT_FAIL : NI_FAIL;
    const result = failed ? fail.codes[rng.weighted(fail.cum)]! : "0";
    let auth: Auth;
    let conditionalAccess: "success" | "notApplied" = "success";
    const r = rng.float();
    if (mode === Mode.Travel) auth = interactive ? Auth.Mfa : Auth.MfaClaim;
    else if (interactive) {
      if (user.guest) {
        auth = Auth.Password;
        if (r < 0.7) conditionalAccess = "notApplied";
      } else if (r < 0.3) auth = Auth.Mfa;
      else {
        auth = r < 0.6 ? Auth.Password : Auth.Previous;
        if (r > 0.85) conditionalAccess = "notApplied";
      }
    } else {
      auth = r < 0.1 ? Auth.MfaClaim : Auth.Previous;
      if (r > 0.8) conditionalAccess = "notApplied";
    }
    const mfaMethod = MFA.methods[rng.weighted(MFA.cum)]!;
    const seed = rng.u32();
    if (t < this.startMs || t >= this.endMs) return;
    if (interactive && this.suppressInteractive(user.index, t)) return;
    if (!interactive) {
      const network = Networks.index(user, site);
      if (network >= 0) {
        if (result === "0" && auth !== Auth.MfaClaim && INTUNE_WATCHED.has(access.resource.name) && !this.networks.known(ud.slot, network, t)) {
          auth = Auth.MfaClaim;
        }
        this.networks.use(ud.slot, network, t);
      }
    }
    const signIn: SignIn = {
      interactive, t, user, site, device, app: access.app, resource: access.resource, result, auth, mfaMethod, conditionalAccess,
      sessionId: device.mobile ? ud.phoneSession : ud.laptopSession,
    };
    (interactive ? out.SigninLogs : out.AADNonInteractiveUserSignInLogs).push({ t, seed, signIn });
  }

  private cloud(user: User, ud: UserDay, mode: Mode, t: number, out: Buckets): void {
    const rng = this.rng;
    const device = this.device(user, mode);
    const site = this.site(user, ud, mode, device);
    const a = CLOUD_ACTIONS[rng.weighted(CLOUD_CUM)]!;
    const file = rng.pick(FILES);
    const oneOnOne = rng.chance(0.6);
    const seed = rng.u32();
    if (t < this.startMs || t >= this.endMs) return;
    let fields: Record<string, unknown>;
    switch (a.workload) {
      case "Exchange":
        fields = { UserKey: user.id, UserType: 0, Version: 1, ClientIPAddress: site.ip, UserId: user.upn, MailboxOwnerUPN: user.upn };
        break;
      case "SharePoint": {
        const siteUrl = `https://contoso.sharepoint.com/sites/${user.department}/`;
        fields = { UserKey: user.id, UserType: 0, Version: 1, ClientIP: site.ip, ObjectId: `${siteUrl}Shared Documents/${file}`, UserId: user.upn, SiteUrl: siteUrl, SourceFileName: file };
        break;
      }
      case "OneDrive": {
        const siteUrl = `https://contoso-my.sharepoint.com/personal/${user.upn.replace(/[^a-z0-9]/gi, "_")}/`;
        fields = { UserKey: user.id, UserType: 0, Version: 1, ClientIP: site.ip, ObjectId: `${siteUrl}Documents/${file}`, UserId: user.upn, SiteUrl: siteUrl, SourceFileName: file };
        break;
      }
      case "MicrosoftTeams":
        fields = { UserKey: user.id, UserType: 0, Version: 1, ClientIP: site.ip, UserId: user.upn, CommunicationType: oneOnOne ? "OneOnOne" : "Team" };
        break;
      default:
        fields = { UserKey: user.id, UserType: 0, Version: 1, ClientIP: site.ip, UserId: user.upn, AzureActiveDirectoryEventType: 1 };
    }
    out.CloudAppEvents.push({
      t,
      seed,
      cloud: {
        t,
        actionType: a.action,
        application: a.application,
        applicationId: a.applicationId,
        accountObjectId: user.id,
        accountDisplayName: user.displayName,
        accountType: user.guest ? "Guest" : user.admin ? "Admin" : "Regular",
        isAdminOperation: false,
        site,
        userAgent: userAgent(device, true),
        activityType: a.activityType,
        raw: rawEvent(a.action, a.recordType, a.workload, fields),
      },
    });
  }
}
