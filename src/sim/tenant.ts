// The simulated workforce: who the users are, where they live, which networks and devices they use,
// and what a given local day looks like for them (workday, weekend, leave, travel).

import {
  CITIES, CORP_EGRESS, DEPARTMENTS, DOMAIN, FIRST_NAMES, GUEST_DOMAINS, HOME_ISPS, LAST_NAMES, MOBILE_ISPS,
  ONMICROSOFT, type City, type Network,
} from "./catalog.js";
import { Rand, cumulative, hash32 } from "./prng.js";

/** A network location a user signs in from. */
export interface Site {
  ip: string;
  asn: string;
  isp: string;
  city: City;
}

export enum DeviceKind {
  Windows = 0,
  Mac = 1,
  Ios = 2,
  Android = 3,
  /** Unmanaged browser (guests). */
  Browser = 4,
}

export interface Device {
  kind: DeviceKind;
  /** Entra device id; "" for a device that is not registered (guest browsers, half of the phones). */
  id: string;
  name: string;
  mobile: boolean;
}

export interface User {
  index: number;
  upn: string;
  id: string;
  displayName: string;
  guest: boolean;
  admin: boolean;
  engineer: boolean;
  department: string;
  city: City;
  /** `"UserPrincipalName":…,"UserId":…,"UserDisplayName":…,"UserType":…` ready to splice into a row. */
  fragment: string;
  home: Site;
  corp: readonly Site[];
  mobileSite: Site | null;
  laptop: Device;
  phone: Device | null;
  /** Laptop left on overnight: mail sync and device check-ins around the clock. */
  alwaysOn: boolean;
  /** Scales the user's volume (guests are much quieter). */
  activity: number;
  /** Local hour the working day starts, and its length in hours. */
  workStart: number;
  workHours: number;
  /** Chance that a workday is spent at the office (needs corporate egress). */
  officeShare: number;
}

export enum DayKind {
  Work = 0,
  Weekend = 1,
  WeekendWork = 2,
  Leave = 3,
  /** A day abroad or in another city: every sign-in from one hotel network, local hours [3, 21) only. */
  Travel = 4,
}

export interface DayState {
  day: number;
  kind: DayKind;
  office: boolean;
  travel: Site | null;
}

// stream ids for hash32
const S_USER = 0x5553;
const S_DAY = 0x4441;

const HOME_CITY_CUM = cumulative(CITIES.map((c) => c.weight));
const TRAVEL_CITIES = CITIES.filter((c) => c.weight > 0);

export const MS_HOUR = 3_600_000;
export const MS_DAY = 86_400_000;

function randomIp(rng: Rand, net: Network): string {
  return `${rng.pick(net.prefixes)}.${rng.range(1, 254)}.${rng.range(1, 254)}`;
}

export function networkSite(rng: Rand, net: Network, city: City): Site {
  return { ip: randomIp(rng, net), asn: net.asn, isp: net.isp, city };
}

function countryNetworks(table: Readonly<Record<string, readonly Network[]>>, country: string): readonly Network[] {
  const nets = table[country];
  if (!nets || nets.length === 0) throw new Error(`no networks for ${country}`);
  return nets;
}

/** Users with index i % 50 === 7 are guests (2%), so any tenant of 8 or more users has one. */
function isGuestIndex(i: number): boolean {
  return i % 50 === 7;
}

/**
 * The tenant's `count` users; with `keep`, only those whose UPN it accepts (a shard), each
 * still the user it is in the whole tenant (same index, UPN and networks).
 */
export function buildUsers(count: number, seed: number, keep?: (upn: string) => boolean): User[] {
  const users: User[] = [];
  const taken = new Map<string, number>();
  const rng = new Rand(0);
  for (let i = 0; i < count; i++) {
    rng.reseed(hash32(seed, S_USER, i));
    const first = rng.pick(FIRST_NAMES);
    const last = rng.pick(LAST_NAMES);
    const guest = isGuestIndex(i);
    const city = CITIES[rng.weighted(HOME_CITY_CUM)]!;
    const local = `${first}.${last}`.toLowerCase().replace(/[^a-z.]/g, "");
    let upn: string;
    let displayName = `${first} ${last}`;
    if (guest) {
      const domain = rng.pick(GUEST_DOMAINS);
      const org = domain.split(".")[0]!;
      const base = `${first.toLowerCase()}${rng.chance(0.5) ? "." + last.toLowerCase().replace(/[^a-z]/g, "") : ""}_${domain}`;
      const n = (taken.get(base) ?? 0) + 1;
      taken.set(base, n);
      upn = `${n > 1 ? base.replace("_", String(n) + "_") : base}#EXT#@${ONMICROSOFT}`;
      displayName += ` (${org[0]!.toUpperCase()}${org.slice(1)})`;
    } else {
      const n = (taken.get(local) ?? 0) + 1;
      taken.set(local, n);
      upn = `${local}${n > 1 ? n : ""}@${DOMAIN}`;
    }
    if (keep && !keep(upn)) continue;
    const id = rng.uuid();
    const home = networkSite(rng, rng.pick(countryNetworks(HOME_ISPS, city.country)), city);
    const egress = CORP_EGRESS[city.country];
    const corp: Site[] = [];
    if (egress && !guest) {
      const n = rng.chance(0.4) ? 2 : 1;
      const start = rng.int(egress.ips.length);
      for (let k = 0; k < n && k < egress.ips.length; k++) {
        corp.push({ ip: egress.ips[(start + k) % egress.ips.length]!, asn: egress.asn, isp: egress.isp, city });
      }
    }
    // 1-3 usual IPs in 1-2 usual ASNs: home + corporate egress, or home + a mobile carrier
    const hasPhone = !guest && rng.chance(0.85);
    const mobileSite = hasPhone && corp.length === 0 && rng.chance(0.6)
      ? networkSite(rng, rng.pick(countryNetworks(MOBILE_ISPS, city.country)), city)
      : null;
    const mac = rng.chance(0.25);
    const laptop: Device = guest
      ? { kind: DeviceKind.Browser, id: "", name: "", mobile: false }
      : { kind: mac ? DeviceKind.Mac : DeviceKind.Windows, id: rng.uuid(), name: `${mac ? "CTS-MBP" : "CTS-LT"}-${rng.range(1000, 9999)}`, mobile: false };
    const ios = rng.chance(0.6);
    const phone: Device | null = hasPhone
      ? { kind: ios ? DeviceKind.Ios : DeviceKind.Android, id: rng.chance(0.5) ? rng.uuid() : "", name: ios ? "iPhone" : "Android", mobile: true }
      : null;
    const department = rng.pick(DEPARTMENTS);
    const userType = guest ? "Guest" : "Member";
    users.push({
      index: i,
      upn,
      id,
      displayName,
      guest,
      admin: !guest && (i === 3 || i % 97 === 5),
      engineer: !guest && (department === "Engineering" || department === "IT" || rng.chance(0.05)),
      department,
      city,
      fragment: `"UserPrincipalName":${JSON.stringify(upn)},"UserId":"${id}","UserDisplayName":${JSON.stringify(displayName)},"UserType":"${userType}"`,
      home,
      corp,
      mobileSite,
      laptop,
      phone,
      alwaysOn: !guest && rng.chance(0.6),
      activity: guest ? 0.3 : 0.7 + rng.float() * 0.6,
      workStart: rng.range(7, 10),
      workHours: rng.range(8, 10),
      officeShare: corp.length ? 0.3 + rng.float() * 0.5 : 0,
    });
  }
  return users;
}

/** Local day number (days since 1970-01-01 in the user's zone) of an instant. */
export function localDayOf(user: User, ms: number): number {
  return Math.floor((ms + user.city.tz * 60_000) / MS_DAY);
}

/** What the user's local day `day` looks like; a pure function of (seed, user, day). */
export function dayState(seed: number, user: User, day: number, rng: Rand): DayState {
  rng.reseed(hash32(seed, S_DAY, user.index, day));
  const weekday = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
  const weekend = weekday === 0 || weekday === 6;
  let kind: DayKind;
  if (weekend) kind = rng.chance(0.08) ? DayKind.WeekendWork : DayKind.Weekend;
  else if (rng.chance(0.04)) kind = DayKind.Leave;
  else if (!user.guest && rng.chance(0.012)) kind = DayKind.Travel;
  else kind = DayKind.Work;
  const office = kind === DayKind.Work && rng.chance(user.officeShare);
  let travel: Site | null = null;
  if (kind === DayKind.Travel) {
    const domestic = TRAVEL_CITIES.filter((c) => c.country === user.city.country && c !== user.city);
    const abroad = TRAVEL_CITIES.filter((c) => c.country !== user.city.country);
    const dest = domestic.length && rng.chance(0.4) ? rng.pick(domestic) : rng.pick(abroad);
    travel = networkSite(rng, rng.pick(countryNetworks(HOME_ISPS, dest.country)), dest);
  }
  return { day, kind, office, travel };
}

/** True when the user travels on any local day touching [fromMs, toMs]. */
export function travelsBetween(seed: number, user: User, fromMs: number, toMs: number, rng: Rand): boolean {
  for (let d = localDayOf(user, fromMs); d <= localDayOf(user, toMs); d++) {
    if (dayState(seed, user, d, rng).kind === DayKind.Travel) return true;
  }
  return false;
}
