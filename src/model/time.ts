// Time as Log Analytics keeps it: a datetime is a bigint of 100-ns ticks since the Unix
// epoch, so every comparison is exact. Window edges and ranges are integral epoch
// milliseconds; a window's alignment to its rule's frequency is computed here, once.
/** A KQL datetime: 100-ns ticks since 1970-01-01T00:00:00Z (a double cannot hold them exactly). */
import type { Shard } from "./shard.js";

export type DateTime = bigint;

export const TICKS_PER_MS = 10_000n;
export const TICKS_PER: Record<"day" | "hour" | "minute" | "second" | "millisecond" | "microsecond", bigint> = {
  day: 86_400_000n * TICKS_PER_MS,
  hour: 3_600_000n * TICKS_PER_MS,
  minute: 60_000n * TICKS_PER_MS,
  second: 1_000n * TICKS_PER_MS,
  millisecond: TICKS_PER_MS,
  microsecond: 10n,
};

/** Sort order of two datetimes (Array.prototype.sort wants a number). */
export const compareTime = (a: DateTime, b: DateTime): number => (a < b ? -1 : a > b ? 1 : 0);

/** Floor division, for instants before the epoch as well (bigint `/` truncates toward zero). */
export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** The datetime of an integral epoch millisecond (window edges, wall-clock times). */
export function fromMs(ms: number): DateTime {
  return BigInt(ms) * TICKS_PER_MS;
}

/** The epoch millisecond a datetime falls in (floor): for Date, display and day arithmetic. */
export function toMs(t: DateTime): number {
  return Number(floorDiv(t, TICKS_PER_MS));
}

/**
 * ISO 8601 UTC text of a datetime: milliseconds as Date.toISOString() writes them, or all
 * seven fraction digits when the instant is not a whole millisecond.
 */
export function isoOf(t: DateTime): string {
  const ms = toMs(t);
  const iso = new Date(ms).toISOString();
  const sub = t - BigInt(ms) * TICKS_PER_MS;
  return sub === 0n ? iso : `${iso.slice(0, -1)}${sub.toString().padStart(4, "0")}Z`;
}

/** Fixed-width ISO text with seven fraction digits: sorts as the instants do (storage keys, filters). */
export function sortableIso(t: DateTime): string {
  const ms = toMs(t);
  const sub = t - BigInt(ms) * TICKS_PER_MS;
  return `${new Date(ms).toISOString().slice(0, -1)}${sub.toString().padStart(4, "0")}Z`;
}


// ISO 8601 and the "sortable" forms: date, optional time (T or space, seconds and fraction
// optional), optional zone (Z, ±hh[:mm], GMT, UTC). No zone means UTC.
const ISO_DATETIME =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|GMT|UTC|[+-]\d{2}(?::?\d{2})?)?$/i;
// RFC 822 / RFC 850: [weekday,] day Mon yy[yy] hh:mm[:ss] [zone], with spaces or dashes.
const RFC_DATETIME =
  /^(?:[a-z]{3,9},\s*)?(\d{1,2})([ -])([a-z]{3})\2(\d{2}|\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s+(Z|GMT|UTC|UT|[+-]\d{4}))?$/i;
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** Epoch ms of a UTC calendar time, or null when a field is out of range (Feb 30, 25:00…). */
function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number | null {
  if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // not Date.UTC, which maps years 0-99 to 1900-1999
  if (d.getUTCMonth() !== month - 1) return null; // the day overflowed the month
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

/** Minutes east of UTC for a zone suffix, or 0 for Z/GMT/UTC/none. */
function zoneOffsetMinutes(zone: string | undefined): number {
  if (zone === undefined || !/^[+-]/.test(zone)) return 0;
  const digits = zone.slice(1).replace(":", "");
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0");
  return zone.startsWith("-") ? -minutes : minutes;
}

function parseDatetimeText(text: string): DateTime | null {
  const s = text.trim();
  const iso = ISO_DATETIME.exec(s);
  if (iso) {
    const local = utcMs(Number(iso[1]), Number(iso[2]), Number(iso[3]), Number(iso[4] ?? 0), Number(iso[5] ?? 0), Number(iso[6] ?? 0));
    if (local === null) return null;
    // Seven fraction digits are KQL's 100-ns ticks; digits past them are truncated.
    const fraction = iso[7] === undefined ? 0n : BigInt(iso[7].slice(0, 7).padEnd(7, "0"));
    return fromMs(local - zoneOffsetMinutes(iso[8]) * 60_000) + fraction;
  }
  const rfc = RFC_DATETIME.exec(s);
  if (rfc) {
    const month = MONTHS.indexOf((rfc[3] ?? "").toLowerCase()) + 1;
    if (month === 0) return null;
    const yy = Number(rfc[4]);
    // Two-digit years as .NET reads them (TwoDigitYearMax 2049): 00-49 -> 20xx, 50-99 -> 19xx.
    const year = (rfc[4] ?? "").length === 4 ? yy : yy < 50 ? 2000 + yy : 1900 + yy;
    const local = utcMs(year, month, Number(rfc[1]), Number(rfc[5]), Number(rfc[6]), Number(rfc[7] ?? 0));
    return local === null ? null : fromMs(local - zoneOffsetMinutes(rfc[8]) * 60_000);
  }
  return null;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil), as Date counts them. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
}
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);

/** The digits of s[from, to) as a number, or -1 when one is not an ASCII digit. */
function digits(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * What Log Analytics itself writes, "yyyy-MM-ddTHH:mm:ss[.f{1,7}]Z" (tostring() of a datetime
 * has seven digits, exports three), read field by field without a regex or a Date; null
 * when the text is not exactly that form (the general parser then decides). Same instants
 * as parseDatetimeText: checked field ranges, a day that exists in its month.
 */
function parseUtcIso(s: string): DateTime | null {
  const n = s.length;
  if (n < 20 || n > 28 || s.charCodeAt(n - 1) !== 90 /* Z */) return null;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return null;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 7);
  const day = digits(s, 8, 10);
  const hour = digits(s, 11, 13);
  const minute = digits(s, 14, 16);
  const second = digits(s, 17, 19);
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return null;
  if (day > (month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!)) return null;
  let fraction = 0;
  if (n > 20) {
    // ".f" to ".fffffff": seven digits are ticks.
    if (n === 21 || s.charCodeAt(19) !== 46) return null;
    fraction = digits(s, 20, n - 1);
    if (fraction < 0) return null;
    for (let k = n - 21; k < 7; k++) fraction *= 10;
  } else if (s.charCodeAt(19) !== 90) return null;
  const ms = ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + Math.floor(fraction / 10_000);
  const sub = fraction % 10_000;
  return sub === 0 ? fromMs(ms) : fromMs(ms) + BigInt(sub);
}

/**
 * KQL `todatetime()`, to 100-ns ticks: ISO 8601 text (up to 7 fraction digits kept, e.g.
 * "2021-08-02T13:11:39.7724491Z"; more are truncated; no zone means UTC; ±hh:mm offsets applied)
 * and the RFC 822 / RFC 850 forms. A number is taken as a datetime already (epoch ms, a fraction
 * kept to the tick), a Date as its time, a bigint as ticks. Anything else, or text that does
 * not parse, is null.
 * https://learn.microsoft.com/kusto/query/todatetime-function (formats: .../scalar-data-types/datetime)
 */
export function toDateTime(value: unknown): DateTime | null {
  if (typeof value === "string") {
    return parseUtcIso(value) ?? parseDatetimeText(value);
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return null;
    const whole = Math.floor(value);
    return fromMs(whole) + BigInt(Math.round((value - whole) * 10_000));
  }
  if (typeof value === "bigint") return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : fromMs(value.getTime());
  return null;
}

// ---------------------------------------------------------------------------------------
// Ranges and windows (integral epoch milliseconds)

/** A half-open interval of integral epoch milliseconds, [from, to). */
export interface TimeRange {
  from: number;
  to: number;
}

/**
 * The tick count of an integral epoch millisecond, as a number: exact (ms × 10,000 needs at
 * most 53 bits before the year 2400), compared with a DateTime as it is (bigint/number
 * comparison is exact), and ±Infinity stays unbounded. Window edges are whole milliseconds,
 * so an event's 100-ns time is compared with them exactly.
 */
export const ticksAt = (ms: number): number => ms * 10_000;

/** Whether an exact event time lies in a millisecond range [from, to). */
export const inRange = (t: DateTime, range: TimeRange): boolean => t >= ticksAt(range.from) && t < ticksAt(range.to);

/** How late (arrival after TimeGenerated) a row may be and still be looked for, unless configured. */
export const DEFAULT_MAX_LATENESS_MS = 7 * 86_400_000;

/**
 * One scheduled run's slice of the data: the rows that ARRIVED (ingestion time) in
 * [start, end). `end` is the run's "now" for the seed's ago() expressions.
 */
export interface Window {
  start: number;
  end: number;
  /**
   * Rows whose event is older than this before `start` are not looked for (TOKENWATCH_MAX_LATENESS_HOURS,
   * default 7 days): it keeps each query on the time index. Replay applies the same bound.
   */
  maxLatenessMs?: number;
  /** A sharded run's slice of the accounts (per-account rules only); absent = every account. */
  shard?: Shard;
  /** Read and evaluated in this many parts, one after another (Rule.partsBy); absent = one. */
  parts?: number;
}

/** The window edge at or before `t` for windows of `frequency` ms: every alignment goes through these two. */
export const alignDown = (t: number, frequency: number): number => Math.floor(t / frequency) * frequency;
/** The window edge at or after `t`. */
export const alignUp = (t: number, frequency: number): number => Math.ceil(t / frequency) * frequency;

/** Windows of one frequency after `checkpoint`, aligned to the frequency, ending by `until`. */
export function planWindows(frequency: number, checkpoint: number, until: number, maxWindows = Infinity): Window[] {
  const windows: Window[] = [];
  for (let end = alignDown(checkpoint, frequency) + frequency; end <= until && windows.length < maxWindows; end += frequency) {
    windows.push({ start: Math.max(end - frequency, checkpoint), end });
  }
  return windows;
}
