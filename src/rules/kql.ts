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

import { floorDiv, TICKS_PER, toMs, type DateTime } from "../model/time.js";

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
 * `has_any` against needles fixed when a rule loads (`hasTerms(["Multifactor"])` is `has`):
 * the same answer as hasAny(haystack, needles), without lower-casing the haystack or the
 * needles on every row. ASCII needles compile to one case-insensitive regex with the term
 * boundaries as lookarounds (non-unicode /i folds ASCII letters only, as KQL does); a needle
 * with other characters is matched as hasAny matches it.
 */
export function hasTerms(needles: readonly string[]): (haystack: string) => boolean {
  const ascii = needles.filter((n) => n.length > 0 && !NON_ASCII.test(n));
  const other = needles.filter((n) => NON_ASCII.test(n)).map(asciiLower);
  const term = (n: string, at: number) => isTermChar(n.charCodeAt(at));
  const alternatives = ascii.map(
    (n) => `${term(n, 0) ? "(?<![0-9A-Za-z])" : ""}${n.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}${term(n, n.length - 1) ? "(?![0-9A-Za-z])" : ""}`,
  );
  const pattern = alternatives.length > 0 ? new RegExp(alternatives.join("|"), "i") : null;
  return (haystack) => {
    if (pattern?.test(haystack)) return true;
    if (other.length === 0) return false;
    const lowered = asciiLower(haystack);
    return other.some((needle) => needle.length <= lowered.length && hasLowered(lowered, needle));
  };
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
// Datetimes (the DateTime type and its parsing live in src/model/time.ts)

// 1970-01-04 (epoch day 3) was a Sunday.
const FIRST_SUNDAY_EPOCH_DAY = 3;

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
