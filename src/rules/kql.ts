// The KQL operators and functions the four Sentinel rules use, as small pure functions with
// the semantics the Kusto documentation gives them. Values follow the rules' data model:
// a KQL `string` is a JS string (never null; a missing value is ""), a `datetime` is a
// bigint of 100-ns ticks since the Unix epoch (KQL's own resolution, so every comparison is
// exact), a `dynamic` is parsed JSON (undefined or null is KQL's null).
//
// Decisions where the docs leave room, so that every rule reads the same way:
// - Terms (`has`, `has_any`) are maximal runs of ASCII letters and digits. `_` and every
//   non-ASCII character separate terms. Case folding is ASCII-only, as for all of KQL's
//   case-insensitive string operators ("currently supported only for ASCII-text").
// - An empty `has` needle matches nothing (there is no term in it to match).
// - `parse_json` of text that is not JSON returns the text itself; of "" it returns null.
// - `datetime_diff('week', …)` counts weeks that start on Sunday, as startofweek() does.

import xxhash from "xxhash-wasm";

/** The periods datetime_diff() accepts (lower case here; KQL is case-insensitive about them). */
export type DatetimePeriod =
  | "year"
  | "quarter"
  | "month"
  | "week"
  | "day"
  | "hour"
  | "minute"
  | "second"
  | "millisecond"
  | "microsecond"
  | "nanosecond";

// ---------------------------------------------------------------------------------------
// Strings

/** An ASCII letter or digit: the characters a KQL term is made of. */
function isTermChar(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 97 && code <= 122) || (code >= 65 && code <= 90);
}

const NON_ASCII = /[^\x00-\x7f]/;
const ASCII_UPPER_RUNS = /[A-Z]+/g;
const lowerRun = (run: string): string => run.toLowerCase();

/**
 * Lower-cases A-Z only. Keeps the length and every non-ASCII character as it is, so that,
 * e.g., the Kelvin sign never turns into an ASCII "k" (String.prototype.toLowerCase would).
 */
function asciiLower(s: string): string {
  return NON_ASCII.test(s) ? s.replace(ASCII_UPPER_RUNS, lowerRun) : s.toLowerCase();
}

/** `has` on an already lower-cased haystack and needle. */
function hasLowered(haystack: string, needle: string): boolean {
  const n = needle.length;
  if (n === 0) return false;
  // An edge of the needle that is a term character must sit on a term boundary of the
  // haystack; an edge that is punctuation or space matches literally, wherever it is.
  const boundedStart = isTermChar(needle.charCodeAt(0));
  const boundedEnd = isTermChar(needle.charCodeAt(n - 1));
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + 1)) {
    if (boundedStart && i > 0 && isTermChar(haystack.charCodeAt(i - 1))) continue;
    const end = i + n;
    if (boundedEnd && end < haystack.length && isTermChar(haystack.charCodeAt(end))) continue;
    return true;
  }
  return false;
}

/**
 * KQL `has`: the needle occurs as whole term(s) of the haystack, case-insensitively. A needle
 * of several terms ("Microsoft Intune", "user@contoso.com") matches as a phrase, its spaces and
 * punctuation literally. `!has` is `!has(...)`. On a dynamic value KQL matches its JSON text:
 * pass `toString(value)`.
 * https://learn.microsoft.com/kusto/query/has-operator (terms: .../datatypes-string-operators#what-is-a-term)
 */
export function has(haystack: string, needle: string): boolean {
  if (needle.length === 0 || needle.length > haystack.length) return false;
  return hasLowered(asciiLower(haystack), asciiLower(needle));
}

/**
 * KQL `has_any`: `has` for at least one of the needles (none: false).
 * https://learn.microsoft.com/kusto/query/has-any-operator
 */
export function hasAny(haystack: string, needles: readonly string[]): boolean {
  if (needles.length === 0) return false;
  const lowered = asciiLower(haystack);
  for (const needle of needles) {
    if (needle.length <= lowered.length && hasLowered(lowered, asciiLower(needle))) return true;
  }
  return false;
}

/**
 * KQL `=~`: whole-value equality, ignoring ASCII case.
 * https://learn.microsoft.com/kusto/query/equals-operator
 */
export function equalsCi(a: string, b: string): boolean {
  return a.length === b.length && (a === b || asciiLower(a) === asciiLower(b));
}

/**
 * KQL `!in~`: not `=~` to any element of the list (an empty list: true).
 * https://learn.microsoft.com/kusto/query/not-in-operator
 */
export function notInCi(value: string, list: readonly string[]): boolean {
  const lowered = asciiLower(value);
  for (const item of list) {
    if (item.length === lowered.length && asciiLower(item) === lowered) return false;
  }
  return true;
}

/**
 * KQL `between (low .. high)`: low <= value <= high, both ends included (NaN: false).
 * https://learn.microsoft.com/kusto/query/between-operator
 */
export function between<T extends number | bigint>(value: T, low: T, high: T): boolean {
  return value >= low && value <= high;
}

// ---------------------------------------------------------------------------------------
// Datetimes

/** A KQL datetime: 100-ns ticks since 1970-01-01T00:00:00Z (a double cannot hold them exactly). */
export type DateTime = bigint;

export const TICKS_PER_MS = 10_000n;
const TICKS_PER: Record<"day" | "hour" | "minute" | "second" | "millisecond" | "microsecond", bigint> = {
  day: 86_400_000n * TICKS_PER_MS,
  hour: 3_600_000n * TICKS_PER_MS,
  minute: 60_000n * TICKS_PER_MS,
  second: 1_000n * TICKS_PER_MS,
  millisecond: TICKS_PER_MS,
  microsecond: 10n,
};
// 1970-01-04 (epoch day 3) was a Sunday.
const FIRST_SUNDAY_EPOCH_DAY = 3;

/** Sort order of two datetimes (Array.prototype.sort wants a number). */
export const compareTime = (a: DateTime, b: DateTime): number => (a < b ? -1 : a > b ? 1 : 0);

/** Floor division, for instants before the epoch as well (bigint `/` truncates toward zero). */
function floorDiv(a: bigint, b: bigint): bigint {
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

/**
 * KQL `datetime_diff(period, a, b)`: a − b counted in calendar periods, i.e. the number of period
 * boundaries between the two instants after truncating both to the period (UTC), so
 * ('minute', 10:00:59, 10:01:00) is -1 and ('year', 2017-01-01, 2000-12-31) is 17. Weeks start
 * on Sunday (startofweek()). Nanoseconds are ticks × 100. A null datetime gives null.
 * https://learn.microsoft.com/kusto/query/datetime-diff-function
 */
export function datetimeDiff(period: DatetimePeriod, a: DateTime | null, b: DateTime | null): number | null {
  if (a === null || b === null) return null;
  switch (period) {
    case "year":
    case "quarter":
    case "month": {
      const da = new Date(toMs(a));
      const db = new Date(toMs(b));
      const years = da.getUTCFullYear() - db.getUTCFullYear();
      if (period === "year") return years;
      if (period === "quarter") return years * 4 + (Math.floor(da.getUTCMonth() / 3) - Math.floor(db.getUTCMonth() / 3));
      return years * 12 + (da.getUTCMonth() - db.getUTCMonth());
    }
    case "week": {
      const week = (t: DateTime) => floorDiv(floorDiv(t, TICKS_PER.day) - BigInt(FIRST_SUNDAY_EPOCH_DAY), 7n);
      return Number(week(a) - week(b));
    }
    case "day":
    case "hour":
    case "minute":
    case "second":
    case "millisecond":
    case "microsecond": {
      const unit = TICKS_PER[period];
      return Number(floorDiv(a, unit) - floorDiv(b, unit));
    }
    case "nanosecond":
      return Number((a - b) * 100n);
    default:
      throw new Error(`datetime_diff: unknown period ${JSON.stringify(period as unknown)}`);
  }
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

const UTC_ISO = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,3})?Z$/;

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
    // Fast path for what Log Analytics itself returns when the time is a whole millisecond
    // (UTC, "Z", at most 3 fraction digits): Date.parse reads exactly that form identically.
    // V8 rolls an impossible day over (Feb 30 -> Mar 2), so the day must survive the parse.
    if (value.length <= 24 && UTC_ISO.test(value)) {
      const ms = Date.parse(value);
      return new Date(ms).getUTCDate() === Number(value.slice(8, 10)) ? fromMs(ms) : null;
    }
    return parseDatetimeText(value);
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
// Dynamic values

/**
 * KQL `parse_json()` / `todynamic()`: text holding JSON is parsed; text that is not JSON stays
 * the same text (a dynamic string); "" is null; a value that is already dynamic is returned as
 * is. (JSON.parse reads integers past 2^53 approximately, where KQL keeps a long.)
 * https://learn.microsoft.com/kusto/query/parse-json-function
 */
export function parseJson(value: unknown): unknown {
  if (typeof value !== "string") return value;
  if (value === "") return null; // isnull(parse_json("")) is true in the isnull() docs
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

/**
 * KQL `tostring()`: null is "", a string is itself, a bool is "true"/"false", a number its
 * shortest round-trip text, an array or property bag its compact JSON.
 * https://learn.microsoft.com/kusto/query/tostring-function
 */
export function toString(value: unknown): string {
  if (value === null || value === undefined) return "";
  switch (typeof value) {
    case "string":
      return value;
    case "boolean":
    case "number":
    case "bigint":
      return String(value);
    case "object":
      return JSON.stringify(value) ?? "";
    default:
      return String(value);
  }
}

function isPropertyBag(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * KQL dynamic accessors: `.Name` / `["Name"]` on a property bag, `[i]` on an array, where a
 * negative index counts from the end (`Actor[-1]` is the last). A step that does not apply
 * (missing key, index out of range, key on an array, index on a bag, anything on a scalar,
 * including JSON *text*, which KQL does not parse here) gives undefined: KQL's null.
 * https://learn.microsoft.com/kusto/query/scalar-data-types/dynamic
 */
export function dynamicGet(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const step of path) {
    if (typeof step === "number") {
      if (!Array.isArray(current) || !Number.isInteger(step)) return undefined;
      const index = step < 0 ? current.length + step : step;
      if (index < 0 || index >= current.length) return undefined;
      current = current[index] as unknown;
    } else {
      if (!isPropertyBag(current) || !Object.hasOwn(current, step)) return undefined;
      current = current[step];
    }
  }
  return current;
}

/**
 * KQL `isempty()`: null or "" (an empty array or bag is not empty).
 * https://learn.microsoft.com/kusto/query/isempty-function
 */
export function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || value === "";
}

/**
 * KQL `isnotempty()`: not isempty().
 * https://learn.microsoft.com/kusto/query/isnotempty-function
 */
export function isNotEmpty(value: unknown): boolean {
  return !isEmpty(value);
}

/**
 * KQL `isnull()` on a dynamic value: only null is null; "", [] and {} are not.
 * https://learn.microsoft.com/kusto/query/isnull-function
 */
export function isNull(value: unknown): boolean {
  return value === null || value === undefined;
}

// ---------------------------------------------------------------------------------------
// Hashing

const { h64 } = await xxhash();

/**
 * hash_xxhash64(text) for a string: xxHash64 with seed 0 of the text's UTF-8 bytes, as KQL's
 * signed `long` (the documentation's own example, hash_xxhash64("World") =
 * 1846988464401551951, is checked in test/rules/kql.test.ts).
 */
export function hashXxhash64(text: string): bigint {
  return BigInt.asIntN(64, h64(text));
}
